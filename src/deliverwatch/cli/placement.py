"""``deliverwatch placement run``: a seed-list test now, as a report or a CI gate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from deliverwatch.cli.base import TextOrJson, app, fail, load

if TYPE_CHECKING:
    from deliverwatch.placement.model import PlacementRun

placement_app = typer.Typer(help="Inbox placement: seed-list tests.", no_args_is_help=True)
app.add_typer(placement_app, name="placement")


@placement_app.command("run")
def placement_run(
    config_path: Annotated[Path | None, typer.Option("--config", "-c", help="Config file.")] = None,
    message: Annotated[
        Path | None,
        typer.Option("--message", help="The .eml or template (.html/.txt) to test with."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds the whole run may take (placement.timeout)."),
    ] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
    fail_under_inbox: Annotated[
        float | None,
        typer.Option(
            "--fail-under-inbox",
            min=0.0,
            max=1.0,
            help="Exit 1 when the inbox ratio (0-1) is below this.",
        ),
    ] = None,
    store: Annotated[
        bool,
        typer.Option("--store/--no-store", help="Keep the run when database_url is set."),
    ] = True,
) -> None:
    """Send a marked message to every seed, find it over IMAP, report where it landed.

    Exit codes: 0 done (and above the gate), 1 inbox ratio under --fail-under-inbox,
    2 config or usage error.
    """
    import asyncio

    from deliverwatch.placement.run import PlacementError, run_placement

    config = load(config_path)
    settings = config.placement
    if timeout is not None and timeout <= 0:
        raise fail("--timeout must be more than 0 seconds")
    data: bytes | None = None
    name = ""
    source = message or (Path(settings.message_file) if settings.message_file else None)
    if source is not None:
        try:
            data, name = source.read_bytes(), source.name
        except OSError as exc:
            raise fail(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        run = asyncio.run(run_placement(settings, message=data, message_name=name, timeout=timeout))
    except PlacementError as exc:
        raise fail(str(exc)) from None
    if store and "database_url" in config.model_fields_set:
        run = _store(config.database_url, run)
    if output_format is TextOrJson.json:
        sys.stdout.write(json.dumps(run.to_dict(), indent=2) + "\n")
    else:
        _print_run(run)
    ratio = run.inbox_rate
    if fail_under_inbox is not None and (ratio is None or ratio < fail_under_inbox):
        shown = "no seed counted" if ratio is None else f"{ratio:.0%}"
        Console(stderr=True).print(
            f"[bold red]inbox ratio {shown} is under {fail_under_inbox:.0%}[/]", highlight=False
        )
        raise typer.Exit(1)


def _store(url: str, run: PlacementRun) -> PlacementRun:
    from deliverwatch.placement.store import record_run
    from deliverwatch.store import begin_write, open_store

    try:
        engine = open_store(url)
    except Exception as exc:  # a bad URL or an unreachable server: say which, exit 2
        raise fail(f"database_url: cannot open the store: {exc}") from None
    with begin_write(engine) as conn:
        stored = record_run(conn, run)
    engine.dispose()
    return stored


def _print_run(run: PlacementRun) -> None:
    console = Console(width=max(Console().width, 120))
    table = Table(title=f"placement {run.token} ({run.duration:.1f} s)")
    for column in ("seed", "provider", "placement", "folder", "seconds", "auth", "spam", "note"):
        table.add_column(column)
    colours = {"inbox": "green", "tab": "cyan", "spam": "red", "missing": "yellow"}
    for r in run.results:
        colour = colours.get(r.placement, "magenta")
        auth = " ".join(f"{k}={v}" for k, v in r.authentication.items())
        note = r.error or (f"{r.smtp_code} {r.smtp_message}" if r.placement == "rejected" else "")
        table.add_row(
            r.address,
            r.provider,
            f"[{colour}]{r.placement}[/]" + (f" ({r.tab})" if r.tab else ""),
            r.folder or "",
            "" if r.seconds is None else f"{r.seconds:.1f}",
            auth,
            "" if r.spam_score is None else f"{r.spam_score:g}",
            note,
        )
    console.print(table)
    overall = run.overall.to_dict()
    parts = [
        f"{p} {overall[f'{p}_rate']:.0%}"
        for p in ("inbox", "tab", "spam", "missing", "rejected")
        if overall[f"{p}_rate"] is not None
    ]
    errors = overall["counts"]["error"]
    console.print(
        "overall: "
        + (", ".join(parts) or "no seed counted")
        + (f"; {errors} error(s)" if errors else ""),
        highlight=False,
    )
    if run.timed_out:
        console.print("[yellow]the run reached its timeout[/]", highlight=False)
