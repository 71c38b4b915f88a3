"""``deliverwatch serve`` (the service) and ``deliverwatch run-once`` (its jobs, once)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deliverwatch.cli.base import TextOrJson, app, fail, load

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from deliverwatch.config import Config

log = logging.getLogger("deliverwatch.serve")
BOOTSTRAP_TOKEN_FILE = "deliverwatch-admin.token"  # noqa: S105  (a file name)


def _logging() -> None:
    # The service's own messages next to uvicorn's, which configures only its own loggers.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")


@app.command()
def serve(
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port.")] = None,
    no_scheduler: Annotated[
        bool,
        typer.Option("--no-scheduler", help="Serve HTTP only; never take the scheduler's lead."),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="Server processes (default server.workers)."),
    ] = None,
) -> None:
    """Run the service: webhooks, API, dashboard, metrics, and the scheduled jobs."""
    import uvicorn

    from deliverwatch.service.app import create_app
    from deliverwatch.store import open_store

    config = load(config_path)
    _logging()
    try:
        engine = open_store(config.database_url)
    except Exception as exc:  # the message is what the user needs
        raise fail(f"cannot open the store {_redacted(config.database_url)}: {exc}") from None
    _bootstrap_token(config, engine)
    options: dict[str, Any] = {
        "host": host or config.server.host,
        "port": port or config.server.port,
        "log_level": "info",
        "access_log": False,
        "timeout_graceful_shutdown": 20,
    }
    processes = workers or config.server.workers
    if processes > 1:
        # Each worker process loads the config itself (same file, same environment) and opens
        # its own store connections; the scheduler's leader election picks one of them.
        engine.dispose()
        if config_path is not None:
            os.environ["DELIVERWATCH_CONFIG"] = str(config_path.resolve())
        if no_scheduler:
            os.environ["DELIVERWATCH_SCHEDULER__ENABLED"] = "false"
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # /metrics sums the workers
            import tempfile

            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
                prefix="deliverwatch-metrics-"
            )
        # Our own supervisor, not uvicorn's: a socket per worker (service/workers.py).
        from deliverwatch.service.workers import port_is_free, supervise

        if not port_is_free(str(options["host"]), int(options["port"])):
            raise fail(f"cannot listen on {options['host']}:{options['port']}: already in use")
        raise typer.Exit(supervise(processes, str(options["host"]), int(options["port"])))
    try:
        uvicorn.run(create_app(config, engine=engine, scheduler=not no_scheduler), **options)
    finally:
        engine.dispose()


@app.command("run-once")
def run_once(
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    job: Annotated[
        list[str] | None, typer.Option("--job", help="Only this job (repeat); default: all due.")
    ] = None,
    output_format: Annotated[TextOrJson, typer.Option("--format", "-f")] = TextOrJson.text,
) -> None:
    """Run every due scheduled job once and exit (for cron). Exit 1 when a job failed."""
    import asyncio

    from deliverwatch.clock import SystemClock
    from deliverwatch.scheduler.jobs import JOBS
    from deliverwatch.scheduler.runner import Scheduler
    from deliverwatch.store import open_store

    config = load(config_path)
    unknown = sorted(set(job or ()) - set(JOBS))
    if unknown:
        raise fail(f"--job: unknown job(s) {', '.join(unknown)}; jobs: {', '.join(JOBS)}")
    if output_format is TextOrJson.text:
        _logging()
    engine = open_store(config.database_url)
    try:
        jobs = {name: JOBS[name] for name in job} if job else None
        scheduler = Scheduler(config, engine, SystemClock(), jobs=jobs)
        outcomes = asyncio.run(scheduler.run_once())
    finally:
        engine.dispose()
    if output_format is TextOrJson.json:
        sys.stdout.write(json.dumps([o.to_dict() for o in outcomes], indent=2) + "\n")
    else:
        for outcome in outcomes:
            extra = outcome.error or (json.dumps(outcome.detail) if outcome.detail else "")
            typer.echo(f"{outcome.job:<14} {outcome.status:<8} {outcome.seconds:7.2f}s  {extra}")
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(1)


def _bootstrap_token(config: Config, engine: Engine) -> None:
    """With no API token at all, create one named ``admin`` so the dashboard can be opened,
    and put it in a file readable by this user only (never in the log)."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from deliverwatch.store import begin_write
    from deliverwatch.store.apitokens import TokenError, count_active, create_token, list_tokens

    with engine.connect() as conn:
        if count_active(conn) or list_tokens(conn, include_revoked=True):
            return
    path = _data_dir(config.database_url) / BOOTSTRAP_TOKEN_FILE
    try:
        with begin_write(engine) as conn:
            token, _ = create_token(conn, "admin", read_only=False, now=datetime.now(UTC))
    except (TokenError, sa.exc.IntegrityError):
        return  # another instance starting at the same moment made it
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    log.warning(
        "created the first API token 'admin' and wrote it to %s (readable by you only): "
        "use it to log in to the dashboard, store it, then delete the file",
        path,
    )


def _data_dir(url: str) -> Path:
    """Where a SQLite store lives (else the working directory)."""
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        return Path(url.removeprefix("sqlite:///")).expanduser().resolve().parent
    return Path.cwd()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all
        return "<invalid database_url>"
