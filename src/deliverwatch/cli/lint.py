"""``deliverwatch lint``: pre-send content and header checks, a CI gate for templates.

Exit codes: 0 every file's score is at most ``--fail-over``, 1 a score is over it, 2 usage or
configuration error.
"""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from deliverwatch.cli.base import app, fail, load
from deliverwatch.config import Config
from deliverwatch.content import export
from deliverwatch.content.external import (
    ScorerError,
    SpamdClient,
    message_bytes,
    parse_host_port,
    rspamd_check,
)
from deliverwatch.content.lint import Network
from deliverwatch.content.lint import lint as lint_message
from deliverwatch.content.message import Message, load_file, parse_header_block
from deliverwatch.content.options import LintOptions
from deliverwatch.content.rules.linkcheck import LinkChecker
from deliverwatch.content.scoring import Scale
from deliverwatch.dns import Nameserver, Resolver
from deliverwatch.http import Fetcher, HttpSettings

CONCURRENCY = 16  # files linted at once (network checks overlap; the rules are CPU-bound)


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
) -> None:
    """Lint messages and templates before sending: headers, structure, links, DKIM."""
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
    resolver = Resolver(parsed, timeout=timeout or config.dns.timeout, retries=config.dns.retries)
    links = settings.check_links if check_links is None else check_links
    job = _Job(config, resolver, options, scale, headers, links, spamd_address, rspamd)
    reports = asyncio.run(job.run(files))
    if output_format is Format.json:
        sys.stdout.write(export.to_json(reports) + "\n")
    elif output_format is Format.sarif:
        sys.stdout.write(export.to_sarif(reports) + "\n")
    else:
        for report in reports:
            sys.stdout.write(export.to_text(report) + "\n")
    raise typer.Exit(1 if any(r["score"] > threshold for r in reports) else 0)


class _Job:
    def __init__(
        self,
        config: Config,
        resolver: Resolver,
        options: LintOptions,
        scale: Scale,
        headers: list[tuple[str, str]],
        check_links: bool,
        spamd: tuple[str, int] | None,
        rspamd: str | None,
    ) -> None:
        self.config, self.resolver, self.options, self.scale = config, resolver, options, scale
        self.headers, self.check_links = headers, check_links
        self.spamd = SpamdClient(*spamd) if spamd else None
        self.rspamd = rspamd

    async def run(self, files: list[Path]) -> list[dict[str, Any]]:
        http = self.config.http
        fetcher = Fetcher(
            self.resolver,
            HttpSettings(
                timeout=http.timeout,
                max_bytes=http.max_bytes,
                allow_private=http.allow_private,
                ca_bundle=http.ca_bundle,
                https_port=http.https_port,
            ),
        )
        network = Network(
            self.resolver,
            verify_dkim=self.config.lint.verify_dkim,
            links=LinkChecker(fetcher) if self.check_links else None,
            uri_blocklists=tuple(self.config.lint.uri_blocklists) if self.check_links else (),
        )
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(path: Path) -> dict[str, Any]:
            async with slots:
                return await self._lint_file(path, network)

        try:
            async with self.resolver:
                return list(await asyncio.gather(*(one(f) for f in files)))
        finally:
            await fetcher.aclose()

    async def _lint_file(self, path: Path, network: Network) -> dict[str, Any]:
        message = load_file(path, self.headers)
        result = await lint_message(message, self.options, self.scale, network)
        if message.error is None:
            await self._external(message, result.external)
        return result.to_dict()

    async def _external(self, message: Message, external: dict[str, Any]) -> None:
        data = message_bytes(message) if (self.spamd or self.rspamd) else b""
        if self.spamd is not None:
            try:
                external["spamd"] = (await self.spamd.report(data)).to_dict()
            except ScorerError as exc:
                external["spamd"] = {"error": str(exc)}
        if self.rspamd is not None:
            try:
                external["rspamd"] = (await rspamd_check(self.rspamd, data)).to_dict()
            except ScorerError as exc:
                external["rspamd"] = {"error": str(exc)}
