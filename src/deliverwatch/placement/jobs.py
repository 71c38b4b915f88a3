"""The scheduled placement test: run when due, store the run.

The scheduler calls :func:`run_scheduled` every cycle; it decides itself whether a run is due
(``placement.interval`` since the latest stored run started), so a restart or a
second scheduler replica does not test twice in a row. ``interval: 0`` (the default)
leaves seed tests to ``deliverwatch placement run``: each run sends real mail.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.engine import Engine

from deliverwatch.clock import Clock
from deliverwatch.config import Config
from deliverwatch.placement.model import PlacementRun
from deliverwatch.placement.run import PlacementError, run_placement
from deliverwatch.placement.store import latest_placement, record_run
from deliverwatch.store.engine import begin_write

log = logging.getLogger(__name__)


def is_due(config: Config, engine: Engine, clock: Clock) -> bool:
    settings = config.placement
    if not settings.interval or settings.problems():
        return False
    with engine.connect() as conn:
        latest = latest_placement(conn)
    if latest is None:
        return True
    return clock.now() >= latest.started_at + settings.interval


async def run_scheduled(config: Config, engine: Engine, clock: Clock) -> PlacementRun | None:
    """Run and store a placement test if one is due; None when not due (or not configured)."""
    if not is_due(config, engine, clock):
        return None
    settings = config.placement
    message: bytes | None = None
    name = ""
    if settings.message_file:
        path = Path(settings.message_file)
        try:
            message, name = await asyncio.to_thread(path.read_bytes), path.name
        except OSError as exc:
            log.error("placement: cannot read message_file %s: %s", path, exc.strerror or exc)
            return None
    try:
        run = await run_placement(settings, message=message, message_name=name, clock=clock)
    except PlacementError as exc:
        log.error("placement: %s", exc)
        return None
    with begin_write(engine) as conn:
        return record_run(conn, run)
