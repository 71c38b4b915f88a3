"""``deliverwatch alerts``: list, show, acknowledge, resolve, silence, evaluate."""

from __future__ import annotations

import getpass
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deliverwatch.cli.base import TextOrJson, app, fail, load

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from deliverwatch.config import Config

alerts_app = typer.Typer(help="Alerts: list, acknowledge, silence, evaluate.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Config file.")]


FormatOption = Annotated[TextOrJson, typer.Option("--format", "-f")]


class StateChoice(StrEnum):
    open = "open"
    pending = "pending"
    firing = "firing"
    resolved = "resolved"


def _engine(config: Config) -> Engine:
    from deliverwatch.store import open_store

    try:
        return open_store(config.database_url)
    except Exception as exc:  # a bad URL or an unreachable server: say which, exit 2
        raise fail(f"database_url: cannot open the store: {exc}") from None


def _clock() -> Any:
    from deliverwatch.clock import SystemClock

    return SystemClock()


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@alerts_app.command("list")
def list_command(
    state: Annotated[
        StateChoice | None, typer.Option("--state", help="open = pending or firing.")
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Only this domain.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    config_path: ConfigOption = None,
    output_format: FormatOption = TextOrJson.text,
) -> None:
    """Alerts, newest first."""
    from deliverwatch.alerts.store import list_alerts

    config = load(config_path)
    engine = _engine(config)
    with engine.connect() as conn:
        found = list_alerts(conn, state=state.value if state else None, domain=domain, limit=limit)
    if output_format is TextOrJson.json:
        _json([alert.to_dict() for alert in found])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "state", "severity", "domain", "rule", "summary", "since")
    for alert in found:
        ack = " (acked)" if alert.acknowledged_at else ""
        since = alert.fired_at or alert.started_at
        table.add_row(
            str(alert.id),
            alert.state + ack,
            alert.severity,
            alert.domain + (f" @ {alert.provider}" if alert.provider else ""),
            alert.rule,
            alert.summary,
            since.strftime("%Y-%m-%d %H:%M"),
        )
    Console(highlight=False).print(table if found else "no alerts")


@alerts_app.command("show")
def show_command(
    alert_id: Annotated[int, typer.Argument(help="Alert id (from alerts list).")],
    config_path: ConfigOption = None,
    output_format: FormatOption = TextOrJson.text,
) -> None:
    """One alert: evidence, causes, actions and its history."""
    from deliverwatch.alerts.store import alert_transitions_of, get_alert

    config = load(config_path)
    engine = _engine(config)
    with engine.connect() as conn:
        alert = get_alert(conn, alert_id)
        if alert is None:
            raise fail(f"no alert {alert_id}")
        history = alert_transitions_of(conn, alert_id)
    data = {**alert.to_dict(), "transitions": [t.to_dict() for t in history]}
    if output_format is TextOrJson.json:
        _json(data)
        return
    lines = [
        f"alert {alert.id}: [{alert.severity}] {alert.summary}",
        f"  state {alert.state}; rule {alert.rule} ({alert.kind}); domain {alert.domain}"
        + (f"; provider {alert.provider}" if alert.provider else ""),
        f"  started {data['started_at']}; fired {data['fired_at']}; resolved {data['resolved_at']}",
    ]
    if alert.acknowledged_at:
        lines.append(f"  acknowledged {data['acknowledged_at']} by {alert.acknowledged_by}")
    for title, items in (
        ("evidence", data["evidence"]),
        ("likely causes", data["causes"]),
        ("actions", data["actions"]),
    ):
        if items:
            lines.append(f"{title}:")
            lines += [f"  - {item}" for item in items]
    lines.append("history:")
    for item in data["transitions"]:
        who = f" by {item['actor']}" if item["actor"] else ""
        note = f" ({item['note']})" if item["note"] else ""
        lines.append(f"  {item['at']} {item['event']}{who}{note}")
    sys.stdout.write("\n".join(lines) + "\n")


@alerts_app.command("ack")
def ack_command(
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    by: Annotated[str | None, typer.Option("--by", help="Who (default: cli:$USER).")] = None,
    config_path: ConfigOption = None,
    output_format: FormatOption = TextOrJson.text,
) -> None:
    """Acknowledge an alert: no more reminders, no escalation."""
    from deliverwatch.alerts.store import acknowledge

    _act(acknowledge, alert_id, by, config_path, output_format, "acknowledged")


@alerts_app.command("resolve")
def resolve_command(
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    by: Annotated[str | None, typer.Option("--by", help="Who (default: cli:$USER).")] = None,
    config_path: ConfigOption = None,
    output_format: FormatOption = TextOrJson.text,
) -> None:
    """Resolve an alert by hand (it comes back if its signal is still active)."""
    from deliverwatch.alerts.store import resolve

    _act(resolve, alert_id, by, config_path, output_format, "resolved")


def _act(
    action: Any, alert_id: int, by: str | None, config_path: Path | None, fmt: TextOrJson, done: str
) -> None:
    config = load(config_path)
    engine = _engine(config)
    try:
        alert = action(engine, alert_id, _who(by), _clock())
    except ValueError as exc:
        raise fail(str(exc)) from None
    if alert is None:
        raise fail(f"no alert {alert_id}")
    if fmt is TextOrJson.json:
        _json(alert.to_dict())
    else:
        sys.stdout.write(f"alert {alert_id} {done}: {alert.summary}\n")


@alerts_app.command("silence")
def silence_command(
    match: Annotated[
        list[str],
        typer.Option(
            "--match",
            help="KEY=VALUE (domain, rule, kind, severity, mailbox_provider, subject, "
            "fingerprint; shell patterns allowed); repeat: all must match.",
        ),
    ],
    duration: Annotated[
        str | None, typer.Option("--duration", help="How long: 30m, 2h, 1d.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601 end instead.")] = None,
    comment: Annotated[str, typer.Option("--comment", help="Why.")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Who (default: cli:$USER).")] = None,
    config_path: ConfigOption = None,
    output_format: FormatOption = TextOrJson.text,
) -> None:
    """Silence matching alerts until a time: they still change state but send nothing."""
    from deliverwatch.alerts.store import add_silence
    from deliverwatch.metrics.windows import WindowError, parse_duration, parse_instant

    matchers = {}
    for item in match:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--match {item!r} is not KEY=VALUE")
        matchers[key.strip()] = value.strip()
    if (duration is None) == (until is None):
        raise fail("give --duration or --until")
    clock = _clock()
    try:
        ends_at = clock.now() + parse_duration(duration) if duration else parse_instant(until or "")
    except WindowError as exc:
        raise fail(str(exc)) from None
    config = load(config_path)
    engine = _engine(config)
    try:
        silence = add_silence(engine, matchers, ends_at, _who(by), comment, clock)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if output_format is TextOrJson.json:
        _json(silence.to_dict())
    else:
        sys.stdout.write(f"silence {silence.id} until {silence.to_dict()['ends_at']}\n")


@alerts_app.command("silences")
def silences_command(
    show_all: Annotated[bool, typer.Option("--all", help="Ended and removed ones too.")] = False,
    config_path: ConfigOption = None,
    output_format: FormatOption = TextOrJson.text,
) -> None:
    """Silences, newest first (active ones unless --all)."""
    from deliverwatch.alerts.store import list_silences

    config = load(config_path)
    engine = _engine(config)
    with engine.connect() as conn:
        found = list_silences(conn, active_only=not show_all, now=_clock().now())
    if output_format is TextOrJson.json:
        _json([s.to_dict() for s in found])
        return
    for silence in found:
        data = silence.to_dict()
        matchers = " ".join(f"{k}={v}" for k, v in silence.matchers.items())
        sys.stdout.write(
            f"{silence.id}: {matchers} until {data['ends_at']} by {silence.created_by}"
            + (f" ({silence.comment})" if silence.comment else "")
            + ("; removed" if silence.removed_at else "")
            + "\n"
        )
    if not found:
        sys.stdout.write("no silences\n")


@alerts_app.command("unsilence")
def unsilence_command(
    silence_id: Annotated[int, typer.Argument(help="Silence id.")],
    config_path: ConfigOption = None,
) -> None:
    """End a silence now."""
    from deliverwatch.alerts.store import remove_silence

    config = load(config_path)
    if not remove_silence(_engine(config), silence_id, _clock()):
        raise fail(f"no active silence {silence_id}")
    sys.stdout.write(f"silence {silence_id} removed\n")


@alerts_app.command("evaluate")
def evaluate_command(
    deliver: Annotated[
        bool, typer.Option("--deliver/--no-deliver", help="Then one outbox delivery pass.")
    ] = True,
    config_path: ConfigOption = None,
    output_format: FormatOption = TextOrJson.text,
) -> None:
    """One evaluation cycle, then one delivery pass over the outbox (for cron and tests).
    Exit 1 when a delivery failed."""
    import asyncio

    from deliverwatch.alerts.engine import evaluate

    config = load(config_path)
    engine = _engine(config)
    clock = _clock()
    result = evaluate(engine, config, clock)
    report = None
    if deliver:
        from deliverwatch.notify.outbox import deliver_due

        report = asyncio.run(deliver_due(engine, config, clock))
    if output_format is TextOrJson.json:
        _json({"evaluation": result.to_dict(), "delivery": report.to_dict() if report else None})
    else:
        sys.stdout.write(
            f"{result.rules} rules, {result.signals} signals ({result.active} active): "
            f"{result.opened} new, {result.fired} fired, {result.resolved} resolved, "
            f"{result.reminders} reminders, {result.escalations} escalations; "
            f"{result.notifications} notifications queued, {result.held} held, "
            f"{result.silenced} silenced; {result.open_alerts} open alerts\n"
        )
        for rule, error in sorted(result.errors.items()):
            sys.stdout.write(f"rule {rule}: {error}\n")
        if report is not None:
            sys.stdout.write(
                f"delivery: {report.delivered} delivered, {report.retrying} retrying, "
                f"{report.failed} failed\n"
            )
    raise typer.Exit(0 if report is None or report.ok else 1)
