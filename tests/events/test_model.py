"""Event: a plain slots dataclass, immutable by convention, compared and hashed by value."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from deliverwatch.events.model import (
    Event,
    EventType,
    canonical_json,
    hashed_event_id,
    stable_event_id,
)


def sample(**changes: Any) -> Event:
    event = Event(
        event_id="e1",
        provider="sendgrid",
        type=EventType.DELIVERED,
        timestamp=datetime(2025, 3, 10, 12, 0, tzinfo=UTC),
        recipient="ana@gmail.com",
        recipient_domain="gmail.com",
        mailbox_provider="gmail",
        tags=("a",),
        raw={"n": 1},
    )
    return dataclasses.replace(event, **changes)


def test_events_compare_and_hash_by_value_but_not_by_payload() -> None:
    one, same = sample(), sample(raw={"n": 2}, raw_json='{"n": 2}')
    assert one == same and hash(one) == hash(same)
    assert len({one, same, sample(event_id="e2")}) == 2
    assert sample(tags=("b",)) != one


def test_the_stable_id_hashes_the_canonical_json() -> None:
    payload = {"b": [1, {"z": None}], "a": "é"}
    canonical = canonical_json(payload)
    assert canonical == json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    assert stable_event_id("generic", payload) == hashed_event_id("generic", canonical)
    # Pinned: ids of stored events must never change, or a re-import would count twice.
    assert stable_event_id("generic", {"type": "sent"}) == (
        "generic:sha256:2f4b7ea1ef97a87e0b7e9141dc763788"
    )
