"""DMARC reports in the store, on SQLite and PostgreSQL: deduplication, re-imports that never
double-count, day spreading, and reports that fail midway leaving nothing behind."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.dmarc.aggregate import AggregateReader
from deliverwatch.dmarc.containers import Payload, iter_payloads, stream_repairs
from deliverwatch.dmarc.days import DAY
from deliverwatch.dmarc.errors import AggregateError
from deliverwatch.dmarc.importer import import_paths
from deliverwatch.store import begin_write
from deliverwatch.store.dmarc import StoreResult, count_reports, read_volumes, store_aggregate
from deliverwatch.store.schema import dmarc_records, dmarc_reports, dmarc_rollup_day
from tests.dmarc.support import CORPUS, needs_corpus, report_xml

D0 = 1_700_006_400  # 2023-11-15 00:00 UTC


def store(engine: Engine, data: bytes, source: str = "test.xml") -> StoreResult:
    with begin_write(engine) as conn:
        return store_aggregate(conn, AggregateReader(io.BytesIO(data)), source=source)


def totals(conn: Connection) -> tuple[int, int, int, int]:
    """(reports, records, messages in records, messages in the rollup)."""
    return (
        conn.execute(sa.select(sa.func.count()).select_from(dmarc_reports)).scalar_one(),
        conn.execute(sa.select(sa.func.count()).select_from(dmarc_records)).scalar_one(),
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(dmarc_records.c["count"]), 0))
        ).scalar_one(),
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(dmarc_rollup_day.c["count"]), 0))
        ).scalar_one(),
    )


REPORT = report_xml(
    [
        {"ip": "192.0.2.1", "count": 10},
        {"ip": "192.0.2.1", "count": 5, "dkim": "fail", "spf": "fail", "disposition": "reject"},
        {"ip": "192.0.2.2", "count": 7, "spf": "fail"},
    ],
    begin=D0,
    end=D0 + DAY - 1,
)


def test_store_and_dedup(engine: Engine) -> None:
    first = store(engine, REPORT)
    assert (first.status, first.records, first.messages) == ("imported", 3, 22)
    again = store(engine, REPORT)
    assert again.status == "duplicate"
    other = store(engine, REPORT.replace(b"<report_id>r1<", b"<report_id>r2<"))
    assert other.status == "imported"
    with engine.connect() as conn:
        assert totals(conn) == (2, 6, 44, 44)
        row = conn.execute(sa.select(dmarc_reports).where(dmarc_reports.c.report_id == "r1")).one()
        assert (row.org_name, row.domain, row.policy_p, row.record_count, row.message_count) == (
            "reporter.test",
            "example.test",
            "none",
            3,
            22,
        )
        assert row.begin_at.replace(tzinfo=UTC) == datetime.fromtimestamp(D0, UTC)
        assert row.source == "test.xml"
        stored = conn.execute(
            sa.select(dmarc_records).where(dmarc_records.c.report_pk == row.id).order_by("seq")
        ).all()
        assert [(r.seq, r.source_ip, r.count, r.dkim_alignment, r.disposition) for r in stored] == [
            (1, "192.0.2.1", 10, "pass", "none"),
            (2, "192.0.2.1", 5, "fail", "reject"),
            (3, "192.0.2.2", 7, "pass", "none"),
        ]
        assert stored[0].dkim_results == [
            {"domain": "example.test", "selector": "s1", "result": "pass", "human_result": None}
        ]
        assert stored[0].reasons is None
        rollup = conn.execute(
            sa.select(
                dmarc_rollup_day.c.day,
                dmarc_rollup_day.c.source_ip,
                dmarc_rollup_day.c.dmarc_pass,
                dmarc_rollup_day.c["count"],
            ).order_by("source_ip", "dmarc_pass")
        ).all()
        assert [tuple(r) for r in rollup] == [
            (D0, "192.0.2.1", False, 10),
            (D0, "192.0.2.1", True, 20),
            (D0, "192.0.2.2", True, 14),
        ]


def test_multi_day_reports_are_spread(engine: Engine) -> None:
    records = [{"ip": f"192.0.2.{n}", "count": 1} for n in range(1, 101)]
    records.append({"ip": "192.0.2.200", "count": 1000})
    store(engine, report_xml(records, begin=D0 + DAY // 2, end=D0 + 3 * DAY))
    with engine.connect() as conn:
        per_day = dict(
            conn.execute(
                sa.select(dmarc_rollup_day.c.day, sa.func.sum(dmarc_rollup_day.c["count"]))
                .group_by(dmarc_rollup_day.c.day)
                .order_by(dmarc_rollup_day.c.day)
            ).all()
        )
        assert per_day == {D0: 220, D0 + DAY: 440, D0 + 2 * DAY: 440}
        span = conn.execute(sa.select(dmarc_reports.c.begin_at, dmarc_reports.c.end_at)).one()
        assert span[1] - span[0] == (
            datetime.fromtimestamp(D0 + 3 * DAY, UTC) - datetime.fromtimestamp(D0 + DAY // 2, UTC)
        )


def test_a_report_failing_midway_leaves_nothing(engine: Engine) -> None:
    good = [{"ip": "192.0.2.1", "count": 1}] * 3
    broken = report_xml(good).replace(b"</record>", b"</record><record><row></record>", 2)
    with pytest.raises(AggregateError, match="malformed XML"):
        store(engine, broken)
    with pytest.raises(AggregateError, match="more than 31"):
        store(engine, report_xml(good, begin=D0, end=D0 + 90 * DAY))
    with engine.connect() as conn:
        assert totals(conn) == (0, 0, 0, 0)
    assert store(engine, report_xml(good)).status == "imported"


def test_read_volumes_by_domain_and_window(engine: Engine) -> None:
    def day_report(report_id: str, day: int, domain: str, count: int) -> bytes:
        return report_xml(
            [{"ip": "192.0.2.1", "count": count}],
            report_id=report_id,
            domain=domain,
            begin=D0 + day * DAY,
            end=D0 + (day + 1) * DAY - 1,
        )

    store(engine, day_report("a", 0, "example.test", 1))
    store(engine, day_report("b", 1, "mail.example.test", 10))
    store(engine, day_report("c", 2, "example.test", 100))
    store(engine, day_report("d", 2, "notexample.test", 1000))
    store(engine, day_report("e", 2, "example_test", 10000))

    def messages(**kwargs: object) -> int:
        with engine.connect() as conn:
            return sum(v.count for v in read_volumes(conn, **kwargs))  # type: ignore[arg-type]

    at = lambda day, hour=0: datetime.fromtimestamp(D0 + day * DAY + hour * 3600, UTC)  # noqa: E731
    assert messages() == 11111
    assert messages(domain="example.test") == 111
    assert messages(domain="Mail.Example.Test.") == 10
    assert messages(domain="example.test", since=at(1), until=at(2)) == 10
    assert messages(domain="example.test", since=at(1, 12)) == 110  # a partly covered day counts
    assert messages(domain="example.test", until=at(0, 1)) == 1
    with engine.connect() as conn:
        assert count_reports(conn, domain="example.test") == 3
        assert count_reports(conn, domain="mail.example.test") == 3  # and the parent's two
        assert count_reports(conn, domain="example.test", since=at(2)) == 1
        assert count_reports(conn) == 5


@needs_corpus
def test_corpus_imports_and_reimports_never_double_count(engine: Engine) -> None:
    first = list(import_paths(engine, [CORPUS]))
    statuses = {o.name.removeprefix(str(CORPUS) + "/"): o.status for o in first}
    assert statuses["empty.xml"] == "error"
    assert statuses["aggregate/invalid_utf_8.xml"] == "duplicate"  # same org and id as "!example…"
    assert statuses["aggregate/veeam.com!example.com!1530133200!1530219600.xml"] == "duplicate"
    imported = [o for o in first if o.status == "imported" and o.kind == "aggregate"]
    assert len(imported) == 20
    # The failure (one saved twice, CRLF and LF) and SMTP TLS samples are stored too.
    others = [(o.kind, o.status) for o in first if o.kind in ("failure", "smtp_tls")]
    assert sorted(others) == sorted(
        [("failure", "imported")] * 4 + [("failure", "duplicate")] + [("smtp_tls", "imported")] * 4
    )
    with engine.connect() as conn:
        before = totals(conn)
    assert before == (20, 2345, 8528, 8528)
    second = list(import_paths(engine, [CORPUS]))
    assert {o.status for o in second if o.kind is not None} == {"duplicate"}
    with engine.connect() as conn:
        assert totals(conn) == before


@needs_corpus
def test_container_repairs_are_stored(engine: Engine) -> None:
    (payload,) = iter_payloads(CORPUS / "aggregate" / "mimecast-weird-gzip.eml")
    assert isinstance(payload, Payload)
    with payload.open() as stream, begin_write(engine) as conn:
        result = store_aggregate(
            conn, AggregateReader(stream), source="m.eml", repairs=lambda: stream_repairs(stream)
        )
    assert result.repairs == {
        "ignored 2 bytes after the end of the gzip data": 1,
        "SPF result without a scope (mfrom assumed)": 1,
    }
    with engine.connect() as conn:
        assert conn.execute(sa.select(dmarc_reports.c.repairs)).scalar_one() == result.repairs
