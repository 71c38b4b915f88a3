"""insert_events: idempotent storage, rollups counted once per new event, unique engagements."""

from __future__ import annotations

import dataclasses
import json
import threading
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.events.model import Event
from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import SourceSettings, WebhookRequest
from deliverwatch.events.rows import compress_block
from deliverwatch.store import begin_write, compact, insert_events, rawblocks
from deliverwatch.store.engine import sqlite_time
from deliverwatch.store.events import InsertResult
from deliverwatch.store.rawblocks import CODEC, ZLIB_CODEC, read_event, unpack
from deliverwatch.store.rollups import DAY, HOUR, MINUTE, UNIQUE_CLICK, UNIQUE_OPEN
from deliverwatch.store.schema import (
    event_raw_blocks,
    events,
    first_engagements,
    rollup_day,
    rollup_hour,
    rollup_minute,
    rollup_series,
)
from tests.store.factory import T0, event

STEPS = {MINUTE: rollup_minute, HOUR: rollup_hour, DAY: rollup_day}


def rollup_rows(conn: Connection, step: int) -> Counter[tuple[str, int, str, str, str, str]]:
    """(domain, bucket, mailbox provider, provider, type, class) → count, of one granularity."""
    table = STEPS[step]
    rows = conn.execute(
        sa.select(
            rollup_series.c.sending_domain,
            table.c.bucket,
            rollup_series.c.mailbox_provider,
            rollup_series.c.provider,
            rollup_series.c.event_type,
            rollup_series.c.bounce_class,
            table.c["count"],
        ).join_from(table, rollup_series, table.c.series_id == rollup_series.c.id)
    )
    return Counter({tuple(row[:6]): row[6] for row in rows if row[6]})


def expected_rollups(
    stored: list[Event], step: int
) -> Counter[tuple[str, int, str, str, str, str]]:
    counts: Counter[tuple[str, int, str, str, str, str]] = Counter()
    for e in stored:
        epoch = int(e.timestamp.timestamp())
        counts[
            (
                e.sending_domain or "",
                epoch - epoch % step,
                e.mailbox_provider,
                e.provider,
                e.type.value,
                e.bounce_class.value if e.bounce_class else "",
            )
        ] += 1
    return counts


def count(conn: Connection, table: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_the_same_event_twice_is_stored_once_and_counted_once(engine: Engine) -> None:
    delivered = event("delivered", T0 + timedelta(minutes=5))
    with begin_write(engine) as conn:
        assert insert_events(conn, [delivered]) == InsertResult(inserted=1)
    with begin_write(engine) as conn:
        assert insert_events(conn, [delivered]) == InsertResult(duplicates=1)
    with engine.connect() as conn:
        assert count(conn, events) == 1
        for step in STEPS:
            assert rollup_rows(conn, step) == expected_rollups([delivered], step)


def test_duplicates_within_a_call_and_across_batches(conn: Connection) -> None:
    a, b, c = (event("delivered", T0 + timedelta(seconds=i)) for i in range(3))
    result = insert_events(conn, [a, b, a, c, b, a], batch_size=2)
    assert result == InsertResult(inserted=3, duplicates=3)
    assert count(conn, events) == 3
    assert sum(rollup_rows(conn, MINUTE).values()) == 3


def test_a_rolled_back_transaction_leaves_no_trace(engine: Engine) -> None:
    sent = event("sent", T0)
    with engine.connect() as conn:
        transaction = conn.begin()
        insert_events(conn, [sent])
        transaction.rollback()
    with begin_write(engine) as conn:
        assert insert_events(conn, [sent]).inserted == 1
        assert sum(rollup_rows(conn, DAY).values()) == 1


def fixture_events() -> list[Event]:
    """Several domains, ESPs, mailbox providers, classes and minutes over two days."""
    out = []
    for i in range(60):
        at = T0 + timedelta(hours=i * 0.8, seconds=i * 7)
        out.append(event("sent", at, provider="ses" if i % 3 else "sendgrid"))
        out.append(event("delivered", at + timedelta(seconds=20), mailbox_provider="outlook"))
        if i % 4 == 0:
            cls = ["hard", "soft", "block", "mailbox_full", "undetermined"][i % 5]
            out.append(event("bounced", at + timedelta(minutes=1), bounce_class=cls))
        if i % 5 == 0:
            out.append(event("deferred", at, domain="news.test", bounce_class="soft"))
        if i % 6 == 0:
            out.append(event("complained", at + timedelta(hours=3), domain=None))
        if i % 7 == 0:
            out.append(event("dropped", at, provider="mailgun", mailbox_provider="yahoo"))
    return out


def test_rollups_equal_hand_computed_counts(conn: Connection) -> None:
    stored = fixture_events()
    assert insert_events(conn, stored, batch_size=17).inserted == len(stored)
    for step in STEPS:
        assert rollup_rows(conn, step) == expected_rollups(stored, step), step


def test_events_keep_their_fields_and_timestamps_are_utc(conn: Connection) -> None:
    paris = timezone(timedelta(hours=1))
    bounced = event(
        "bounced", datetime(2025, 3, 10, 13, 30, 15, 123456, tzinfo=paris), bounce_class="hard"
    )
    insert_events(conn, [bounced])
    row = conn.execute(sa.select(events)).mappings().one()
    occurred = row["occurred_at"]
    occurred = occurred.replace(tzinfo=UTC) if occurred.tzinfo is None else occurred
    assert occurred == datetime(2025, 3, 10, 12, 30, 15, 123456, tzinfo=UTC)
    assert row["bounce_class"] == "hard"
    assert row["tags"] == ["welcome"]
    assert row["raw"] is None, "since migration 0009 the payload is in a raw block"
    stored = read_event(conn, bounced.provider, bounced.event_id)
    assert stored is not None and stored.raw == bounced.raw
    assert row["sending_domain"] == "shop.test"
    minute_bucket = conn.execute(sa.select(rollup_minute.c.bucket)).scalar_one()
    assert minute_bucket == int(datetime(2025, 3, 10, 12, 30, tzinfo=UTC).timestamp())


def unique_counts(conn: Connection, step: int = MINUTE) -> Counter[tuple[int, str]]:
    return Counter(
        {
            (key[1], key[4]): n
            for key, n in rollup_rows(conn, step).items()
            if key[4] in (UNIQUE_OPEN, UNIQUE_CLICK)
        }
    )


def test_unique_opens_and_clicks_count_each_message_once(engine: Engine) -> None:
    t = int(T0.timestamp())
    with begin_write(engine) as conn:
        insert_events(
            conn,
            [
                event("opened", T0 + timedelta(minutes=1), message_id="m1"),
                event("opened", T0 + timedelta(minutes=2), message_id="m1"),
                event("opened", T0 + timedelta(minutes=3), message_id="m2"),
                event("clicked", T0 + timedelta(minutes=3), message_id="m1"),
            ],
        )
    with begin_write(engine) as conn:  # a later batch: m1 was opened before
        insert_events(conn, [event("opened", T0 + timedelta(minutes=9), message_id="m1")])
        assert unique_counts(conn) == {
            (t + 60, UNIQUE_OPEN): 1,
            (t + 180, UNIQUE_OPEN): 1,
            (t + 180, UNIQUE_CLICK): 1,
        }
        assert sum(n for (_, kind), n in unique_counts(conn, DAY).items()) == 3
        opens = sum(n for key, n in rollup_rows(conn, DAY).items() if key[4] == "opened")
        assert opens == 4
        assert count(conn, first_engagements) == 3


def test_an_earlier_open_arriving_later_moves_the_unique_count(engine: Engine) -> None:
    t = int(T0.timestamp())
    with begin_write(engine) as conn:
        insert_events(conn, [event("opened", T0 + timedelta(hours=2), message_id="m1")])
    with begin_write(engine) as conn:
        insert_events(
            conn,
            [
                event("opened", T0 + timedelta(minutes=30), message_id="m1"),
                event("opened", T0 + timedelta(minutes=10), message_id="m1"),
            ],
        )
    with engine.connect() as conn:
        assert unique_counts(conn) == {(t + 600, UNIQUE_OPEN): 1}
        assert unique_counts(conn, HOUR) == {(t, UNIQUE_OPEN): 1}
        first = conn.execute(sa.select(first_engagements.c.first_at)).scalar_one()
        assert first.replace(tzinfo=UTC) == T0 + timedelta(minutes=10)


def test_opens_without_message_id_are_unique_per_recipient_and_day(conn: Connection) -> None:
    who = "ann@gmail.example"
    insert_events(
        conn,
        [
            event("opened", T0 + timedelta(hours=1), message_id="", recipient=who),
            event("opened", T0 + timedelta(hours=5), message_id="", recipient=who.upper()),
            event("opened", T0 + timedelta(days=1, hours=1), message_id="", recipient=who),
        ],
    )
    assert sum(unique_counts(conn).values()) == 2


def test_events_older_than_the_raw_retention_horizon_are_refused(engine: Engine) -> None:
    now = T0 + timedelta(days=100)
    with begin_write(engine) as conn:
        compact(conn, now=now, raw_events_days=30)
    old = event("delivered", now - timedelta(days=31))
    recent = event("delivered", now - timedelta(days=29))
    with begin_write(engine) as conn:
        assert insert_events(conn, [old, recent]) == InsertResult(inserted=1, expired=1)
        assert count(conn, events) == 1


def test_concurrent_ingests_of_the_same_events_count_them_once(engine: Engine) -> None:
    batch = [
        event(kind, T0 + timedelta(seconds=i), message_id=f"m{i % 50}")
        for i in range(300)
        for kind in ("delivered", "opened")
    ]
    results: list[InsertResult] = []
    errors: list[BaseException] = []

    def ingest(events_: list[Event]) -> None:
        try:
            with begin_write(engine) as conn:
                results.append(insert_events(conn, events_, batch_size=100))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=ingest, args=(list(batch),)),
        threading.Thread(target=ingest, args=(list(reversed(batch)),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(r.inserted for r in results) == len(batch)
    assert sum(r.duplicates for r in results) == len(batch)
    with engine.connect() as conn:
        day = rollup_rows(conn, DAY)
        assert sum(n for key, n in day.items() if key[4] == "opened") == 300
        assert sum(n for key, n in day.items() if key[4] == UNIQUE_OPEN) == 50
        assert count(conn, events) == 600


def test_raw_payloads_are_kept_in_one_compressed_block_per_batch(conn: Connection) -> None:
    """A producer's raw JSON text (a file item as read) goes into the block as it is; a payload
    without text is serialized. Each event reads back as its own payload, on both dialects."""
    text = '{"b": [1, 2.5, "é"],\n "a": {"n": null}}'
    given = dataclasses.replace(event("delivered", T0), raw=json.loads(text), raw_json=text)
    plain = event("delivered", T0)  # no text: raw is serialized
    bare = dataclasses.replace(event("opened", T0), raw={})  # no payload at all
    insert_events(conn, [given, plain, bare])
    for sent in (given, plain):
        stored = read_event(conn, sent.provider, sent.event_id)
        assert stored is not None and stored.raw == sent.raw
        assert stored.to_dict()["event_id"] == sent.event_id
    stored_bare = read_event(conn, bare.provider, bare.event_id)
    assert stored_bare is not None and stored_bare.raw is None
    assert read_event(conn, "sendgrid", "no-such-event") is None
    blocks = conn.execute(sa.select(event_raw_blocks)).mappings().all()
    assert [(b["codec"], b["items"]) for b in blocks] == [(CODEC, 2)]
    assert unpack(CODEC, bytes(blocks[0]["data"]))[0] == json.loads(text)
    refs = conn.execute(sa.select(events.c.event_id, events.c.raw_block, events.c.raw_index)).all()
    assert sorted(refs) == sorted(
        [
            (given.event_id, blocks[0]["id"], 0),
            (plain.event_id, blocks[0]["id"], 1),
            (bare.event_id, blocks[0]["id"], None),
        ]
    )


def test_payloads_orjson_cannot_write_are_kept(conn: Connection) -> None:
    """A payload with an integer past 64 bits (json decodes it exactly; orjson cannot write
    it, and reads it as a float) and one with a lone surrogate (made by hand: the parsers
    mend them) are written by json, and read back as they were."""
    big = dataclasses.replace(event("delivered", T0), raw={"n": 2**70 + 1, "ok": "é"})
    odd = dataclasses.replace(event("opened", T0), raw={"agent": "\ud800x"})
    plain = event("bounced", T0)
    insert_events(conn, [plain, big])  # a block with a big integer alone
    insert_events(conn, [odd])
    for sent in (plain, big, odd):
        stored = read_event(conn, sent.provider, sent.event_id)
        assert stored is not None and stored.raw == sent.raw


@pytest.mark.parametrize(
    "number",
    [2**63 - 1, 2**64 - 1, 2**64, 2**70 + 1, -(2**63), -(2**63) - 1, -(10**19) + 1, -(2**70)],
)
def test_a_block_kept_as_received_reads_its_integers_back_exactly(number: int) -> None:
    """A body's array goes into its block as received, digits and all: an integer orjson
    would read as a float (below -2**63, from 2**64) is read back by json, exactly."""
    block = compress_block(f'[{{"n":{number},"s":"x"}}]'.encode())
    [item] = unpack(CODEC, block)
    assert type(item["n"]) is int and item["n"] == number


def test_a_body_with_a_lone_surrogate_is_stored_with_a_replacement_character(
    conn: Connection,
) -> None:
    """The database drivers refuse a string with a lone surrogate: unmended, it would fail
    the write of every request grouped with this one."""
    item = {"event": "bounce", "email": "a@gmail.com", "timestamp": 1718000000}
    item |= {"sg_event_id": "s1", "reason": "550 5.1.1 unknown PLACEHOLDER", "status": "5.1.1"}
    body = json.dumps([item]).replace("PLACEHOLDER", "\\ud800").encode()
    source = SourceSettings(name="sg", provider="sendgrid")
    parsed = get_provider("sendgrid").parse(WebhookRequest(body, {}, "", ""), source)
    assert insert_events(conn, parsed.events).inserted == 1
    stored = read_event(conn, "sendgrid", "s1")
    assert stored is not None
    assert stored.row["diagnostic"] == stored.raw["reason"] == "550 5.1.1 unknown \ufffd"


def test_raw_blocks_of_the_older_zlib_codec_still_read(conn: Connection) -> None:
    """Blocks stored before zstd (session 3) are zlib; an event pointing at one reads back."""
    sent = event("delivered", T0)
    insert_events(conn, [sent])
    payload = [{"event": "delivered", "n": 1}]
    old = zlib.compress(json.dumps(payload).encode(), 1)
    conn.execute(sa.update(event_raw_blocks).values(codec=ZLIB_CODEC, data=old))
    stored = read_event(conn, sent.provider, sent.event_id)
    assert stored is not None and stored.raw == payload[0]


def test_a_raw_block_is_read_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A corrupt or hostile block: past MAX_BLOCK_BYTES it is refused, whatever the codec; a
    damaged one is a ValueError."""
    monkeypatch.setattr(rawblocks, "MAX_BLOCK_BYTES", 1000)
    bomb = b"[" + b"0," * 100_000 + b"0]"
    for codec, data in ((CODEC, compress_block(bomb)), (ZLIB_CODEC, zlib.compress(bomb))):
        assert len(data) < 1000
        with pytest.raises(ValueError, match="larger than MAX_BLOCK_BYTES"):
            unpack(codec, data)
    for codec in (CODEC, ZLIB_CODEC):
        with pytest.raises(ValueError, match="corrupt raw block"):
            unpack(codec, b"not compressed at all")
    with pytest.raises(ValueError, match="unknown raw block codec"):
        unpack("json+lz4", b"")


def test_a_batch_of_retries_leaves_no_raw_block(conn: Connection) -> None:
    sent = [event("delivered", T0 + timedelta(seconds=n)) for n in range(3)]
    insert_events(conn, sent)
    assert insert_events(conn, sent) == InsertResult(inserted=0, duplicates=3)
    assert count(conn, event_raw_blocks) == 1


def test_compaction_deletes_a_raw_block_with_its_newest_event(conn: Connection) -> None:
    insert_events(conn, [event("delivered", T0), event("delivered", T0 + timedelta(days=2))])
    insert_events(conn, [event("delivered", T0 + timedelta(days=40))])
    result = compact(conn, now=T0 + timedelta(days=40, hours=1), raw_events_days=30)
    assert result.raw_blocks_deleted == 1 and result.events_deleted == 2
    remaining = conn.execute(sa.select(events.c.event_id)).scalars().all()
    assert len(remaining) == 1
    assert read_event(conn, "sendgrid", remaining[0]) is not None
    assert count(conn, event_raw_blocks) == 1


def test_times_are_stored_as_sqlalchemy_would_store_them(conn: Connection) -> None:
    """insert_events formats SQLite times from a per-minute prefix; the text must be the one
    SQLAlchemy's DateTime writes (and reads), on every kind of instant."""
    moments = [
        datetime(2025, 3, 10, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(2025, 3, 10, 12, 30, 59, tzinfo=UTC),  # same minute, no microseconds
        datetime(2025, 3, 10, 12, 31, 0, 1, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),  # before the epoch
        datetime(2025, 3, 10, 13, 30, 15, tzinfo=timezone(timedelta(hours=1))),
    ]
    stored = [event("sent", moment) for moment in moments]
    insert_events(conn, stored)
    rows = {key: at for key, at in conn.execute(sa.select(events.c.event_id, events.c.occurred_at))}
    for item in stored:
        got = rows[item.event_id]
        got = got.replace(tzinfo=UTC) if got.tzinfo is None else got
        assert got == item.timestamp
    if conn.dialect.name == "sqlite":
        texts = dict(conn.exec_driver_sql("SELECT event_id, occurred_at FROM events").fetchall())
        for item in stored:
            assert texts[item.event_id] == sqlite_time(item.timestamp.astimezone(UTC))


def test_first_open_markers_keep_the_whole_second_as_sqlalchemy_would_store_it(
    conn: Connection,
) -> None:
    """A marker's time is made with the event's row (its text cut to the second on SQLite)."""
    moments = [
        datetime(2025, 3, 10, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(2025, 3, 10, 12, 30, 59, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(2025, 3, 10, 13, 30, 15, 999999, tzinfo=timezone(timedelta(hours=1))),
    ]
    opens = [event("opened", at, message_id=f"m{n}") for n, at in enumerate(moments)]
    insert_events(conn, opens)
    query = sa.select(first_engagements.c.message_key, first_engagements.c.first_at)
    stored = dict(conn.execute(query).all())
    for n, at in enumerate(moments):
        second = at.astimezone(UTC).replace(microsecond=0)
        got = stored[f"m{n}"]
        assert (got.replace(tzinfo=UTC) if got.tzinfo is None else got) == second
    if conn.dialect.name == "sqlite":
        sql = "SELECT message_key, first_at FROM first_engagements"
        texts = dict(conn.exec_driver_sql(sql).fetchall())
        for n, at in enumerate(moments):
            assert texts[f"m{n}"] == sqlite_time(at.astimezone(UTC).replace(microsecond=0))


def test_the_bulk_page_cache_is_given_back(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    insert_events(conn, fixture_events())
    assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before
