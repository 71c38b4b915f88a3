"""A generic JSON webhook, signed so the receiver can tell it came from us, unaltered.

Headers on every request:

* ``X-Deliverwatch-Timestamp``: Unix seconds when this attempt was sent;
* ``X-Deliverwatch-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the channel's
  ``secret``, of ``<timestamp>.<raw body>`` (only with a secret);
* ``X-Deliverwatch-Delivery``: the notification id, the same on every retry, so a receiver
  can drop a message it already processed (delivery is at least once).

Signing the timestamp with the body lets a receiver refuse replays of old requests: check the
signature, then that the timestamp is within a few minutes of its clock
(:func:`verify_signature` is the reference; docs/notifications.md has a standalone recipe).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from deliverwatch.notify import render
from deliverwatch.notify.channels.context import ChannelContext
from deliverwatch.notify.config import WebhookChannelConfig
from deliverwatch.notify.model import Notification

PAYLOAD_VERSION = 1
SIGNATURE_HEADER = "X-Deliverwatch-Signature"
TIMESTAMP_HEADER = "X-Deliverwatch-Timestamp"
DELIVERY_HEADER = "X-Deliverwatch-Delivery"
DEFAULT_TOLERANCE = 300


def render_webhook(n: Notification) -> dict[str, Any]:
    """The JSON document posted: the notification itself plus ready-made text."""
    return {
        "version": PAYLOAD_VERSION,
        "delivery_id": n.id,
        "status": render.status(n).lower().replace(" ", "_"),
        "headline": render.headline(n),
        "text": render.plain_text(n),
        "notification": n.to_dict(),
    }


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``b"<timestamp>." + body`` keyed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str | bytes,
    timestamp: str,
    signature: str,
    body: bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature (constant-time)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature.strip())


def signed_headers(
    secret: str | None, timestamp: int, body: bytes, delivery_id: str
) -> dict[str, str]:
    headers = {TIMESTAMP_HEADER: str(timestamp), DELIVERY_HEADER: delivery_id}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return headers


class WebhookChannel:
    def __init__(self, config: WebhookChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config
        self._context = context

    async def send(self, notification: Notification) -> None:
        body = json.dumps(render_webhook(notification), separators=(",", ":")).encode()
        now = self._context.clock.now()
        secret = self._config.secret.get_secret_value() if self._config.secret else None
        headers = {k: v.get_secret_value() for k, v in self._config.headers.items()}
        headers.update(signed_headers(secret, int(now.timestamp()), body, notification.id))
        await self._context.http.post(
            self._config.url.get_secret_value(),
            body,
            headers=headers,
            timeout=self._config.timeout,
            max_bytes=self._context.max_response_bytes,
            now=now,
        )
