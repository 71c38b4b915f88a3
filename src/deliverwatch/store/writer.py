"""Group commit: concurrent webhook requests share one transaction and one fsync.

A 2xx must mean "durably stored", and an fsync per request caps a disk at a few hundred
requests a second. So requests hand their events to one writer task and wait; the writer
takes everything queued, stores it in one transaction, commits once, and answers every
waiting request. While it commits, the next group gathers. A request's events are
all-or-nothing: if the shared transaction fails, each request of the group is retried in a
transaction of its own, so one bad request cannot fail its neighbours.

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
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from deliverwatch.events.model import Event
from deliverwatch.store.engine import begin_write
from deliverwatch.store.events import InsertResult, insert_events
from deliverwatch.store.tokens import record_tokens

log = logging.getLogger(__name__)

#: Stop adding requests to a group past this many events: bounds a transaction's size.
MAX_GROUP_EVENTS = 50_000


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
            await asyncio.to_thread(self._commit_group, group)
            for submission in group:  # results were set from the thread; wake the waiters
                if not submission.done.done():
                    submission.done.set_exception(RuntimeError("write lost"))

    def _commit_group(self, group: list[_Submission]) -> None:
        loop = group[0].done.get_loop()
        try:
            with begin_write(self.engine) as conn:
                results = [_store(conn, s) for s in group]
        except Exception:
            if len(group) == 1:
                log.exception("storing %d events failed", len(group[0].events))
                self._settle(loop, group[0], error=_stored_error())
                return
            self.stats.fallbacks += 1
            log.warning("group commit of %d requests failed; retrying one by one", len(group))
            for submission in group:
                self._commit_group([submission])
            return
        self.stats.groups += 1
        for submission, result in zip(group, results, strict=True):
            self.stats.submissions += 1
            self.stats.events += len(submission.events)
            self._settle(loop, submission, result=result)

    @staticmethod
    def _settle(
        loop: asyncio.AbstractEventLoop,
        submission: _Submission,
        *,
        result: InsertResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        def settle() -> None:
            if submission.done.done():
                return
            if error is not None:
                submission.done.set_exception(error)
            else:
                submission.done.set_result(result or InsertResult())

        loop.call_soon_threadsafe(settle)


class StoreUnavailable(Exception):
    """The store did not take the events; the webhook answers 503 so the ESP retries."""


def _stored_error() -> StoreUnavailable:
    return StoreUnavailable("the events could not be stored; retry later")


def _store(conn: Connection, submission: _Submission) -> InsertResult:
    result = insert_events(conn, submission.events)
    if submission.tokens:
        record_tokens(conn, submission.tokens)
    return result
