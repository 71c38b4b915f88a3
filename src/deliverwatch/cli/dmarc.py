"""DMARC reports on the command line: ``dmarc import`` and ``dmarc summary``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from deliverwatch.cli.base import TextOrJson, app, fail, load
from deliverwatch.config import Config
from deliverwatch.metrics.windows import WindowError, parse_window

if TYPE_CHECKING:  # the command functions import these: CLI start-up stays fast
    from sqlalchemy.engine import Engine

    from deliverwatch.dmarc.importer import Outcome
    from deliverwatch.dmarc.summary import Summary

dmarc_app = typer.Typer(help="DMARC aggregate and failure reports.", no_args_is_help=True)
app.add_typer(dmarc_app, name="dmarc")

#: Rows shown per table in the text summary (JSON has the full lists, up to MAX_LISTED).
TEXT_ROWS = 15


def _engine(config: Config) -> Engine:
    from deliverwatch.store import open_store

    try:
        return open_store(config.database_url)
    except Exception as exc:  # a bad URL or an unreachable server: say which, exit 2
        raise fail(f"database_url: cannot open the store: {exc}") from None


@dmarc_app.command("import")
def import_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Report files (.xml, .gz, .zip, .json, .eml, mbox) or folders."),
    ],
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """Import aggregate, failure and SMTP TLS reports (folders recursively). Each report is
    stored all or nothing; re-importing is safe (duplicates are recognised). Exit 1 if any file
    had an error."""
    from deliverwatch.dmarc.importer import ImportSummary, import_paths

    config = load(config_path)
    engine = _engine(config)
    as_json = output_format is TextOrJson.json
    summary = ImportSummary()  # JSON lists every outcome; text only counts them
    totals: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {}
    console = Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    for outcome in import_paths(engine, paths):
        totals[outcome.status] += 1
        kinds.setdefault(outcome.kind or "unknown", Counter())[outcome.status] += 1
        if as_json:
            summary.add(outcome)
        elif outcome.status == "error":
            errors.print(f"[red]{outcome.name}: error: {outcome.reason}[/]")
        else:
            console.print(f"{outcome.name}: {_describe(outcome)}")
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2))
        sys.stdout.write("\n")
    else:
        console.print(_totals_line(totals, kinds))
    raise typer.Exit(1 if totals["error"] else 0)


def _totals_line(totals: Counter[str], kinds: dict[str, Counter[str]]) -> str:
    """``5 imported (3 aggregate, 1 failure, 1 SMTP TLS), 2 duplicate, 1 error``."""
    imported = ", ".join(
        f"{kinds[kind]['imported']} {KIND_NAMES[kind]}"
        for kind in KIND_NAMES
        if kinds.get(kind, Counter())["imported"]
    )
    return (
        f"{totals['imported']} imported{f' ({imported})' if imported else ''}, "
        f"{totals['duplicate']} duplicate, {totals['error']} error"
    )


KIND_NAMES = {"aggregate": "aggregate", "failure": "failure", "smtp_tls": "SMTP TLS"}


def _describe(outcome: Outcome) -> str:
    from deliverwatch.store.dmarc import StoreResult
    from deliverwatch.store.dmarc_failures import FailureStored
    from deliverwatch.store.smtp_tls import TlsStored

    stored = outcome.stored
    duplicate = outcome.status == "duplicate"
    if isinstance(stored, StoreResult):
        report = f"{stored.org_name} report {stored.report_id} for {stored.domain}"
        if duplicate:
            return f"duplicate: {report} is already stored"
        repairs = f"; repaired: {', '.join(stored.repairs)}" if stored.repairs else ""
        return (
            f"imported {report} ({stored.records:,} records, {stored.messages:,} messages){repairs}"
        )
    if isinstance(stored, FailureStored):
        report = (
            f"failure report for {stored.domain or '?'} (source {stored.source_ip or '?'}, "
            f"{stored.fingerprint[:12]})"
        )
        return f"duplicate: {report} is already stored" if duplicate else f"imported {report}"
    if isinstance(stored, TlsStored):
        report = f"{stored.organization_name} SMTP TLS report {stored.report_id}"
        if duplicate:
            return f"duplicate: {report} is already stored"
        return (
            f"imported {report} for {', '.join(stored.domains) or '?'} "
            f"({stored.successful_sessions:,} successful, {stored.failed_sessions:,} failed "
            "sessions)"
        )
    return outcome.status


@dmarc_app.command("summary")
def summary_command(
    domain: Annotated[
        str | None, typer.Option("--domain", help="A domain and its subdomains (default: all).")
    ] = None,
    window: Annotated[
        str,
        typer.Option("--window", help="30d (any Nd, Nw…), SINCE..UNTIL (ISO dates, UTC), or all."),
    ] = "30d",
    no_rdns: Annotated[
        bool, typer.Option("--no-rdns", help="No reverse DNS: sources are IPs only.")
    ] = False,
    nameserver: Annotated[
        list[str] | None,
        typer.Option("--nameserver", help="Resolver for reverse DNS, HOST[:PORT]; repeat."),
    ] = None,
    rdns_limit: Annotated[
        int,
        typer.Option("--rdns-limit", min=0, help="Look up at most this many IPs (biggest first)."),
    ] = 5000,
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """Messages, pass rates, dispositions, reporters, sources by provider and reverse DNS,
    failing sources, and readiness for quarantine/reject, over a window."""
    import asyncio

    from deliverwatch.dmarc.answers import read_summary
    from deliverwatch.dns import Nameserver, Resolver

    config = load(config_path)
    since: datetime | None = None
    until: datetime | None = None
    if window.strip().lower() != "all":
        try:
            since, until = parse_window(window, datetime.now(UTC))
        except WindowError as exc:
            raise fail(f"--window: {exc}") from None
    servers = nameserver or config.dns.nameservers
    try:
        parsed = [Nameserver.parse(s) for s in servers]
    except ValueError as exc:
        raise fail(f"--nameserver: {exc}") from None
    engine = _engine(config)
    resolver = Resolver(
        parsed,
        timeout=config.dns.timeout,
        retries=config.dns.retries,
        concurrency=config.dns.concurrency,
    )

    async def answer() -> Summary:
        async with resolver:
            return await read_summary(
                engine,
                domain=domain,
                since=since,
                until=until,
                resolver=None if no_rdns else resolver,
                rdns_limit=rdns_limit,
            )

    summary = asyncio.run(answer())
    if output_format is TextOrJson.json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2) + "\n")
    else:
        _print_summary(summary, window)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _rate(part: int, whole: int) -> str:
    return _pct(part / whole if whole else None)


def _print_summary(summary: Summary, window: str) -> None:
    console = Console(width=max(Console().width, 120), highlight=False)
    total = summary.total
    console.print(
        f"[bold]{summary.domain or 'all domains'}[/] — {window}: {summary.reports} reports, "
        f"{total.messages:,} messages, {summary.sources:,} sources"
    )
    if not total.messages:
        console.print("No DMARC aggregate data in this window.")
        return
    console.print(
        f"DMARC pass {_rate(total.dmarc_pass, total.messages)}   "
        f"DKIM aligned {_rate(total.dkim_aligned, total.messages)}   "
        f"SPF aligned {_rate(total.spf_aligned, total.messages)}"
    )
    console.print(
        "Dispositions: " + ", ".join(f"{k} {v:,}" for k, v in summary.dispositions.items())
    )
    if len(summary.domains) > 1:
        table = _table("Domains (header From)", "domain", "messages", "DMARC pass")
        for name, tally in list(summary.domains.items())[:TEXT_ROWS]:
            table.add_row(name, f"{tally.messages:,}", _rate(tally.dmarc_pass, tally.messages))
        console.print(table)
    table = _table("Reporters", "reporter", "messages", "DMARC pass")
    for name, tally in list(summary.reporters.items())[:TEXT_ROWS]:
        table.add_row(name, f"{tally.messages:,}", _rate(tally.dmarc_pass, tally.messages))
    console.print(table)
    for title, groups in (
        ("Sources by provider", summary.by_esp),
        ("Sources by reverse DNS", summary.by_rdns),
    ):
        if not groups or all(group.kind == "not-looked-up" for group in groups):
            continue
        table = _table(
            title, "group", "IPs", "messages", "DMARC pass", "DKIM aligned", "SPF aligned"
        )
        for group in groups[:TEXT_ROWS]:
            t = group.tally
            table.add_row(
                group.name,
                str(len(group.ips)),
                f"{t.messages:,}",
                _rate(t.dmarc_pass, t.messages),
                _rate(t.dkim_aligned, t.messages),
                _rate(t.spf_aligned, t.messages),
            )
        console.print(table)
    if summary.failing:
        table = _table(
            f"Failing sources ({len(summary.failing)})",
            "IP",
            "reverse DNS",
            "group",
            "failed",
            "DMARC pass",
            "verdict",
        )
        for source in summary.failing[:TEXT_ROWS]:
            t = source.tally
            table.add_row(
                source.name.ip,
                source.name.ptr or "—",
                source.group,
                f"{t.failed:,}",
                _rate(t.dmarc_pass, t.messages),
                source.label,
            )
        console.print(table)
    _print_readiness(console, summary)


def _print_readiness(console: Console, summary: Summary) -> None:
    readiness = summary.readiness
    if readiness.ready is None:
        console.print("Readiness: no source passes DMARC yet; fix authentication first.")
        return
    verdict = "ready" if readiness.ready else "not ready"
    console.print(
        f"Readiness for quarantine/reject: [bold]{verdict}[/] — "
        f"{_pct(readiness.share)} of legitimate volume would fail "
        f"({readiness.would_fail:,} of {readiness.legitimate_messages:,} messages; "
        f"threshold {readiness.threshold:.0%})"
    )
    if readiness.causes:
        table = _table(
            "Legitimate sources that would fail", "IP", "group", "would fail", "DMARC pass"
        )
        for cause in readiness.causes[:TEXT_ROWS]:
            t = cause.tally
            table.add_row(
                cause.name.ip, cause.group, f"{t.failed:,}", _rate(t.dmarc_pass, t.messages)
            )
        console.print(table)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right", overflow="fold")
    return table


def _window(window: str) -> tuple[datetime | None, datetime | None]:
    if window.strip().lower() == "all":
        return None, None
    try:
        return parse_window(window, datetime.now(UTC))
    except WindowError as exc:
        raise fail(f"--window: {exc}") from None


WindowOption = Annotated[
    str,
    typer.Option("--window", help="30d (any Nd, Nw…), SINCE..UNTIL (ISO dates, UTC), or all."),
]
DomainOption = Annotated[
    str | None, typer.Option("--domain", help="A domain and its subdomains (default: all).")
]
LimitOption = Annotated[int, typer.Option("--limit", min=1, help="Show at most N reports.")]


@dmarc_app.command("failures")
def failures_command(
    domain: DomainOption = None,
    window: WindowOption = "30d",
    limit: LimitOption = 100,
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """Stored failure (forensic) reports, newest first: when, source IP, what failed, and
    the original message's From and Subject."""
    from deliverwatch.store.dmarc_failures import count_failures, list_failures

    config = load(config_path)
    since, until = _window(window)
    engine = _engine(config)
    with engine.connect() as conn:
        found = list_failures(conn, domain=domain, since=since, until=until, limit=limit)
        total = count_failures(conn, domain=domain, since=since, until=until)
    if output_format is TextOrJson.json:
        data = {"total": total, "failures": [failure.to_dict() for failure in found]}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    console = Console(width=max(Console().width, 120), highlight=False)
    console.print(f"[bold]{domain or 'all domains'}[/] — {window}: {total} failure reports")
    if not found:
        return
    table = _table(
        "Failure reports" + (f" (newest {len(found)})" if total > len(found) else ""),
        "arrival (UTC)",
        "domain",
        "source IP",
        "failed",
        "DKIM d=/s=",
        "From",
        "Subject",
        "reporter",
    )
    for failure in found:
        dkim = "/".join(v for v in (failure.dkim_domain, failure.dkim_selector) if v) or "—"
        table.add_row(
            failure.arrival_date.strftime("%Y-%m-%d %H:%M") if failure.arrival_date else "—",
            failure.reported_domain or "—",
            failure.source_ip or "—",
            failure.auth_failure or "—",
            dkim,
            failure.sample_headers.get("from", "—"),
            failure.sample_headers.get("subject", "—"),
            failure.reporter or "—",
        )
    console.print(table)


@dmarc_app.command("tls")
def tls_command(
    domain: DomainOption = None,
    window: WindowOption = "30d",
    limit: LimitOption = 100,
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """Stored SMTP TLS reports (RFC 8460), newest first: sessions per policy domain and
    why sessions failed."""
    from deliverwatch.store.smtp_tls import list_smtp_tls

    config = load(config_path)
    since, until = _window(window)
    engine = _engine(config)
    with engine.connect() as conn:
        reports = list_smtp_tls(conn, domain=domain, since=since, until=until, limit=limit)
    if output_format is TextOrJson.json:
        data = {"reports": [report.to_dict() for report in reports]}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    console = Console(width=max(Console().width, 120), highlight=False)
    console.print(f"[bold]{domain or 'all domains'}[/] — {window}: {len(reports)} SMTP TLS reports")
    if not reports:
        return
    table = _table(
        "SMTP TLS reports",
        "begin (UTC)",
        "reporter",
        "policy domain",
        "policy",
        "successful",
        "failed",
        "failures",
    )
    for report in reports:
        for policy in report.policies:
            reasons = Counter[str]()
            for failure in policy.failures:
                reasons[str(failure.get("result_type"))] += int(
                    failure.get("failed_session_count") or 0
                )
            table.add_row(
                report.begin_at.strftime("%Y-%m-%d"),
                report.organization_name,
                policy.policy_domain,
                policy.policy_type,
                f"{policy.successful_sessions:,}",
                f"{policy.failed_sessions:,}",
                ", ".join(f"{name} {count:,}" for name, count in reasons.most_common()) or "—",
            )
    console.print(table)
