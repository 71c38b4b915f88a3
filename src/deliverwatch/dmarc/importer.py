"""Importing report files into the store: every report of every file under the given
paths, each in its own transaction, each with an outcome. One bad report never stops the
others: its outcome says why it was refused."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import Engine

from deliverwatch.dmarc.aggregate import AggregateReader
from deliverwatch.dmarc.containers import (
    Kind,
    Limits,
    Payload,
    Rejected,
    iter_payloads,
    stream_repairs,
)
from deliverwatch.dmarc.errors import ReportError
from deliverwatch.dmarc.failure import read_failure
from deliverwatch.dmarc.smtp_tls import read_smtp_tls
from deliverwatch.store.dmarc import StoreResult, store_aggregate
from deliverwatch.store.engine import begin_write

Status = Literal["imported", "duplicate", "parsed", "error"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one report (or to a file or part that held none).

    ``parsed``: a failure or SMTP TLS report, read but not stored (their storage is to come).
    """

    name: str
    status: Status
    kind: Kind | None = None
    reason: str | None = None
    stored: StoreResult | None = None
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.name, "status": self.status, "kind": self.kind}
        if self.reason is not None:
            data["reason"] = self.reason
        if self.stored is not None:
            data.update(self.stored.to_dict())
            data["status"] = self.status
        if self.details is not None:
            data["report"] = self.details
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


def import_paths(
    engine: Engine, paths: Iterable[Path], limits: Limits | None = None
) -> Iterator[Outcome]:
    """Import every report under ``paths``, yielding an outcome per report as it is done."""
    for path in iter_files(paths):
        for item in iter_payloads(path, limits):
            if isinstance(item, Rejected):
                yield Outcome(item.name, "error", reason=item.reason)
            else:
                yield import_payload(engine, item, limits)


def import_payload(engine: Engine, payload: Payload, limits: Limits | None = None) -> Outcome:
    """Import one report (its own transaction); never raises for a bad report."""
    try:
        if payload.kind == "aggregate":
            with payload.open() as stream:
                reader = AggregateReader(stream)
                with begin_write(engine) as conn:
                    stored = store_aggregate(
                        conn, reader, source=payload.name, repairs=lambda: stream_repairs(stream)
                    )
            return Outcome(payload.name, stored.status, payload.kind, stored=stored)
        with payload.open() as stream:
            report = (
                read_failure(stream, limits)
                if payload.kind == "failure"
                else read_smtp_tls(stream, limits)
            )
        return Outcome(payload.name, "parsed", payload.kind, details=report.to_dict())
    except ReportError as exc:
        return Outcome(payload.name, "error", payload.kind, reason=exc.reason)
    except OSError as exc:
        return Outcome(payload.name, "error", payload.kind, reason=exc.strerror or str(exc))
    except Exception as exc:  # a bug must not cost the rest of the batch: report it
        reason = f"unexpected error: {type(exc).__name__}: {exc}"
        return Outcome(payload.name, "error", payload.kind, reason=reason)
