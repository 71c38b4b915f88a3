"""The group-commit writer: concurrent requests share a transaction, yet each gets its own
answer (inserted, duplicates, expired, or refused as a replay), and one bad request does not
fail the others. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.events.model import Event
from deliverwatch.store import begin_write, create_engine, insert_events, upgrade_to_head
from deliverwatch.store.events import InsertResult
from deliverwatch.store.rollups import EVENTS_FROM
from deliverwatch.store.schema import store_meta
from deliverwatch.store.writer import GroupCommitWriter, Replayed, StoreUnavailable
from tests.servers.postgres import postgres_server  # noqa: F401  (a fixture)
from tests.store.factory import T0, event

EXPIRES = T0 + timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('writer') / 'deliverwatch.db'}"
        server = None
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_schema()
    store = create_engine(url)
    upgrade_to_head(store)
    yield store
    store.dispose()
    if server is not None:
        server.drop_schema(url)


@pytest.fixture
async def writer(engine: Engine) -> AsyncIterator[GroupCommitWriter]:
    writer = GroupCommitWriter(engine)
    await writer.start()
    yield writer
    await writer.stop()


def stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.text("SELECT event_id FROM events")).scalars())


def delivered(event_id: str, at: datetime = T0) -> Event:
    return event("delivered", at, event_id=event_id)


async def together(
    writer: GroupCommitWriter, *requests: tuple[list[Event], list[tuple[str, datetime]]]
) -> list[InsertResult | BaseException]:
    """Submit ``requests`` at once, so the writer takes them as one group."""
    before = writer.stats.groups + writer.stats.fallbacks
    outcomes = await asyncio.gather(
        *(writer.write(events, tokens) for events, tokens in requests), return_exceptions=True
    )
    if not writer.stats.fallbacks:
        assert writer.stats.groups == before + 1, "the requests were not one group"
    return outcomes


async def test_each_request_of_a_group_gets_its_own_counts(
    engine: Engine, writer: GroupCommitWriter
) -> None:
    with begin_write(engine) as conn:
        insert_events(conn, [delivered("a")])
    outcomes = await together(
        writer,
        ([delivered("a"), delivered("b")], []),
        ([delivered("b"), delivered("c"), delivered("c")], []),
        ([delivered("d")], []),
    )
    assert outcomes == [
        InsertResult(inserted=1, duplicates=1),
        InsertResult(inserted=1, duplicates=2),
        InsertResult(inserted=1),
    ]
    assert stored_ids(engine) == ["a", "b", "c", "d"]


async def test_events_past_the_retention_horizon_are_expired_per_request(
    engine: Engine, writer: GroupCommitWriter
) -> None:
    horizon = T0 + timedelta(days=2)
    with begin_write(engine) as conn:
        conn.execute(
            sa.insert(store_meta), [{"key": EVENTS_FROM, "value": str(int(horizon.timestamp()))}]
        )
    old, new = T0, horizon + timedelta(hours=1)
    outcomes = await together(
        writer,
        ([delivered("old", old), delivered("new", new)], []),
        ([delivered("old-2", old), delivered("new", new)], []),
    )
    assert outcomes == [
        InsertResult(inserted=1, expired=1),
        InsertResult(duplicates=1, expired=1),
    ]
    assert stored_ids(engine) == ["new"]


async def test_a_token_seen_before_or_earlier_in_the_group_is_a_replay(
    engine: Engine, writer: GroupCommitWriter
) -> None:
    assert await writer.write([delivered("first")], [("tok-1", EXPIRES)]) == InsertResult(1)
    outcomes = await together(
        writer,
        ([delivered("x")], [("tok-1", EXPIRES)]),  # stored before: a replay
        ([delivered("y")], [("tok-2", EXPIRES)]),
        ([delivered("z")], [("tok-3", EXPIRES), ("tok-2", EXPIRES)]),  # tok-2 taken above
    )
    assert isinstance(outcomes[0], Replayed)
    assert outcomes[1] == InsertResult(1)
    assert isinstance(outcomes[2], Replayed)
    assert stored_ids(engine) == ["first", "y"]
    # A replay records nothing: its other token is still new.
    assert await writer.write([delivered("z")], [("tok-3", EXPIRES)]) == InsertResult(1)


async def test_a_request_that_cannot_be_stored_fails_alone(
    engine: Engine, writer: GroupCommitWriter
) -> None:
    broken = replace(delivered("broken"), raw={"not JSON": object()})  # the group's insert fails
    outcomes = await together(
        writer,
        ([delivered("ok-1")], [("tok-a", EXPIRES)]),
        ([delivered("lost"), broken], [("tok-b", EXPIRES)]),
        ([delivered("ok-2")], []),
    )
    assert outcomes[0] == outcomes[2] == InsertResult(1)
    assert isinstance(outcomes[1], StoreUnavailable)
    assert writer.stats.fallbacks == 1  # the group failed, then each request alone
    assert stored_ids(engine) == ["ok-1", "ok-2"]  # all or nothing of the failed request
    # Its token was not recorded: the ESP's retry is not a replay.
    assert await writer.write([delivered("lost")], [("tok-b", EXPIRES)]) == InsertResult(1)


async def test_stop_finishes_queued_writes(engine: Engine) -> None:
    writer = GroupCommitWriter(engine)
    await writer.start()
    pending = [asyncio.ensure_future(writer.write([delivered(f"q{n}")])) for n in range(20)]
    await asyncio.sleep(0)  # not a wait: lets the writes reach the queue before stop()
    await writer.stop()
    assert [p.result() for p in pending] == [InsertResult(1)] * 20
    assert len(stored_ids(engine)) == 20
    assert writer.stats.events == 20
    with pytest.raises(RuntimeError, match="before start"):
        await writer.write([delivered("late")])
