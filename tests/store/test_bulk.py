"""insert_file: a file read by child processes stores exactly what reading it here stores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.events.providers.base import PayloadError, SourceSettings
from deliverwatch.events.reader import (
    EVENTS_FROM_KEY,
    FileReading,
    peek_events_from,
    sqlite_file,
    start_early,
)
from deliverwatch.store import begin_write, open_store
from deliverwatch.store.bulk import default_readers, insert_file, split_ranges
from deliverwatch.store.rawblocks import read_event
from deliverwatch.store.rollups import EVENTS_FROM
from deliverwatch.store.schema import (
    event_raw_blocks,
    events,
    first_engagements,
    rollup_day,
    store_meta,
    suppressions,
)
from tests.events.support import fixture_bytes

SOURCE = SourceSettings(name="file", provider="sendgrid", sending_domain="shop.test")
KINDS = ["processed", "delivered", "open", "open", "click", "bounce", "spamreport", "deferred"]


def sendgrid_log(path: Path, bodies: int, per_body: int = 20, *, pretty: bool = False) -> int:
    """A log of SendGrid webhook bodies (an array per line; ``pretty``: one indented array),
    with opens repeated per message and hard bounces; returns the number of items."""
    template = json.loads(fixture_bytes("sendgrid", "batch.json"))[0]
    lines, n = [], 0
    for _ in range(bodies):
        items = []
        for _ in range(per_body):
            kind = KINDS[n % len(KINDS)]
            item = dict(template, event=kind, sg_event_id=f"e{n}", timestamp=1718000000 + n)
            item["email"] = f"user{n % 97}@gmail.com"
            item["sg_message_id"] = f"m{n // 8}.filter0001"
            if kind == "bounce":
                item.update(status="5.1.1", reason="550 5.1.1 user unknown", type="bounce")
            items.append(item)
            n += 1
        lines.append(items)
    if pretty:
        path.write_text(json.dumps([i for line in lines for i in line], indent=2))
    else:
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return n


def snapshot(conn: Connection) -> dict[str, object]:
    """What a store holds, independent of row ids and order."""
    return {
        "events": Counter(
            (event_id, kind, bounce_class, json.dumps(tags))
            for event_id, kind, bounce_class, tags in conn.execute(
                sa.select(events.c.event_id, events.c.type, events.c.bounce_class, events.c.tags)
            )
        ),
        "days": Counter(row.count for row in conn.execute(sa.select(rollup_day.c.count))),
        "firsts": conn.execute(sa.select(sa.func.count()).select_from(first_engagements)).scalar(),
        "suppressed": sorted(conn.execute(sa.select(suppressions.c.recipient)).scalars()),
    }


def ingest(engine: Engine, path: Path, readers: int) -> tuple[dict[str, int], dict[str, object]]:
    with begin_write(engine) as conn:
        result = insert_file(conn, "sendgrid", SOURCE, path, readers=readers, batch_size=150)
    with engine.connect() as conn:
        return result.to_dict(), snapshot(conn)


@pytest.mark.parametrize("pretty", [False, True])
def test_one_two_or_no_readers_store_the_same(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, pretty: bool
) -> None:
    """Batches of 150 over 1,200 items: several batches per reader, opens of one message in
    different batches (and readers), duplicates across the halves, a second import."""
    path = tmp_path / "log.json"
    count = sendgrid_log(path, 60, pretty=pretty)
    with path.open("rb") as stream:
        ranges = split_ranges(stream, path.stat().st_size, 2)
    assert len(ranges) == (1 if pretty else 2), "a pretty-printed array cannot be split"
    outcomes = []
    for readers in (0, 1, 2):
        store = open_store(f"sqlite:///{tmp_path_factory.mktemp('bulk')}/s.db")
        outcomes.append(ingest(store, path, readers))
        again = ingest(store, path, readers)[0]
        assert again == {"inserted": 0, "duplicates": count, "expired": 0}
        store.dispose()
    assert outcomes[0][0] == {"inserted": count, "duplicates": 0, "expired": 0}
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]
    assert outcomes[0][1]["suppressed"], "hard bounces and complaints were suppressed"


@pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)
def test_raw_payloads_read_back_from_a_child_reader(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    sendgrid_log(path, 5)
    ingest(engine, path, 1)
    with engine.connect() as conn:
        stored = read_event(conn, "sendgrid", "e5")  # KINDS[5]: a bounce
    assert stored is not None and stored.raw["sg_event_id"] == "e5"
    assert stored.row["type"] == "bounced" and stored.row["bounce_class"] == "hard"


@pytest.mark.parametrize("readers", [0, 1])
@pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)
def test_every_line_shape_stores_each_payload_as_its_own_item(
    engine: Engine, tmp_path: Path, readers: int
) -> None:
    """Lines' texts go into the raw blocks as they are (an array with spaces around, a CRLF
    end, one object), the rest is serialized (a pretty-printed array, read item by item),
    and batches of 3 cut through the lines: every event still reads back its own item."""
    template = json.loads(fixture_bytes("sendgrid", "batch.json"))[0]
    items = [
        dict(template, event="delivered", sg_event_id=f"e{n}", timestamp=1718000000 + n, n=n)
        for n in range(11)
    ]
    text = [json.dumps(item, separators=(",", ":")) for item in items]
    path = tmp_path / "shapes.json"
    path.write_bytes(
        (
            f"  [ {text[0]} , {text[1]},{text[2]} ]  \r\n"
            f"{text[3]}\n"
            f"[{','.join(text[4:8])}]\n"
            f"[\n  {text[8]},\n  {text[9]}\n]\n"
            f"{text[10]}\n"
        ).encode()
    )
    with begin_write(engine) as conn:
        result = insert_file(conn, "sendgrid", SOURCE, path, readers=readers, batch_size=3)
    assert result.inserted == len(items)
    with engine.connect() as conn:
        for item in items:
            stored = read_event(conn, "sendgrid", item["sg_event_id"])
            assert stored is not None and stored.raw == item
        query = sa.select(event_raw_blocks.c["items"]).order_by(event_raw_blocks.c.id)
        blocks = conn.execute(query).scalars().all()
    # A block holds whole lines as received: the first batch (e0-e2) the first line; the
    # second (e3-e5) the object line and the 4-item line, cut by the third (e6-e8).
    assert blocks[:2] == [3, 5]


@pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)
def test_a_bad_item_in_the_second_half_stores_nothing_and_is_named_exactly(
    engine: Engine, tmp_path: Path
) -> None:
    """The split run fails in the second reader (whose item and line numbers start at its
    half); the file is read again by one reader, so the error names the item and line of the
    whole file, and the transaction stores nothing."""
    path = tmp_path / "log.json"
    sendgrid_log(path, 40)
    lines = path.read_text().splitlines(keepends=True)
    bad = json.loads(lines[30])
    del bad[4]["email"]
    lines[30] = json.dumps(bad) + "\n"
    path.write_text("".join(lines))
    with (
        pytest.raises(PayloadError, match=r"item 604 \(line 31\)"),
        begin_write(engine) as conn,
    ):
        insert_file(conn, "sendgrid", SOURCE, path, readers=2, batch_size=100)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 0


@pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)
def test_a_missing_file_is_an_os_error_before_any_child(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), begin_write(engine) as conn:
        insert_file(conn, "sendgrid", SOURCE, tmp_path / "nope.json", readers=1)


def test_readers_by_store_size_and_cores(engine: Engine, tmp_path: Path) -> None:
    """Small files and PostgreSQL are read in this process; child readers are SQLite's."""
    with engine.connect() as conn:
        assert default_readers(conn, 1000) == 0
        big = default_readers(conn, 64 << 20)
        if conn.dialect.name == "postgresql":
            assert big == 0
            path = tmp_path / "log.json"
            sendgrid_log(path, 2)
            with pytest.raises(ValueError, match="only for SQLite"):
                insert_file(conn, "sendgrid", SOURCE, path, readers=1)
        else:
            assert big in (0, 1, 2)


def test_csv_and_short_files_are_not_split(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("type,timestamp,recipient\n" * 50_000)
    with path.open("rb") as stream:
        assert split_ranges(stream, path.stat().st_size, 2) == [(0, path.stat().st_size)]
    short = tmp_path / "one.json"
    short.write_text('{"a": 1}\n')
    with short.open("rb") as stream:
        assert split_ranges(stream, short.stat().st_size, 2) == [(0, short.stat().st_size)]


def _blocks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(event_raw_blocks)).scalar())


@pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)
def test_readers_started_before_the_store_are_used_when_the_horizon_holds(
    engine: Engine, tmp_path: Path
) -> None:
    """The command line starts the readers before it opens the store. Their batches (of 150
    here: a block each) are stored as they are; read again, the file would make one batch
    per reader."""
    path = tmp_path / "log.json"
    count = sendgrid_log(path, 60)
    database = Path(str(engine.url.database))
    assert peek_events_from(database) is None
    reading = FileReading.start("sendgrid", SOURCE, path, 2, None, batch_size=150)
    assert len(reading.ranges) == 2
    with begin_write(engine) as conn:
        result = insert_file(conn, "sendgrid", SOURCE, path, reading=reading)
    assert result.to_dict() == {"inserted": count, "duplicates": 0, "expired": 0}
    assert _blocks(engine) >= count // 150
    assert not reading.children, "the readers are done and gone"


@pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)
def test_early_readers_with_a_stale_horizon_are_stopped_and_the_file_read_again(
    engine: Engine, tmp_path: Path
) -> None:
    """Retention moved the horizon after the readers were started (or the guess was wrong):
    rows made for the old one would store events the store has promised to refuse."""
    path = tmp_path / "log.json"
    count = sendgrid_log(path, 60)
    reading = FileReading.start("sendgrid", SOURCE, path, 2, None, batch_size=150)
    horizon = 1718000000 + 600  # the first 600 items are older (see sendgrid_log)
    with begin_write(engine) as conn:
        conn.execute(sa.insert(store_meta).values(key=EVENTS_FROM, value=str(horizon)))
    assert peek_events_from(Path(str(engine.url.database))) == horizon
    with begin_write(engine) as conn:
        result = insert_file(conn, "sendgrid", SOURCE, path, reading=reading)
    assert result.to_dict() == {"inserted": count - 600, "duplicates": 0, "expired": 600}
    assert _blocks(engine) <= 2, "read again, in batches of the default size"
    assert not reading.children


def test_early_start_only_for_a_big_file_on_a_sqlite_file(tmp_path: Path) -> None:
    assert EVENTS_FROM_KEY == EVENTS_FROM
    assert sqlite_file("sqlite:////var/lib/dw.db") == Path("/var/lib/dw.db")
    assert sqlite_file("sqlite:///dw.db") == Path("dw.db")
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///x.db?mode=ro", "postgresql://h/d"):
        assert sqlite_file(url) is None
    small = tmp_path / "small.json"
    sendgrid_log(small, 2)
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    assert start_early(url, "sendgrid", SOURCE, small) is None
    assert start_early(url, "sendgrid", SOURCE, tmp_path / "missing.json") is None
    big = tmp_path / "big.json"
    sendgrid_log(big, 10, 30)
    sendgrid_log(big, (4 << 20) // (big.stat().st_size // 10) + 10, 30)  # just over 4 MB
    assert start_early("postgresql://h/d", "sendgrid", SOURCE, big) is None
    reading = start_early(url, "sendgrid", SOURCE, big)
    assert reading is not None
    with reading:
        assert len(reading.children) == 2
        assert reading.events_from is None  # no store there yet
    assert not reading.children
