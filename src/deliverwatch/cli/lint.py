"""``deliverwatch lint``: pre-send content and header checks, a CI gate for templates.

Exit codes: 0 every file's score is at most ``--fail-over``, 1 a score is over it, 2 usage or
configuration error. Only typer and the shared CLI base are imported at module level; the
linter is imported when the command runs, so ``deliverwatch`` starts quickly.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from deliverwatch.cli.base import app, fail, load

if TYPE_CHECKING:
    from deliverwatch.config import Config
    from deliverwatch.http import HttpSettings


class Format(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


class Kind(StrEnum):
    marketing = "marketing"
    transactional = "transactional"


def template_headers(
    config: Config, headers_file: Path | None, from_address: str | None
) -> list[tuple[str, str]]:
    """Headers for templates: config ``lint.headers``, then ``--headers``, then the From."""
    from deliverwatch.content.message import parse_header_block

    merged: dict[str, tuple[str, str]] = {
        name.lower(): (name, value) for name, value in config.lint.headers.items()
    }
    if headers_file is not None:
        try:
            fields = parse_header_block(headers_file.read_bytes())
        except OSError as exc:
            raise fail(f"--headers {headers_file}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise fail(f"--headers {headers_file}: {exc}") from None
        merged.update({name.lower(): (name, value) for name, value in fields})
    sender = from_address or config.lint.from_address
    if sender:
        merged["from"] = ("From", sender)
    return list(merged.values())


@app.command()
def lint(
    files: Annotated[
        list[Path], typer.Argument(help="Messages (.eml) or templates (.html, .txt).")
    ],
    output_format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = (
        Format.text
    ),
    fail_over: Annotated[
        float | None,
        typer.Option("--fail-over", min=0, help="Exit 1 when a file's score is over this."),
    ] = None,
    from_address: Annotated[
        str | None, typer.Option("--from", help="From header for templates.")
    ] = None,
    headers_file: Annotated[
        Path | None,
        typer.Option("--headers", help="File of 'Name: value' headers for templates."),
    ] = None,
    config_path: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config file (default ./deliverwatch.yaml)."),
    ] = None,
    check_links: Annotated[
        bool | None,
        typer.Option(
            "--check-links/--no-check-links",
            help="Fetch each link and look linked domains up on URI blocklists.",
        ),
    ] = None,
    rspamd: Annotated[
        str | None, typer.Option("--rspamd", help="rspamd URL: report its score beside ours.")
    ] = None,
    spamd: Annotated[
        str | None,
        typer.Option("--spamd", help="SpamAssassin spamd HOST:PORT: report its score beside ours."),
    ] = None,
    nameserver: Annotated[
        list[str] | None,
        typer.Option("--nameserver", help="Resolver address HOST[:PORT]; repeat for several."),
    ] = None,
    kind: Annotated[
        Kind | None,
        typer.Option("--kind", help="marketing (unsubscribe required) or transactional."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.01, help="Seconds per DNS attempt."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes (default: the CPU count; 1 = in this process).",
        ),
    ] = None,
) -> None:
    """Lint messages and templates before sending: headers, structure, links, DKIM."""
    from deliverwatch.content import export
    from deliverwatch.content.external import parse_host_port
    from deliverwatch.content.options import LintOptions
    from deliverwatch.content.runner import RunSettings, default_jobs, lint_parallel
    from deliverwatch.content.scoring import Scale
    from deliverwatch.dns import Nameserver

    config = load(config_path)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise fail(f"no such file: {', '.join(missing)}")
    try:
        parsed = [Nameserver.parse(s) for s in nameserver or config.dns.nameservers]
        spamd_address = parse_host_port(spamd) if spamd else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    headers = template_headers(config, headers_file, from_address)
    settings = config.lint
    options = LintOptions(
        kind="transactional" if (kind or settings.kind) == "transactional" else "marketing",
        max_link_domains=settings.max_link_domains,
        shorteners=frozenset(s.lower() for s in settings.shorteners),
    )
    threshold = settings.fail_over if fail_over is None else fail_over
    try:
        scale = Scale(
            settings.weights,
            warn_over=min(settings.warn_over, threshold),
            fail_over=threshold,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    links = settings.check_links if check_links is None else check_links
    run = RunSettings(
        options=options,
        scale=scale,
        headers=tuple(headers),
        nameservers=tuple(parsed),
        dns_timeout=timeout or config.dns.timeout,
        dns_retries=config.dns.retries,
        verify_dkim=settings.verify_dkim,
        http=_http_settings(config) if links else None,
        uri_blocklists=tuple(settings.uri_blocklists),
        spamd=spamd_address,
        rspamd=rspamd,
    )
    reports = lint_parallel(run, files, jobs or default_jobs())
    if output_format is Format.json:
        sys.stdout.write(export.to_json(reports) + "\n")
    elif output_format is Format.sarif:
        sys.stdout.write(export.to_sarif(reports) + "\n")
    else:
        for report in reports:
            sys.stdout.write(export.to_text(report) + "\n")
    raise typer.Exit(1 if any(r["score"] > threshold for r in reports) else 0)


def _http_settings(config: Config) -> HttpSettings:
    from deliverwatch.http import HttpSettings

    http = config.http
    return HttpSettings(
        timeout=http.timeout,
        max_bytes=http.max_bytes,
        allow_private=http.allow_private,
        ca_bundle=http.ca_bundle,
        https_port=http.https_port,
    )
