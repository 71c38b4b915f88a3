"""Group commit: concurrent webhook requests share one transaction and one fsync.

A 2xx must mean "durably stored", and an fsync per request caps a disk at a few hundred
requests a second. So requests hand their events to one writer task and wait; the writer
takes everything queued, stores it in one transaction, commits once, and answers every
waiting request. While it commits, the next group gathers. A request's events are
all-or-nothing: if the shared transaction fails, each request of the group is retried in a
transaction of its own, so one bad request cannot fail its neighbours. One-time tokens are
looked up and recorded in the group's transaction: a request with a token stored before is
refused (:class:`Replayed`) and stores nothing.

    writer = GroupCommitWriter(engine)
    await writer.start()
    result = await writer.write(events, tokens=[("mailgun:…", expires)])
    await writer.stop()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.events.model import Event
from deliverwatch.store.engine import begin_write, lock_store_for_writing
from deliverwatch.store.events import InsertResult, Prepared, insert_events, prepare_rows
from deliverwatch.store.rollups import Horizons, Series, read_horizons
from deliverwatch.store.schema import events as events_table
from deliverwatch.store.tokens import record_tokens, tokens_seen

log = logging.getLogger(__name__)

#: Stop adding requests to a group past this many events: bounds a transaction's size.
MAX_GROUP_EVENTS = 50_000
_SERIES_CACHE_LIMIT = 100_000  # series ids kept between groups


@dataclass
class _Submission:
    events: Sequence[Event]
    tokens: Sequence[tuple[str, datetime]]
    done: asyncio.Future[InsertResult] = field(repr=False)


@dataclass
class WriterStats:
    groups: int = 0
    submissions: int = 0
    events: int = 0
    fallbacks: int = 0


class GroupCommitWriter:
    def __init__(self, engine: Engine, *, max_group_events: int = MAX_GROUP_EVENTS) -> None:
        self.engine = engine
        self.max_group_events = max_group_events
        self.stats = WriterStats()
        self._queue: asyncio.Queue[_Submission | None] = asyncio.Queue()
        #: Rollup series ids of committed transactions: series are never deleted, so an id
        #: once committed stays right, and a group skips looking its series up again.
        self._series: dict[Series, int] = {}
        #: The retention horizons the last group found, to make the next group's rows with.
        self._horizons = Horizons()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def stop(self) -> None:
        """Finish every queued write, then end the writer task."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
            stats = self.stats
            log.info(
                "group commit: %d events of %d requests in %d transactions (%d fallbacks)",
                stats.events,
                stats.submissions,
                stats.groups,
                stats.fallbacks,
            )

    async def write(
        self, events: Sequence[Event], tokens: Sequence[tuple[str, datetime]] = ()
    ) -> InsertResult:
        """Store ``events`` (and one-time ``tokens``) durably; raises if they were not stored."""
        if self._task is None:
            raise RuntimeError("GroupCommitWriter.write() before start()")
        submission = _Submission(events, tokens, asyncio.get_running_loop().create_future())
        await self._queue.put(submission)
        return await submission.done

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            group, size = [first], len(first.events)
            while size < self.max_group_events and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                group.append(item)
                size += len(item.events)
            try:
                outcomes = await asyncio.to_thread(self._commit_group, group)
            except asyncio.CancelledError:  # the waiters must not hang
                for submission in group:
                    submission.done.cancel()
                raise
            except Exception:  # the thread could not run (the executor is shut down)
                log.exception("the group-commit thread failed")
                outcomes = [_stored_error() for _ in group]
            self._settle(group, outcomes)

    @staticmethod
    def _settle(group: list[_Submission], outcomes: list[InsertResult | BaseException]) -> None:
        for submission, outcome in zip(group, outcomes, strict=True):
            if submission.done.done():  # the waiter was cancelled
                continue
            if isinstance(outcome, BaseException):
                submission.done.set_exception(outcome)
            else:
                submission.done.set_result(outcome)

    def _commit_group(self, group: list[_Submission]) -> list[InsertResult | BaseException]:
        """Store ``group`` in one transaction, or each request alone if that fails."""
        series = dict(self._series) if len(self._series) < _SERIES_CACHE_LIMIT else {}
        # The rows are made before taking the store: only the SQL runs while other writers
        # (another service process, an import) wait.
        events = [event for submission in group for event in submission.events]
        try:
            prepared = prepare_rows(self.engine.dialect, self._horizons, events)
        except Exception:  # a payload that cannot be stored: found again, per request, below
            prepared = None
        try:
            with begin_write(self.engine) as conn:
                outcomes = _store(conn, group, series, prepared)
        except Exception:
            if len(group) == 1:
                log.exception("storing %d events failed", len(group[0].events))
                return [_stored_error()]
            self.stats.fallbacks += 1
            log.warning("group commit of %d requests failed; retrying one by one", len(group))
            return [outcome for s in group for outcome in self._commit_group([s])]
        self._series = series  # committed: the ids it learned are real
        if prepared is not None:
            self._horizons = prepared.horizons  # as the store had them
        self.stats.groups += 1
        for submission, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, InsertResult):
                self.stats.submissions += 1
                self.stats.events += len(submission.events)
        return outcomes


class StoreUnavailable(Exception):
    """The store did not take the events; the webhook answers 503 so the ESP retries."""


class Replayed(Exception):
    """A one-time token of the request was recorded before: nothing of it was stored."""


def _stored_error() -> StoreUnavailable:
    return StoreUnavailable("the events could not be stored; retry later")


def _store(
    conn: Connection,
    group: list[_Submission],
    series: dict[Series, int],
    prepared: Prepared | None = None,
) -> list[InsertResult | BaseException]:
    """Store a group's requests in the caller's transaction; per request, what happened.

    A request carrying a token that is already recorded (or claimed by an earlier request of
    the group) is a replay: refused whole. Checked here, under the write lock, so two
    service instances cannot both accept one token. The rest are stored with one
    ``insert_events`` call: its fixed cost, a few milliseconds of statement set-up, would
    otherwise be paid per request.
    """
    lock_store_for_writing(conn)  # before reading what decides the outcome (PostgreSQL)
    seen = tokens_seen(conn, [token for s in group for token, _ in s.tokens])
    outcomes: list[InsertResult | BaseException] = []
    accepted: list[_Submission] = []
    for submission in group:
        tokens = [token for token, _ in submission.tokens]
        if seen.intersection(tokens):
            outcomes.append(Replayed("replayed request"))
            continue
        seen.update(tokens)
        accepted.append(submission)
        outcomes.append(InsertResult())
    if not accepted:
        return outcomes
    # Rows made for the whole group serve only if nothing was refused.
    results = _insert(conn, accepted, series, prepared if len(accepted) == len(group) else None)
    stored = iter(results)
    return [next(stored) if isinstance(o, InsertResult) else o for o in outcomes]


def _insert(
    conn: Connection,
    group: list[_Submission],
    series: dict[Series, int],
    prepared: Prepared | None,
) -> list[InsertResult]:
    events = [event for submission in group for event in submission.events]
    tokens = [token for submission in group for token in submission.tokens]
    last_id = 0 if len(group) == 1 else _largest_id(conn)
    total = insert_events(conn, events, series_cache=series, prepared=prepared)
    if tokens:
        record_tokens(conn, tokens)
    if len(group) == 1:
        return [total]
    if total.inserted == len(events):  # the usual case: all new
        return [InsertResult(inserted=len(submission.events)) for submission in group]
    results = _attribute(conn, group, last_id)
    if sum(results, InsertResult()) != total:
        raise GroupMismatch(f"group of {len(group)} stored {total}, attributed {results}")
    return results


class GroupMismatch(Exception):
    """The per-request split disagrees with what the store did: redo the group one by one."""


def _largest_id(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT max(id) FROM events").scalar() or 0)


def _attribute(conn: Connection, group: list[_Submission], last_id: int) -> list[InsertResult]:
    """Which request's events ``insert_events`` stored, given the group in order.

    The rows past ``last_id`` (the largest id before the insert) are the ones it stored: ids
    only grow, and the store lock keeps other writers out until we commit. Of equal
    ``(provider, event_id)`` the first is the one stored; events before the raw-event horizon
    are expired (checked before being stored, after being a duplicate, as insert_events does).
    """
    query = sa.select(events_table.c.provider, events_table.c.event_id).where(
        events_table.c.id > last_id
    )
    new = {(provider, event_id) for provider, event_id in conn.execute(query)}
    horizon = read_horizons(conn).events_from
    since = None if horizon is None else datetime.fromtimestamp(horizon, UTC)
    seen: set[tuple[str, str]] = set()
    results = []
    for submission in group:
        inserted = duplicates = expired = 0
        for event in submission.events:
            key = (event.provider, event.event_id)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            at = event.timestamp if event.timestamp.tzinfo else event.timestamp.replace(tzinfo=UTC)
            if since is not None and at < since:
                expired += 1
            elif key in new:
                inserted += 1
            else:
                duplicates += 1
        results.append(InsertResult(inserted, duplicates, expired))
    return results
