"""Rows made without a database: the raw block of a batch holds each payload, in order."""

from __future__ import annotations

import dataclasses
import json
import marshal
from datetime import UTC, datetime, timedelta

import orjson

from deliverwatch.events.model import Event, EventType
from deliverwatch.events.rows import RAW_CHUNK, Batch, RowMaker, minute_of

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
