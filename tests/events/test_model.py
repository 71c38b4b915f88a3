"""Event: a plain slots dataclass, immutable by convention, compared and hashed by value."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.events.model import (
    Event,
    EventType,
    _has_float,
    canonical_json,
    canonical_json_bytes,
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


def test_events_copy_and_pickle_whole() -> None:
    """Compiled (setup.py) as well as plain: a copy keeps the fields compare leaves out."""
    event = sample(raw_json=b'{"n":1}')
    for again in (copy.copy(event), copy.deepcopy(event), pickle.loads(pickle.dumps(event))):
        assert again == event
        assert (again.raw, again.raw_json, again.raw_at) == (event.raw, event.raw_json, None)


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


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=6))
def test_canonical_json_is_the_stdlib_text_to_the_byte(payload: dict[str, Any]) -> None:
    """Whichever encoder makes it (orjson when it can, json otherwise), the text is json's:
    ids already stored were hashed from it. Floats, non-ASCII and DEL, integers past 64
    bits and nesting all reach both paths."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    assert canonical_json(payload) == text
    assert canonical_json_bytes(payload) == text.encode()  # what is hashed and stored
    assert hashed_event_id("x", text) == hashed_event_id("x", text.encode())


def test_canonical_json_of_the_usual_record_takes_the_fast_path() -> None:
    record = {"type": "sent", "recipient": "a@b.example", "tags": ["x", "y"], "n": 3}
    assert canonical_json(record) == orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()
    for slow in ({"t": 1.5}, {"t": "é"}, {"t": "\x7f"}, {"t": 2**64}, {"t": [{"u": 1e16}]}):
        assert canonical_json(slow) == json.dumps(slow, sort_keys=True, separators=(",", ":"))


def test_a_float_is_found_at_any_depth_without_recursion() -> None:
    deep: Any = [1.5]
    for _ in range(100_000):  # far past the interpreter's recursion limit
        deep = {"k": [deep, "x", None, True]}
    assert _has_float({"a": "b", "deep": deep})
    assert not _has_float({"a": "b", "tags": ["x", 1, None, False], "o": {"k": ["y"]}})
    assert _has_float({"tags": ["x", 2.0]})
