"""``deliverwatch serve``: the long-running service (uvicorn)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from deliverwatch.cli.base import app, load


@app.command()
def serve(
    config_path: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port.")] = None,
) -> None:
    """Run the service: webhook endpoints, health checks (API and dashboard to come)."""
    import uvicorn

    from deliverwatch.service.app import create_app

    config = load(config_path)
    # The service's own messages (the group-commit summary at shutdown, store errors) next to
    # uvicorn's, which configures only its own loggers.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run(
        create_app(config),
        host=host or config.server.host,
        port=port or config.server.port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=20,
    )
