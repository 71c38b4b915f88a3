"""Storing DMARC aggregate reports, and reading the day rollup back for ``dmarc summary``.

:func:`store_aggregate` stores one report in the caller's transaction: the report row first
(``INSERT … ON CONFLICT DO NOTHING`` on the reporter's ``(org_name, report_id)``: a report
already stored is a duplicate and its records are not even read), then its records in
batches, and the day rollup with ``count = count + excluded.count``. A report that fails
midway raises and the caller's transaction rolls back, so nothing of it is kept.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.clock import epoch_ceil, epoch_floor
from deliverwatch.dmarc.aggregate import AggregateReader
from deliverwatch.dmarc.days import DAY, DaySpreader, SpanError, day_of
from deliverwatch.dmarc.errors import AggregateError
from deliverwatch.dmarc.model import Record
from deliverwatch.dmarc.signals import DayVolume
from deliverwatch.dmarc.summary import Volume
from deliverwatch.store.engine import (
    driver_executemany,
    json_text_to_driver,
    lock_store_for_writing,
    upsert_insert,
)
from deliverwatch.store.schema import dmarc_records, dmarc_reports, dmarc_rollup_day

#: Records per ``executemany``; also how often the rollup is flushed at most.
BATCH_SIZE = 5_000
#: Distinct rollup rows held before they are written (bounds memory on a huge report).
ROLLUP_FLUSH = 50_000
RECORD_COLUMNS = (
    "report_pk",
    "seq",
    "source_ip",
    "count",
    "disposition",
    "dkim_alignment",
    "spf_alignment",
    "header_from",
    "envelope_from",
    "envelope_to",
    "reasons",
    "dkim_results",
    "spf_results",
)
ROLLUP_KEY = (
    "domain",
    "day",
    "source_ip",
    "reporter",
    "dmarc_pass",
    "dkim_aligned",
    "spf_aligned",
    "disposition",
)
_RollupKey = tuple[str, int, str, str, bool, bool, bool, str]


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What became of one report: ``imported``, or ``duplicate`` (already stored)."""

    status: Literal["imported", "duplicate"]
    org_name: str
    report_id: str
    domain: str
    records: int = 0
    messages: int = 0
    repairs: Mapping[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "org_name": self.org_name,
            "report_id": self.report_id,
            "domain": self.domain,
            "records": self.records,
            "messages": self.messages,
            "repairs": dict(self.repairs or {}),
        }


def store_aggregate(
    conn: Connection,
    reader: AggregateReader,
    *,
    source: str,
    repairs: Callable[[], Iterable[str]] = tuple,
) -> StoreResult:
    """Store the report ``reader`` is reading (its header already read); ``source`` names the
    file it came from, ``repairs()`` (called once the report is read) adds what its container
    needed (a gzip with trailing bytes). Raises AggregateError for an unusable report."""
    lock_store_for_writing(conn)
    header = reader.header
    metadata, policy = header.metadata, header.policy
    try:
        spreader = DaySpreader(metadata.begin, metadata.end)
    except SpanError as exc:
        raise AggregateError(str(exc)) from None
    insert_report, finish_report = _report_statements(conn)
    inserted = conn.execute(
        insert_report,
        {
            "p_org_name": metadata.org_name,
            "p_report_id": metadata.report_id,
            "p_domain": policy.domain,
            "p_begin_at": metadata.begin_at,
            "p_end_at": metadata.end_at,
            "p_email": metadata.email,
            "p_extra_contact_info": metadata.extra_contact_info,
            "p_version": header.version,
            "p_namespace": header.namespace,
            "p_generator": metadata.generator,
            "p_errors": list(metadata.errors) or None,
            "p_policy_p": policy.p,
            "p_policy_sp": policy.sp,
            "p_policy_np": policy.np,
            "p_policy_adkim": policy.adkim,
            "p_policy_aspf": policy.aspf,
            "p_policy_pct": policy.pct,
            "p_policy_fo": policy.fo,
            "p_policy_testing": policy.testing,
            "p_policy_discovery_method": policy.discovery_method,
            "p_record_count": 0,
            "p_message_count": 0,
            "p_source": source,
        },
    ).scalar_one_or_none()
    if inserted is None:
        return StoreResult("duplicate", metadata.org_name, metadata.report_id, policy.domain)
    writer = _Writer(conn, int(inserted), metadata.org_name, policy.domain, spreader)
    for record in reader:
        writer.add(record)
    writer.flush()
    all_repairs = Counter(reader.repairs)
    all_repairs.update(repairs())
    conn.execute(
        finish_report,
        {
            "p_pk": int(inserted),
            "p_record_count": reader.record_count,
            "p_message_count": reader.message_count,
            "p_repairs": dict(all_repairs) or None,
        },
    )
    return StoreResult(
        "imported",
        metadata.org_name,
        metadata.report_id,
        policy.domain,
        reader.record_count,
        reader.message_count,
        dict(all_repairs),
    )


class _Writer:
    """Records and rollup increments of one report, written in batches."""

    def __init__(
        self, conn: Connection, report_pk: int, reporter: str, domain: str, spreader: DaySpreader
    ) -> None:
        self.conn = conn
        self.report_pk = report_pk
        self.reporter = reporter
        self.domain = domain
        self.spreader = spreader
        wrap = json_text_to_driver(conn)  # None: the text as it is
        self.json: Callable[[str], Any] = wrap if wrap is not None else _same
        self.records: list[tuple[Any, ...]] = []
        self.rollup: Counter[_RollupKey] = Counter()
        self.seq = 0
        self._serialized: dict[int, tuple[object, Any]] = {}
        self.insert_records, self.upsert_rollup = _statements(conn)
        self.single_day = spreader.single_day

    def add(self, record: Record) -> None:
        """Called for every record: attribute look-ups are kept out of the common path."""
        self.seq += 1
        to_json = self._to_json
        reasons, dkim_results, spf_results = (
            record.reasons,
            record.dkim_results,
            record.spf_results,
        )
        self.records.append(
            (
                self.report_pk,
                self.seq,
                record.source_ip,
                record.count,
                record.disposition,
                record.dkim,
                record.spf,
                record.header_from,
                record.envelope_from,
                record.envelope_to,
                to_json(reasons) if reasons else None,
                to_json(dkim_results) if dkim_results else None,
                to_json(spf_results) if spf_results else None,
            )
        )
        dkim_aligned = record.dkim == "pass"
        spf_aligned = record.spf == "pass"
        domain = record.header_from or self.domain
        day = self.single_day
        if day is not None:
            key = (
                domain,
                day,
                record.source_ip,
                self.reporter,
                dkim_aligned or spf_aligned,
                dkim_aligned,
                spf_aligned,
                record.disposition,
            )
            self.rollup[key] += record.count
        else:
            for spread_day, count in self.spreader.split(record.count):
                key = (
                    domain,
                    spread_day,
                    record.source_ip,
                    self.reporter,
                    dkim_aligned or spf_aligned,
                    dkim_aligned,
                    spf_aligned,
                    record.disposition,
                )
                self.rollup[key] += count
        if len(self.records) >= BATCH_SIZE:
            self._write_records()
            if len(self.rollup) >= ROLLUP_FLUSH:
                self._write_rollup()

    def flush(self) -> None:
        self._write_records()
        self._write_rollup()

    def _write_records(self) -> None:
        driver_executemany(self.conn, self.insert_records, RECORD_COLUMNS, self.records)
        self.records = []

    def _write_rollup(self) -> None:
        rows = [(*key, count) for key, count in sorted(self.rollup.items()) if count]
        driver_executemany(self.conn, self.upsert_rollup, (*ROLLUP_KEY, "count"), rows)
        self.rollup = Counter()

    def _to_json(self, items: tuple[Any, ...]) -> Any:
        """JSON of a tuple of results, serialized once per distinct tuple object: the parser
        hands out the same tuple for the same auth results."""
        if not items:
            return None
        cached = self._serialized.get(id(items))
        if cached is not None and cached[0] is items:
            return cached[1]
        value = self.json(json.dumps([item.to_dict() for item in items]))
        if len(self._serialized) < 4096:
            self._serialized[id(items)] = (items, value)
        return value


def _same(text: str) -> str:
    return text


_STATEMENTS: dict[str, tuple[sa.Insert, sa.Insert]] = {}
_REPORT_STATEMENTS: dict[str, tuple[Any, sa.Update]] = {}
#: Columns of a new report row (``p_<column>`` parameters of its insert).
REPORT_COLUMNS = (
    "org_name",
    "report_id",
    "domain",
    "begin_at",
    "end_at",
    "email",
    "extra_contact_info",
    "version",
    "namespace",
    "generator",
    "errors",
    "policy_p",
    "policy_sp",
    "policy_np",
    "policy_adkim",
    "policy_aspf",
    "policy_pct",
    "policy_fo",
    "policy_testing",
    "policy_discovery_method",
    "record_count",
    "message_count",
    "source",
)


def _report_statements(conn: Connection) -> tuple[Any, sa.Update]:
    """The report row's insert (``ON CONFLICT DO NOTHING RETURNING id``) and its final update,
    built once per dialect with bound parameters: building them per report from literal
    values (coercing and cache-keying two dozen values) cost more than running them."""
    found = _REPORT_STATEMENTS.get(conn.dialect.name)
    if found is None:
        table = dmarc_reports
        insert = (
            upsert_insert(conn, table)
            .values(
                {
                    name: sa.bindparam(f"p_{name}", type_=table.c[name].type)
                    for name in REPORT_COLUMNS
                }
            )
            .on_conflict_do_nothing(index_elements=["org_name", "report_id"])
            .returning(table.c.id)
        )
        finish = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("p_pk", type_=table.c.id.type))
            .values(
                {
                    name: sa.bindparam(f"p_{name}", type_=table.c[name].type)
                    for name in ("record_count", "message_count", "repairs")
                }
            )
        )
        found = _REPORT_STATEMENTS[conn.dialect.name] = (insert, finish)
    return found


def _statements(conn: Connection) -> tuple[sa.Insert, sa.Insert]:
    """The record insert and the rollup upsert, built once per dialect: ``driver_executemany``
    caches compiled statements by identity, so a fresh statement per report (a mailbox of
    small reports) would be compiled again each time."""
    found = _STATEMENTS.get(conn.dialect.name)
    if found is None:
        stmt = upsert_insert(conn, dmarc_rollup_day)
        upsert = stmt.on_conflict_do_update(
            index_elements=list(ROLLUP_KEY),
            set_={"count": dmarc_rollup_day.c["count"] + stmt.excluded["count"]},
        )
        found = _STATEMENTS[conn.dialect.name] = (sa.insert(dmarc_records), upsert)
    return found


# -- reading --------------------------------------------------------------------------------


def _domain_filter(column: sa.ColumnElement[str], domain: str) -> sa.ColumnElement[bool]:
    """``domain`` and its subdomains."""
    escaped = domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.or_(column == domain, column.like(f"%.{escaped}", escape="\\"))


def read_volumes(
    conn: Connection,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Volume]:
    """Messages per (header-From domain, source, reporter, outcome) over the UTC days that
    ``[since, until)`` touches (a partly covered day counts whole), from the day rollup."""
    table = dmarc_rollup_day
    dimensions = [table.c[name] for name in ROLLUP_KEY if name != "day"]
    query = sa.select(*dimensions, sa.func.sum(table.c["count"])).group_by(*dimensions)
    if domain:
        query = query.where(_domain_filter(table.c.domain, domain.lower().rstrip(".")))
    if since is not None:
        query = query.where(table.c.day >= day_of(epoch_floor(since)))
    if until is not None:
        query = query.where(table.c.day < epoch_ceil(until))
    return [
        Volume(
            domain=row[0],
            source_ip=row[1],
            reporter=row[2],
            dmarc_pass=bool(row[3]),
            dkim_aligned=bool(row[4]),
            spf_aligned=bool(row[5]),
            disposition=row[6],
            count=int(row[7]),
        )
        for row in conn.execute(query)
        if row[7]
    ]


def count_reports(
    conn: Connection,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Stored reports whose range overlaps the window and whose policy domain is ``domain``,
    under it, or above it (a report for the organizational domain covers its subdomains)."""
    table = dmarc_reports
    query = sa.select(sa.func.count()).select_from(table)
    if domain:
        wanted = domain.lower().rstrip(".")
        labels = wanted.split(".")
        parents = [".".join(labels[i:]) for i in range(1, len(labels))]
        query = query.where(
            sa.or_(_domain_filter(table.c.domain, wanted), table.c.domain.in_(parents))
        )
    if since is not None:
        query = query.where(
            table.c.end_at >= datetime.fromtimestamp(day_of(epoch_floor(since)), UTC)
        )
    if until is not None:
        query = query.where(table.c.begin_at < until)
    return int(conn.execute(query).scalar_one())


def read_days(
    conn: Connection,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[DayVolume]:
    """Messages per UTC day, header-From domain and source IP over the days ``[since, until)``
    touches (``domain``: it and its subdomains), with the DMARC-pass and aligned counts: the
    input of ``dmarc.signals``."""
    table = dmarc_rollup_day
    count = table.c["count"]

    def when(flag: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((flag, count), else_=0))

    keys = (table.c.day, table.c.domain, table.c.source_ip)
    query = (
        sa.select(
            *keys,
            sa.func.sum(count),
            when(table.c.dmarc_pass),
            when(table.c.dkim_aligned),
            when(table.c.spf_aligned),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
    if domain:
        query = query.where(_domain_filter(table.c.domain, domain.lower().rstrip(".")))
    if since is not None:
        query = query.where(table.c.day >= day_of(epoch_floor(since)))
    if until is not None:
        query = query.where(table.c.day < epoch_ceil(until))
    return [
        DayVolume(int(day), str(name), str(ip), int(n or 0), int(p or 0), int(d or 0), int(s or 0))
        for day, name, ip, n, p, d, s in conn.execute(query)
        if n
    ]


__all__ = [
    "DAY",
    "StoreResult",
    "count_reports",
    "read_days",
    "read_volumes",
    "store_aggregate",
]
