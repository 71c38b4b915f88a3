"""The normalized sending event every ESP's payload becomes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"


class BounceClass(StrEnum):
    """Why a bounce happened, which decides what to do about the recipient.

    ``hard``: the address does not exist (suppress); ``soft``: a temporary failure;
    ``block``: a policy, spam or reputation rejection (fix the sending, not the list);
    ``mailbox_full``: over quota; ``undetermined``: not enough information.
    """

    HARD = "hard"
    SOFT = "soft"
    BLOCK = "block"
    MAILBOX_FULL = "mailbox_full"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    provider: str
    type: EventType
    timestamp: datetime  # timezone-aware, UTC
    recipient: str
    recipient_domain: str
    mailbox_provider: str
    sending_domain: str | None = None
    message_id: str | None = None
    bounce_class: BounceClass | None = None
    smtp_status: str | None = None
    diagnostic: str | None = None
    tags: tuple[str, ...] = ()
    campaign: str | None = None
    ip: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "provider": self.provider,
            "type": self.type.value,
            "timestamp": self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "recipient": self.recipient,
            "recipient_domain": self.recipient_domain,
            "mailbox_provider": self.mailbox_provider,
            "sending_domain": self.sending_domain,
            "message_id": self.message_id,
            "bounce_class": self.bounce_class.value if self.bounce_class else None,
            "smtp_status": self.smtp_status,
            "diagnostic": self.diagnostic,
            "tags": list(self.tags),
            "campaign": self.campaign,
            "ip": self.ip,
        }


def stable_event_id(provider: str, payload: dict[str, Any]) -> str:
    """An id for ESPs that give none: the same payload retried gets the same id."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f"{provider}:sha256:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"
