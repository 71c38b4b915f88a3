"""Notifications on the command line: ``notify test``, ``notify outbox``, ``notify deliver``."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deliverwatch.cli.base import TextOrJson, app, fail, load

notify_app = typer.Typer(
    help="Notification channels and the delivery outbox.", no_args_is_help=True
)
app.add_typer(notify_app, name="notify")

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Config file.")]


class State(StrEnum):
    pending = "pending"
    sending = "sending"
    delivered = "delivered"
    failed = "failed"


@notify_app.command("test")
def test_command(
    channel: Annotated[str, typer.Argument(help="A name from notifications.channels.")],
    config_path: ConfigOption = None,
) -> None:
    """Send a test notification straight to CHANNEL (not through the outbox); exit 1 if the
    channel did not accept it, with the reason."""
    import asyncio

    from deliverwatch.clock import SystemClock
    from deliverwatch.notify.channels import ChannelError
    from deliverwatch.notify.delivery import send_now
    from deliverwatch.notify.model import sample_notification

    config = load(config_path)
    settings = config.notifications
    channel_config = settings.channel(channel)
    if channel_config is None:
        known = ", ".join(settings.channel_names) or "none configured"
        raise fail(f"unknown channel {channel!r} (notifications.channels: {known})")
    clock = SystemClock()
    notification = sample_notification(clock.now(), link=settings.dashboard_url)
    console = Console(highlight=False)
    try:
        asyncio.run(send_now(channel_config, notification, clock, settings=settings.delivery))
    except ChannelError as exc:
        kind = "permanent error" if exc.permanent else "temporary error, may work later"
        reason = escape(str(exc))
        console.print(f"[bold red]failed[/] {channel} ({channel_config.type}): {reason} ({kind})")
        raise typer.Exit(1) from None
    console.print(f"[bold green]ok[/] {channel} ({channel_config.type}) accepted the test message")


@notify_app.command("outbox")
def outbox_command(
    state: Annotated[
        list[State] | None, typer.Option("--state", help="Only rows in this state (repeatable).")
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 50,
    config_path: ConfigOption = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """Outbox rows, newest first: state, attempts, next attempt and the last error."""
    from deliverwatch.notify.outbox import OutboxState, list_outbox

    config = load(config_path)
    engine = _engine(config.database_url)
    states: list[OutboxState] | None = [s.value for s in state] if state else None
    with engine.connect() as conn:
        items = list_outbox(conn, states, channel=channel, limit=limit)
    if output_format is TextOrJson.json:
        sys.stdout.write(json.dumps([i.to_dict() for i in items], indent=2) + "\n")
        return
    table = Table("id", "channel", "state", "tries", "created (UTC)")
    table.add_column("notification · next attempt / delivered · last error", overflow="fold")
    for item in items:
        detail = [escape(f"{item.kind}: {item.title}")]
        if item.state == "delivered" and item.delivered_at is not None:
            detail.append(f"delivered {item.delivered_at:%Y-%m-%d %H:%M:%S}")
        elif item.state == "pending":
            detail.append(f"next attempt {item.next_attempt_at:%Y-%m-%d %H:%M:%S}")
        if item.last_error:
            detail.append(f"[red]{escape(item.last_error)}[/]")
        table.add_row(
            str(item.id),
            item.channel,
            _state(item.state),
            str(item.attempts),
            f"{item.created_at:%Y-%m-%d %H:%M}",
            "\n".join(detail),
        )
    Console(highlight=False).print(table)


@notify_app.command("deliver")
def deliver_command(
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="Only this channel (repeatable).")
    ] = None,
    config_path: ConfigOption = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """One delivery pass over the outbox (what the service does on its schedule); exit 1 if
    an attempt failed."""
    import asyncio

    from deliverwatch.clock import SystemClock
    from deliverwatch.notify.delivery import deliver_due

    config = load(config_path)
    engine = _engine(config.database_url)
    report = asyncio.run(deliver_due(engine, config, SystemClock(), channels=channel))
    if output_format is TextOrJson.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        console = Console(highlight=False)
        console.print(
            f"delivered {report.delivered}, retrying {report.retrying}, "
            f"failed {report.failed}, waiting {report.released}"
        )
        for failure in report.failures:
            later = f"retry at {failure.retry_at:%H:%M:%S}" if failure.retry_at else "given up"
            error = escape(failure.error)
            console.print(f"  {failure.channel} #{failure.row_id}: {error} ({later})")
    if not report.ok:
        raise typer.Exit(1)


def _state(state: str) -> str:
    colour = {"delivered": "green", "failed": "red", "sending": "cyan"}.get(state, "yellow")
    return f"[{colour}]{state}[/]"


def _engine(url: str) -> Any:
    from deliverwatch.store import open_store

    try:
        return open_store(url)
    except Exception as exc:  # a bad URL or an unreachable server: say which, exit 2
        raise fail(f"database_url: cannot open the store: {exc}") from None
