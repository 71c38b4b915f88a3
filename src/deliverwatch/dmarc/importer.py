"""Importing reports into the store: every report of every file under the given paths (or of
one upload, or one email from a mailbox), each all or nothing (a savepoint of a batch that
commits every :data:`COMMIT_REPORTS` reports or :data:`COMMIT_SECONDS`), each with an outcome.
One bad report never stops the others: its outcome says why it was refused."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from deliverwatch.dmarc.aggregate import AggregateReader
from deliverwatch.dmarc.containers import (
    Kind,
    Limits,
    Payload,
    Rejected,
    iter_payloads,
    payloads_from_bytes,
    stream_repairs,
)
from deliverwatch.dmarc.errors import ReportError
from deliverwatch.dmarc.failure import read_failure
from deliverwatch.dmarc.smtp_tls import read_smtp_tls
from deliverwatch.store.dmarc import StoreResult, store_aggregate
from deliverwatch.store.dmarc_failures import FailureStored, store_failure
from deliverwatch.store.engine import begin_write
from deliverwatch.store.smtp_tls import TlsStored, store_smtp_tls

Status = Literal["imported", "duplicate", "error"]
KINDS: tuple[Kind, ...] = ("aggregate", "failure", "smtp_tls")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one report (or to a file or part that held none).

    ``retry``: the report was refused because the store could not be reached or failed, not
    because of the report; the same input should be tried again later.
    """

    name: str
    status: Status
    kind: Kind | None = None
    reason: str | None = None
    stored: StoreResult | FailureStored | TlsStored | None = None
    retry: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.name, "status": self.status, "kind": self.kind}
        if self.reason is not None:
            data["reason"] = self.reason
        if self.retry:
            data["retry"] = True
        if self.stored is not None:
            data.update(self.stored.to_dict())
            data["status"] = self.status
        return data


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """What the mailbox poller did with one email: ``processed`` (its reports imported or
    found duplicate), ``error`` (a report or the email refused), or ``retry`` (left in place:
    the store failed, the email goes in on a later poll). ``moved_to`` is the folder it was
    moved to, ``"(deleted)"``, or None when it was left in place (flagged)."""

    name: str
    uid: int
    action: Literal["processed", "error", "retry"]
    moved_to: str | None = None
    reason: str | None = None
    reports: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uid": self.uid,
            "action": self.action,
            "moved_to": self.moved_to,
            "reason": self.reason,
            "reports": self.reports,
        }


@dataclass(slots=True)
class ImportSummary:
    """The outcomes of one import (a folder, an upload, a mailbox poll), in order.

    ``messages`` is filled by the mailbox poller: what became of each email it read.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    messages: list[MessageOutcome] = field(default_factory=list)
    #: When the poll started (mailbox polls only).
    at: datetime | None = None

    def add(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        return outcome

    def extend(self, other: ImportSummary) -> None:
        self.outcomes.extend(other.outcomes)
        self.messages.extend(other.messages)

    @property
    def errors(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "error"]

    @property
    def ok(self) -> bool:
        """No report or part was refused."""
        return not self.errors

    def totals(self) -> Counter[str]:
        """Outcomes per status: ``imported``, ``duplicate``, ``error``."""
        return Counter(outcome.status for outcome in self.outcomes)

    def by_kind(self) -> dict[str, Counter[str]]:
        """Outcomes per report kind and status (errors without a kind are under ``unknown``)."""
        counts: dict[str, Counter[str]] = {}
        for outcome in self.outcomes:
            counts.setdefault(outcome.kind or "unknown", Counter())[outcome.status] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "outcomes": [outcome.to_dict() for outcome in self.outcomes],
            "totals": dict(self.totals()),
            "by_kind": {kind: dict(counts) for kind, counts in self.by_kind().items()},
        }
        if self.messages or self.at is not None:
            data["messages"] = [message.to_dict() for message in self.messages]
            data["actions"] = dict(Counter(message.action for message in self.messages))
        if self.at is not None:
            data["at"] = self.at.isoformat()
        return data


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files named, and those under the folders named (recursively, sorted; hidden
    files and folders skipped). A path that does not exist is passed on, to be reported."""
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path).parts
                if found.is_file() and not any(part.startswith(".") for part in relative):
                    yield found
        else:
            yield path


#: A batch of reports commits after this many reports or seconds, whichever comes first: on
#: SQLite each commit is an fsync (``synchronous=FULL``), which would cost more than storing a
#: small report; a long transaction would keep other writers waiting.
COMMIT_REPORTS = 500
COMMIT_SECONDS = 1.0


def import_paths(
    engine: Engine, paths: Iterable[Path], limits: Limits | None = None
) -> Iterator[Outcome]:
    """Import every report under ``paths``, yielding an outcome per report once it is
    committed (reports are committed in batches, see :class:`_Batch`)."""
    batch = _Batch(engine, limits)
    for path in iter_files(paths):
        for item in iter_payloads(path, limits):
            yield from batch.add(item)
    yield from batch.finish()


def import_bytes(
    engine: Engine, name: str, data: bytes, limits: Limits | None = None
) -> ImportSummary:
    """Import the reports in one uploaded file or one email (``data``, named ``name`` in the
    outcomes): XML, JSON, gzip, zip, an email or an mbox, with the caps of file imports
    (bombs refused, ``Limits.max_message_bytes`` for the whole upload). Never raises for bad
    input: every report or part has its outcome, and what it says is committed when this
    returns. Blocking (database I/O): call it from a worker thread in async code."""
    limits = limits or Limits()
    summary = ImportSummary()
    if len(data) > limits.max_message_bytes:
        summary.add(Outcome(name, "error", reason=f"larger than {limits.max_message_bytes} bytes"))
        return summary
    batch = _Batch(engine, limits)
    for item in payloads_from_bytes(data, name, limits):
        summary.outcomes.extend(batch.add(item))
    summary.outcomes.extend(batch.finish())
    return summary


def import_payload(engine: Engine, payload: Payload, limits: Limits | None = None) -> Outcome:
    """Import one report (its own transaction); never raises for a bad report."""
    batch = _Batch(engine, limits)
    [outcome] = [*batch.add(payload), *batch.finish()]
    return outcome


class _Batch:
    """Consecutive reports in one write transaction, each in its own savepoint: a refused
    report rolls back to its savepoint only, and the batch commits once. Outcomes are handed
    out only after the commit, so ``imported`` always means committed; when the store fails
    (or the commit does), the reports of the batch become errors with ``retry``."""

    def __init__(self, engine: Engine, limits: Limits | None) -> None:
        self.engine = engine
        self.limits = limits
        self.pending: list[Outcome] = []
        self.stack: ExitStack | None = None
        self.conn: Connection | None = None
        self.started = 0.0
        self.reports = 0

    def add(self, item: Payload | Rejected) -> list[Outcome]:
        """Import ``item``; returns the outcomes a commit just made final (often none)."""
        if isinstance(item, Rejected):
            self.pending.append(Outcome(item.name, "error", reason=item.reason))
            return [] if self.stack is not None else self._release()
        if self.conn is None:
            stack = ExitStack()
            try:
                self.conn = stack.enter_context(begin_write(self.engine))
            except (OperationalError, DBAPIError) as exc:
                reason = f"store error: {_store_reason(exc)}"
                self.pending.append(Outcome(item.name, "error", item.kind, reason, retry=True))
                return self._release()
            self.stack = stack
            self.started = time.monotonic()
        outcome = _store_payload(self.conn, item, self.limits)
        if outcome.retry:
            self.pending.append(outcome)
            return self._abort(outcome.reason or "store error")
        self.pending.append(outcome)
        self.reports += 1
        if self.reports >= COMMIT_REPORTS or time.monotonic() - self.started >= COMMIT_SECONDS:
            return self._commit()
        return []

    def finish(self) -> list[Outcome]:
        """Commit what is pending; the outcomes not yet handed out."""
        return self._commit() if self.stack is not None else self._release()

    def _commit(self) -> list[Outcome]:
        stack, self.stack, self.conn, self.reports = self.stack, None, None, 0
        if stack is not None:
            try:
                stack.close()
            except (OperationalError, DBAPIError) as exc:
                return self._failed(f"store error at commit: {_store_reason(exc)}")
        return self._release()

    def _abort(self, reason: str) -> list[Outcome]:
        stack, self.stack, self.conn, self.reports = self.stack, None, None, 0
        if stack is not None:
            # Rolls back; when the connection is gone, nothing was committed either way.
            with suppress(OperationalError, DBAPIError):
                stack.__exit__(RuntimeError, RuntimeError(reason), None)
        return self._failed(reason)

    def _failed(self, reason: str) -> list[Outcome]:
        """The batch was not committed: what it stored is lost and must be tried again."""
        self.pending = [
            outcome
            if outcome.status == "error"
            else Outcome(outcome.name, "error", outcome.kind, reason=reason, retry=True)
            for outcome in self.pending
        ]
        return self._release()

    def _release(self) -> list[Outcome]:
        released, self.pending = self.pending, []
        return released


def _store_payload(conn: Connection, payload: Payload, limits: Limits | None) -> Outcome:
    """Parse and store one report in a savepoint of ``conn``'s transaction; never raises for
    a bad report (its savepoint is rolled back)."""
    try:
        stored: StoreResult | FailureStored | TlsStored
        with payload.open() as stream:
            if payload.kind == "aggregate":
                reader = AggregateReader(stream)
                with conn.begin_nested():
                    stored = store_aggregate(
                        conn, reader, source=payload.name, repairs=lambda: stream_repairs(stream)
                    )
            elif payload.kind == "failure":
                failure = read_failure(stream, limits)
                with conn.begin_nested():
                    stored = store_failure(conn, failure, source=payload.name)
            else:
                tls = read_smtp_tls(stream, limits)
                with conn.begin_nested():
                    stored = store_smtp_tls(conn, tls, source=payload.name)
        return Outcome(payload.name, stored.status, payload.kind, stored=stored)
    except ReportError as exc:
        return Outcome(payload.name, "error", payload.kind, reason=exc.reason)
    except OSError as exc:
        return Outcome(payload.name, "error", payload.kind, reason=exc.strerror or str(exc))
    except (OperationalError, DBAPIError) as exc:
        # The store, not the report: the same report may go in once the store is back.
        retry = isinstance(exc, OperationalError) or bool(exc.connection_invalidated)
        reason = f"store error: {_store_reason(exc)}"
        return Outcome(payload.name, "error", payload.kind, reason=reason, retry=retry)
    except Exception as exc:  # a bug must not cost the rest of the batch: report it
        reason = f"unexpected error: {type(exc).__name__}: {exc}"
        return Outcome(payload.name, "error", payload.kind, reason=reason)


def _store_reason(exc: DBAPIError) -> str:
    original = exc.orig or exc
    return f"{type(original).__name__}: {' '.join(str(original).split())}"
