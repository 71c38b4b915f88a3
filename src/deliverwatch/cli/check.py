"""``deliverwatch check``: the DNS authentication audit.

Exit codes: 0 nothing reached ``--fail-on``, 1 a finding did, 2 usage or configuration error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deliverwatch.cli.base import app, fail, load

if TYPE_CHECKING:  # the audit's modules load when the command runs: start-up stays quick
    from deliverwatch.auth.audit import AuditSession


class Format(StrEnum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    sarif = "sarif"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    never = "never"


def read_domains_file(path: Path) -> list[str]:
    """One domain a line; blank lines and ``#`` comments skipped; ``-`` reads standard input."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    names = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [name for name in names if name]


@app.command()
def check(
    domains: Annotated[list[str] | None, typer.Argument(help="Domains to audit.")] = None,
    domains_file: Annotated[
        Path | None,
        typer.Option("--domains-file", help="File with one domain per line ('-' for stdin)."),
    ] = None,
    config_path: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config file (default ./deliverwatch.yaml)."),
    ] = None,
    nameserver: Annotated[
        list[str] | None,
        typer.Option("--nameserver", help="Resolver address HOST[:PORT]; repeat for several."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0.01, help="Seconds per DNS attempt (one retry follows a failure)."
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Domains audited at once.")
    ] = None,
    selector: Annotated[
        list[str] | None,
        typer.Option("--selector", help="DKIM selector to check (besides the common ones)."),
    ] = None,
    ip: Annotated[
        list[str] | None,
        typer.Option(
            "--ip", help="Sending IP: checked against DNSBLs and for forward-confirmed rDNS."
        ),
    ] = None,
    dnsbl: Annotated[
        list[str] | None,
        typer.Option("--dnsbl", help="IP blocklist zone (replaces the configured ones)."),
    ] = None,
    dbl: Annotated[
        list[str] | None,
        typer.Option("--dbl", help="Domain blocklist zone (replaces the configured ones)."),
    ] = None,
    no_blocklists: Annotated[
        bool, typer.Option("--no-blocklists", help="Skip blocklist queries.")
    ] = False,
    no_http: Annotated[
        bool, typer.Option("--no-http", help="Skip HTTPS fetches (MTA-STS policy, BIMI logo).")
    ] = False,
    no_common_selectors: Annotated[
        bool,
        typer.Option(
            "--no-common-selectors", help="Check only the given/configured DKIM selectors."
        ),
    ] = False,
    output_format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = (
        Format.text
    ),
    fail_on: Annotated[
        FailOn | None,
        typer.Option("--fail-on", help="Exit 1 when a finding reaches this severity."),
    ] = None,
) -> None:
    """Audit domain authentication (SPF, DMARC, DKIM, BIMI, MTA-STS, TLS-RPT, MX, blocklists)."""
    from deliverwatch.auth.audit import AuditOptions, AuditSession
    from deliverwatch.http import HttpSettings

    config = load(config_path)
    names = list(domains or [])
    if domains_file is not None:
        try:
            names += read_domains_file(domains_file)
        except OSError as exc:
            raise fail(f"--domains-file {domains_file}: {exc.strerror or exc}") from None
    if not names:
        names = [d.name for d in config.domains]
    if not names:
        raise fail("no domains: give DOMAIN arguments, --domains-file, or domains: in config")
    for value in ip or []:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise fail(f"--ip {value!r} is not an IP address") from None
    from deliverwatch.dns import Nameserver, Resolver

    servers = nameserver or config.dns.nameservers
    try:
        parsed = [Nameserver.parse(s) for s in servers]
    except ValueError as exc:
        raise fail(f"--nameserver: {exc}") from None

    options = AuditOptions(
        selectors=tuple(selector or ()),
        ips=tuple(ip or ()),
        dnsbl_zones=() if no_blocklists else tuple(dnsbl or config.blocklists.dnsbl),
        dbl_zones=() if no_blocklists else tuple(dbl or config.blocklists.dbl),
        common_selectors=config.check.common_selectors and not no_common_selectors,
        per_domain_selectors={d.name: tuple(d.dkim_selectors) for d in config.domains},
        per_domain_ips={d.name: tuple(d.sending_ips) for d in config.domains},
    )
    http_settings = (
        None
        if no_http or not config.http.enabled
        else HttpSettings(
            timeout=config.http.timeout,
            max_bytes=config.http.max_bytes,
            allow_private=config.http.allow_private,
            ca_bundle=config.http.ca_bundle,
            https_port=config.http.https_port,
        )
    )
    resolver = Resolver(
        parsed,
        timeout=timeout or config.dns.timeout,
        retries=config.dns.retries,
        concurrency=config.dns.concurrency,
    )
    session = AuditSession(
        resolver, options, http_settings, concurrency=concurrency or config.check.concurrency
    )
    artifact = str(domains_file) if domains_file and str(domains_file) != "-" else None
    reports = asyncio.run(_run(session, names, output_format, artifact))
    threshold = (fail_on or FailOn(config.check.fail_on)).value
    raise typer.Exit(1 if _reaches(reports, threshold) else 0)


def _reaches(reports: list[dict[str, Any]], threshold: str) -> bool:
    if threshold == "never":
        return False
    levels = {"error"} if threshold == "error" else {"error", "warning"}
    return any(f["severity"] in levels for r in reports for f in r["findings"])


async def _run(
    session: AuditSession, names: list[str], output_format: Format, artifact: str | None
) -> list[dict[str, Any]]:
    """Audit, writing as results arrive: jsonl in finishing order, text/csv in input order."""
    from deliverwatch.auth import export
    from deliverwatch.auth.text import render_report

    out = Console(soft_wrap=output_format is not Format.text, highlight=False)
    err = Console(stderr=True)
    results: list[dict[str, Any] | None] = [None] * len(names)
    next_out = 0
    if output_format is Format.csv:
        sys.stdout.write(export.csv_header())
    progress = Progress(
        TextColumn("[bold]auditing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not (err.is_terminal and len(names) > 1),
    )
    with progress:
        task = progress.add_task("audit", total=len(names))
        async with session:
            async for index, report in session.audit_many(names):
                results[index] = data = report.to_dict()
                progress.advance(task)
                if output_format is Format.jsonl:
                    sys.stdout.write(export.to_jsonl_line(data) + "\n")
                    sys.stdout.flush()
                while next_out < len(names) and results[next_out] is not None:
                    ready = results[next_out]
                    assert ready is not None
                    if output_format is Format.text:
                        out.print(render_report(ready))
                    elif output_format is Format.csv:
                        sys.stdout.write(export.to_csv_row(ready))
                    next_out += 1
    done = [r for r in results if r is not None]
    if output_format is Format.json:
        sys.stdout.write(export.to_json(done) + "\n")
    elif output_format is Format.sarif:
        sys.stdout.write(export.to_sarif(done, artifact) + "\n")
    return done
