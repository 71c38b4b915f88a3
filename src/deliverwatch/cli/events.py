"""Sending events on the command line: ``ingest``, ``stats``, ``event``, ``suppressions``."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from deliverwatch.cli.base import TextOrJson, app, fail, load
from deliverwatch.config import Config
from deliverwatch.events.providers import PROVIDERS, get_provider
from deliverwatch.events.providers.base import (
    SourceSettings,
    VerifyContext,
    WebhookError,
    WebhookRequest,
    file_source,
)

if TYPE_CHECKING:
    from deliverwatch.events.reader import FileReading

suppressions_app = typer.Typer(help="The suppression list.", no_args_is_help=True)
app.add_typer(suppressions_app, name="suppressions")


class By(StrEnum):
    mailbox_provider = "mailbox-provider"
    provider = "provider"
    day = "day"


def _engine(config: Config) -> Any:
    from deliverwatch.store import open_store

    try:
        return open_store(config.database_url)
    except Exception as exc:  # a bad URL or an unreachable server: say which, exit 2
        raise fail(f"database_url: cannot open the store: {exc}") from None


def _source(
    config: Config, provider: str, source_name: str | None, domain: str | None
) -> SourceSettings:
    if source_name is None:
        return file_source(provider, domain)
    configured = config.source(source_name)
    if configured is None:
        raise fail(f"--source {source_name!r} is not in sources: of the config")
    settings = configured.settings()
    if domain:
        from dataclasses import replace

        settings = replace(settings, sending_domain=domain.lower())
    return settings


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Payload files, as the ESP posts them.")],
    provider: Annotated[
        str,
        typer.Option(
            "--provider", help=f"ESP: {', '.join(PROVIDERS)} ('generic': JSON lines or CSV)."
        ),
    ],
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="Sending domain for events that do not carry one."),
    ] = None,
    source_name: Annotated[
        str | None,
        typer.Option("--source", help="A configured source whose settings (and secrets) apply."),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the signature (needs --source and --header).")
    ] = False,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", help="'Name: value' request header for --verify; repeat."),
    ] = None,
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """Store the events of saved webhook payloads or exports (idempotent: re-import is safe).

    Each file is one transaction: all of its events are stored, or none when an item is bad.
    """
    from deliverwatch.events.reader import start_early

    config = load(config_path)
    if provider not in PROVIDERS:
        raise fail(f"--provider {provider!r}: known providers are {', '.join(PROVIDERS)}")
    if verify and source_name is None:
        raise fail("--verify needs --source NAME (the credentials to check with)")
    settings = _source(config, provider, source_name, domain)
    # A big first file's readers start before the store is imported and opened (about a
    # second on a small machine); the store checks the horizon they were given.
    early = None if verify else start_early(config.database_url, provider, settings, files[0])
    try:
        _ingest_files(files, provider, settings, config, verify, header or [], early, output_format)
    finally:
        if early is not None:
            early.close()


def _ingest_files(
    files: list[Path],
    provider: str,
    settings: SourceSettings,
    config: Config,
    verify: bool,
    headers: list[str],
    early: FileReading | None,
    output_format: TextOrJson,
) -> None:
    from deliverwatch.store import begin_write, insert_events
    from deliverwatch.store.bulk import insert_file

    engine = _engine(config)
    chosen = get_provider(provider)
    results: list[dict[str, Any]] = []
    failed = False
    for index, path in enumerate(files):
        try:
            with begin_write(engine) as conn:
                if verify:
                    events = _verified_events(
                        path, chosen.name, settings, headers, config.server.max_body_bytes
                    )
                    result = insert_events(conn, events)
                else:
                    reading = early if index == 0 else None
                    result = insert_file(conn, chosen.name, settings, path, reading=reading)
        except OSError as exc:
            failed = True
            results.append({"file": str(path), "error": exc.strerror or str(exc)})
            continue
        except WebhookError as exc:
            failed = True
            results.append({"file": str(path), "error": exc.reason})
            continue
        results.append({"file": str(path), **result.to_dict()})
    _print_ingest(results, output_format)
    raise typer.Exit(1 if failed else 0)


def _verified_events(
    path: Path, provider: str, settings: SourceSettings, headers: list[str], limit: int
) -> list[Any]:
    body = path.read_bytes()
    if len(body) > limit:
        raise WebhookError(f"file larger than server.max_body_bytes ({limit}) for --verify")
    parsed_headers = {}
    for line in headers:
        name, sep, value = line.partition(":")
        if not sep:
            raise WebhookError(f"--header {line!r} is not 'Name: value'")
        parsed_headers[name.strip().lower()] = value.strip()
    request = WebhookRequest(
        body=body,
        headers=parsed_headers,
        url=settings.url or "",
        content_type=parsed_headers.get("content-type", ""),
    )
    seen: set[str] = set()

    def remember(token: str, _expires: datetime) -> bool:
        if token in seen:
            return False
        seen.add(token)
        return True

    chosen = get_provider(provider)
    ctx = VerifyContext(now=lambda: datetime.now(UTC), remember_token=remember)
    asyncio.run(chosen.verify(request, settings, ctx))
    return chosen.parse(request, settings).events


def _print_ingest(results: list[dict[str, Any]], output_format: TextOrJson) -> None:
    if output_format is TextOrJson.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    console = Console(highlight=False, soft_wrap=True)
    for item in results:
        if "error" in item:
            Console(stderr=True).print(f"[red]{item['file']}: {item['error']}[/]", highlight=False)
        else:
            console.print(
                f"{item['file']}: {item['inserted']} new, {item['duplicates']} "
                f"already stored, {item['expired']} older than retention"
            )


@app.command("stats")
def stats_command(
    domain: Annotated[str | None, typer.Option("--domain", help="Sending domain.")] = None,
    window: Annotated[
        str, typer.Option("--window", help="1h, 24h, 7d, 30d, or SINCE..UNTIL (ISO dates, UTC).")
    ] = "24h",
    by: Annotated[By | None, typer.Option("--by", help="Group rows by this.")] = None,
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """Counts and rates (with 95% Wilson intervals) over a window, from the rollups."""
    from deliverwatch.metrics.windows import WindowError, parse_window
    from deliverwatch.store import stats

    config = load(config_path)
    try:
        since, until = parse_window(window, datetime.now(UTC))
    except WindowError as exc:
        raise fail(f"--window: {exc}") from None
    engine = _engine(config)
    with engine.connect() as conn:
        rows = stats(
            conn,
            domain=domain.lower() if domain else None,
            since=since,
            until=until,
            by=by.value if by else None,
        )
    data = [row.to_dict() for row in rows]
    if output_format is TextOrJson.json:
        payload: Any = data[0] if by is None else data
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    _print_stats(data, domain, window)


@app.command("event")
def event_command(
    provider: Annotated[str, typer.Argument(help="The ESP the event came from.")],
    event_id: Annotated[str, typer.Argument(help="The event's id (the ESP's, or the hash).")],
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
) -> None:
    """One stored event as JSON, with the raw payload the ESP sent (for audit)."""
    from deliverwatch.store.rawblocks import read_event

    engine = _engine(load(config_path))
    with engine.connect() as conn:
        stored = read_event(conn, provider, event_id)
    if stored is None:
        raise fail(f"no stored {provider} event with id {event_id!r}")
    sys.stdout.write(json.dumps(stored.to_dict(), indent=2, default=str) + "\n")


def _percent(rate: dict[str, Any]) -> str:
    if rate["value"] is None:
        return "—"
    return f"{rate['value']:.2%} [{rate['low']:.2%}–{rate['high']:.2%}]"


STATS_COLUMNS = (
    ("sent", "sent"),
    ("delivered", "deliv."),
    ("hard_bounces", "hard"),
    ("soft_bounces", "soft"),
    ("block_bounces", "block"),
    ("complaints", "compl."),
    ("unique_opens", "opens"),
    ("unique_clicks", "clicks"),
    ("unsubscribes", "unsub."),
)
RATE_COLUMNS = (("bounce_rate", "bounce rate [95%]"), ("complaint_rate", "complaint rate [95%]"))


def _print_stats(rows: list[dict[str, Any]], domain: str | None, window: str) -> None:
    table = Table(title=f"{domain or 'all domains'} — {window}", title_justify="left")
    table.add_column("group", overflow="fold")
    for _, label in STATS_COLUMNS:
        table.add_column(label, justify="right")
    for _, label in RATE_COLUMNS:
        table.add_column(label, justify="right")
    for row in rows:
        table.add_row(
            row.get("group") or "all",
            *(str(row["counts"][key]) for key, _ in STATS_COLUMNS),
            *(_percent(row["rates"][key]) for key, _ in RATE_COLUMNS),
        )
    Console(width=max(Console().width, 140)).print(table)


@suppressions_app.command("export")
def suppressions_export(
    domain: Annotated[str | None, typer.Option("--domain", help="Only this domain's.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV file.")] = None,
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
) -> None:
    """Write the suppression list as CSV (recipient, sending_domain, reason, first_at, …)."""
    from deliverwatch.store import list_suppressions

    config = load(config_path)
    engine = _engine(config)
    stream = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        writer = csv.writer(stream, lineterminator="\n")
        columns = [
            "recipient",
            "sending_domain",
            "reason",
            "first_at",
            "last_at",
            "events",
            "provider",
            "event_id",
        ]
        writer.writerow(columns)
        after: str | None = None
        with engine.connect() as conn:
            while page := list_suppressions(conn, sending_domain=domain, after=after):
                for entry in page:
                    data = entry.to_dict()
                    writer.writerow(["" if data[c] is None else data[c] for c in columns])
                after = page[-1].recipient
    finally:
        if output:
            stream.close()


@suppressions_app.command("check")
def suppressions_check(
    file: Annotated[Path, typer.Argument(help="Recipients, one per line (or a CSV's 1st column).")],
    domain: Annotated[str | None, typer.Option("--domain", help="Sending domain.")] = None,
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
) -> None:
    """Print the recipients of FILE that are suppressed; exit 1 when there are any."""
    from deliverwatch.store.suppressions import suppressions_for

    config = load(config_path)
    engine = _engine(config)
    found = 0
    with file.open(encoding="utf-8") as stream, engine.connect() as conn:
        for line in stream:
            address = line.split(",", 1)[0].strip().strip('"')
            if "@" not in address:
                continue
            for entry in suppressions_for(conn, address, sending_domain=domain):
                found += 1
                typer.echo(f"{address}\t{entry.reason}\t{entry.sending_domain or '*'}")
    raise typer.Exit(1 if found else 0)
