"""Events for store tests, and counts computed from them by hand (not through the store)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, datetime

from deliverwatch.events.model import BounceClass, Event, EventType

T0 = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC
_ids = itertools.count(1)


def event(
    type: EventType | str,
    at: datetime,
    *,
    provider: str = "sendgrid",
    domain: str | None = "shop.test",
    mailbox_provider: str = "gmail",
    bounce_class: BounceClass | str | None = None,
    message_id: str | None = None,
    recipient: str | None = None,
    event_id: str | None = None,
) -> Event:
    number = next(_ids)
    recipient = recipient or f"user{number}@{mailbox_provider}.example"
    return Event(
        event_id=event_id or f"ev-{number}",
        provider=provider,
        type=EventType(type),
        timestamp=at,
        recipient=recipient,
        recipient_domain=recipient.rsplit("@", 1)[1],
        mailbox_provider=mailbox_provider,
        sending_domain=domain,
        message_id=message_id if message_id is not None else f"msg-{number}",
        bounce_class=BounceClass(bounce_class) if bounce_class else None,
        tags=("welcome",),
        raw={"n": number},
    )


def minute(moment: datetime) -> int:
    epoch = int(moment.timestamp())
    return epoch - epoch % 60


def raw_counts(events: list[Event], since: datetime, until: datetime) -> Counter[str]:
    """Event types counted by hand over every minute bucket overlapping ``[since, until)``."""
    start = minute(since)
    end = -(-math.ceil(until.timestamp()) // 60) * 60
    return Counter(e.type.value for e in events if start <= minute(e.timestamp) < end)
