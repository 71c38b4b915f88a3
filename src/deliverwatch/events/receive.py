"""One webhook request from arrival to "durably stored", independent of the HTTP framework.

The order is the contract: authenticate (401/403, nothing stored), parse the whole body
(400 with the reason, nothing stored), store every event in one transaction, then answer
2xx. One-time tokens (Mailgun tokens, Svix ids, signatures) are recorded in the same
transaction as the events: a request that failed to store can be retried by the ESP with the
same token and is not mistaken for a replay. Whether a token was seen before is decided in
that transaction too, by the group-commit writer (one lookup per group, under the write lock,
rather than a database query per request on the event loop); within this process a token of a
request still in flight is refused at once. So an identical replay of a stored request is
refused (403) for the providers with one-time tokens, and answered 200 with every event a
duplicate for those with credentials only.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import (
    Control,
    SourceSettings,
    VerifyContext,
    WebhookError,
    WebhookRequest,
)
from deliverwatch.store.tokens import tokens_seen
from deliverwatch.store.writer import GroupCommitWriter, Replayed

#: SNS subscription URLs are confirmed only on AWS's own SNS endpoints.
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]


@dataclass
class Receiver:
    """Takes webhook requests for the configured sources and stores their events."""

    engine: Engine
    writer: GroupCommitWriter
    sources: dict[str, SourceSettings]
    fetch: Callable[[str], Awaitable[bytes]] | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    cache: dict[str, Any] = field(default_factory=dict)
    _pending: set[str] = field(default_factory=set)

    async def receive(self, source_name: str, request: WebhookRequest) -> Outcome:
        source = self.sources.get(source_name)
        if source is None:
            return Outcome(404, {"error": f"no webhook source named {source_name!r}"})
        provider = get_provider(source.provider)
        claimed: list[tuple[str, datetime]] = []

        def remember(token: str, expires: datetime) -> bool:
            """Claim ``token``; the writer refuses it if the store has it already."""
            if token in self._pending or any(t == token for t, _ in claimed):
                return False
            claimed.append((token, expires))
            return True

        ctx = VerifyContext(
            now=self.now, remember_token=remember, fetch=self.fetch, cache=self.cache
        )
        try:
            await provider.verify(request, source, ctx)
            self._pending.update(t for t, _ in claimed)
            parsed = provider.parse(request, source)
        except WebhookError as exc:
            self._pending.difference_update(t for t, _ in claimed)
            return Outcome(exc.status, {"error": exc.reason})
        try:
            if parsed.control is not None:
                if claimed:  # control messages are rare: a lookup of their own
                    replayed = await asyncio.to_thread(self._seen, claimed)
                    if replayed:
                        return Outcome(403, {"error": "replayed request"})
                return await self._control(parsed.control)
            result = await self.writer.write(parsed.events, claimed)
        except Replayed as exc:
            return Outcome(403, {"error": str(exc)})
        finally:
            self._pending.difference_update(t for t, _ in claimed)
        return Outcome(200, {"accepted": len(parsed.events), **result.to_dict()})

    def _seen(self, claimed: list[tuple[str, datetime]]) -> bool:
        return bool(tokens_seen(self.engine, [token for token, _ in claimed]))

    async def _control(self, control: Control) -> Outcome:
        """Confirm an SNS subscription by fetching its SubscribeURL (only an SNS host)."""
        from urllib.parse import urlsplit

        parts = urlsplit(control.url)
        if parts.scheme != "https" or not SNS_HOST.match(parts.hostname or ""):
            return Outcome(400, {"error": "SubscribeURL is not an https SNS endpoint"})
        if control.kind == "unsubscribe_confirmation":
            return Outcome(200, {"accepted": 0, "control": control.kind})
        if self.fetch is None:
            return Outcome(503, {"error": "outbound HTTP is disabled; cannot confirm"})
        await self.fetch(control.url)
        return Outcome(200, {"accepted": 0, "control": control.kind, "confirmed": True})
