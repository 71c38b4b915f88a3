"""Rows made without a database: the raw block of a batch holds each payload, in order."""

from __future__ import annotations

import dataclasses
import json
import marshal
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.events.model import Event, EventType
from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import SourceSettings, WebhookRequest
from deliverwatch.events.rows import RAW_CHUNK, Batch, RowMaker, minute_of, sqlite_time

T0 = datetime(2025, 3, 10, tzinfo=UTC)


def _event(n: int) -> Event:
    raw = {"n": n, "email": f"u{n}@gmail.com", "tags": ["a", "é"], "score": n / 7}
    event = Event(
        event_id=f"e{n}",
        provider="sendgrid",
        type=EventType.DELIVERED,
        timestamp=T0 + timedelta(seconds=n),
        recipient=f"u{n}@gmail.com",
        recipient_domain="gmail.com",
        mailbox_provider="gmail",
        raw=raw,
    )
    if n % 3 == 0:  # a producer's own text goes in as it is, spacing and all
        return dataclasses.replace(event, raw_json=json.dumps(raw, indent=1))
    if n % 5 == 0:  # no payload: no item, no index
        return dataclasses.replace(event, raw={})
    return event


def test_a_batch_block_holds_every_payload_in_order_across_chunks() -> None:
    events = [_event(n) for n in range(2 * RAW_CHUNK + 37)]
    batch = RowMaker(None).prepare(events)
    assert batch.raw_block is not None and not batch.raw_compressed
    items = orjson.loads(batch.raw_block)
    with_payload = [e for e in events if e.raw]
    assert batch.raw_items == len(items) == len(with_payload)
    by_id = {row[1]: row[-1] for row in batch.rows}
    indexes = [by_id[event.event_id] for event in events]
    assert [i for i in indexes if i is not None] == list(range(len(items)))
    for event, index in zip(events, indexes, strict=True):
        assert (index is None) == (not event.raw)
        if index is not None:
            assert items[index] == event.raw
    # The producer's text is kept byte for byte inside the array.
    assert json.dumps(events[3].raw, indent=1).encode() in batch.raw_block


def test_rows_come_in_key_order_and_the_first_of_a_key_first() -> None:
    """Rows are sorted by event id for the unique index (provider, event_id); of two events
    with one key the first given stays first (the one the store keeps)."""
    events = [_event(n) for n in (5, 300, 12, 7, 4000, 12)]
    events[-1] = dataclasses.replace(events[-1], timestamp=T0 + timedelta(hours=2))
    batch = RowMaker(None).prepare(events)
    keys = [(row[0], row[1]) for row in batch.rows]
    assert keys == sorted(keys)
    twelves = [row[3] for row in batch.rows if row[1] == "e12"]
    assert twelves == sorted(twelves)  # the earlier event, given first, comes first


def test_the_minute_of_a_row_is_read_back_from_its_time_as_either_driver_takes_it() -> None:
    """The store counts a batch's new rows into the rollups from their times when some of the
    batch was stored before: the minute read back is the one the rollups were counted in."""
    moments = [
        T0 + timedelta(seconds=s, microseconds=m) for s, m in ((0, 0), (59, 999_999), (3661, 5))
    ]
    for maker in (RowMaker(None), RowMaker(None, time=lambda moment: moment)):  # SQLite, PostgreSQL
        events = [dataclasses.replace(_event(n), timestamp=at) for n, at in enumerate(moments)]
        batch = maker.prepare(events)
        minutes = sorted(minute_of(row[3]) for row in batch.rows)
        assert minutes == sorted(int(at.timestamp()) // 60 * 60 for at in moments)
        assert set(minutes) == {m for counts in batch.counts.values() for m in counts}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
        )
        | st.sampled_from(  # where a float's step passes a microsecond
            [datetime(y, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) for y in (1, 1424, 2514, 9999)]
        ),
        min_size=1,
        max_size=30,
    )
)
def test_a_rows_time_is_sqlalchemys_text_and_its_minute(moments: list[datetime]) -> None:
    """The row time made from cached minutes and seconds, whatever the second, fraction,
    zone, year or side of the epoch; repeats of a second reuse the first's text."""
    sqlite, postgresql = RowMaker(None), RowMaker(None, time=lambda moment: moment)
    for _ in range(2):  # the second time through, from the caches
        events = [
            dataclasses.replace(_event(n), event_id=f"t{n}", timestamp=at)
            for n, at in enumerate(moments)
        ]
        texts = {row[1]: row[3] for row in sqlite.prepare(events).rows}
        times = {row[1]: row[3] for row in postgresql.prepare(events).rows}
        for n, at in enumerate(moments):
            assert texts[f"t{n}"] == sqlite_time(at.astimezone(UTC))
            exact = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
            assert minute_of(texts[f"t{n}"]) == minute_of(times[f"t{n}"]) == exact // 60 * 60


def test_a_batch_crosses_to_another_process_unchanged() -> None:
    """A reader process sends its batches as ``marshal`` data (``Batch.to_wire``): rows,
    counts, first opens, suppressions (with their times) and the raw block come back equal."""
    kinds = [EventType.OPENED, EventType.COMPLAINED, EventType.UNSUBSCRIBED, EventType.DELIVERED]
    events = [
        dataclasses.replace(
            _event(n), type=kinds[n % 4], timestamp=T0 + timedelta(seconds=n, microseconds=n)
        )
        for n in range(40)
    ]
    batch = RowMaker(None, compress=True).prepare(events)
    assert batch.engagements and batch.suppressing and batch.raw_compressed
    back = Batch.from_wire(marshal.loads(marshal.dumps(batch.to_wire())))
    assert back == batch
    assert {at for _, _, _, at in back.suppressing.values()} <= {e.timestamp for e in events}


def _sendgrid_body(*items: dict[str, Any]) -> list[Event]:
    body = json.dumps(list(items)).encode()
    source = SourceSettings(name="sg", provider="sendgrid")
    return get_provider("sendgrid").parse(WebhookRequest(body, {}, "", ""), source).events


def _item(n: int, kind: str = "delivered", at: int = 1741600000) -> dict[str, Any]:
    return {"event": kind, "email": f"u{n}@gmail.com", "timestamp": at, "sg_event_id": f"s{n}"}


def test_a_body_of_tracked_events_goes_into_the_block_as_received() -> None:
    events = _sendgrid_body(_item(1), _item(2, "open"), _item(3, "bounce"))
    assert all(event.raw_at is not None for event in events)
    batch = RowMaker(None).prepare(events)
    assert batch.raw_block is not None and batch.raw_items == 3
    assert b'"sg_event_id": "s2"' in batch.raw_block  # json.dumps's spacing: the body's own


def test_a_body_with_an_untracked_kind_is_serialized_not_stored_whole() -> None:
    """The array would put the untracked item's payload in the block, which no row points at
    (and a line of many such items would make the block any size)."""
    events = _sendgrid_body(_item(1), _item(2, "group_resubscribe"), _item(3))
    assert len(events) == 2 and all(event.raw_at is None for event in events)
    batch = RowMaker(None).prepare(events)
    assert batch.raw_block is not None
    assert orjson.loads(batch.raw_block) == [event.raw for event in events]


def test_a_payload_older_than_the_horizon_is_not_stored_with_its_array() -> None:
    horizon = 1741600000
    events = _sendgrid_body(_item(1, at=horizon - 60), _item(2, at=horizon), _item(3, at=horizon))
    assert all(event.raw_at is not None for event in events)
    batch = RowMaker(horizon).prepare(events)
    assert batch.expired == 1 and len(batch.rows) == 2
    assert batch.raw_block is not None
    kept = orjson.loads(batch.raw_block)
    assert sorted(item["sg_event_id"] for item in kept) == ["s2", "s3"]
    assert {row[1]: kept[row[-1]]["sg_event_id"] for row in batch.rows} == {"s2": "s2", "s3": "s3"}
