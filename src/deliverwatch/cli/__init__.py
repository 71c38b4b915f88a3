"""The ``deliverwatch`` command line: argument handling and rendering only.

One module per area registers its commands on :data:`app`. Exit codes are part of the
contract CI gates rely on: 0 success, 1 a check failed its threshold, 2 usage or
configuration error.

The command modules are imported when :data:`app` is first asked for, so that ``main`` can
start a big file's readers first (``cli.prestart``).
"""

from __future__ import annotations

import contextlib
import gc
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer import Typer

    app: Typer


def main() -> None:
    from deliverwatch import gcpace
    from deliverwatch.cli.prestart import prestart

    started = prestart(sys.argv[1:])
    try:
        app = _app(sys.argv[1] if len(sys.argv) > 1 else None)
        gcpace.settle()  # the imports' objects out of the collector's sight, and a slower pace
        app()
    finally:
        if started:  # readers the command did not take (it failed first) are stopped
            from deliverwatch.events.reader import discard_prestarted

            discard_prestarted()
        _before_exit()


def _before_exit() -> None:
    """Skip the garbage collection of the interpreter's teardown.

    It walks everything still alive (typer, pydantic, SQLAlchemy, the parsers' caches), again
    and again as the modules are cleared: 0.4 s after a big import had printed its answer
    (measured on the standard SendGrid file, docs/benchmarks-events.md). Frozen, those
    objects are left to the end of the process; the stores are closed first, so none waits
    for a collection that no longer comes. (So a command closes what it opens, as they all
    do: a file left in a reference cycle would not be flushed by a collection at exit.)
    """
    engines = sys.modules.get("deliverwatch.store.engine")
    if engines is not None:
        with contextlib.suppress(Exception):  # the command's outcome and exit code stand
            engines.dispose_engines()
    gc.freeze()


#: The module that registers each command (``base`` registers ``version`` and ``config``).
#: A command line naming one imports that module alone: the others' imports (the alert,
#: DMARC, placement and lint machinery) are not needed to run it.
COMMANDS = {
    "version": "base",
    "config": "base",
    "check": "check",
    "ingest": "events",
    "stats": "events",
    "event": "events",
    "suppressions": "events",
    "lint": "lint",
    "serve": "serve",
    "run-once": "serve",
    "alerts": "alerts",
    "dmarc": "dmarc",
    "notify": "notify",
    "placement": "placement",
    "tokens": "tokens",
}
_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def _app(command: str | None = None) -> Typer:
    """The app with every command registered, or only ``command``'s when it is one."""
    import importlib

    module = COMMANDS.get(command or "")
    for name in (module,) if module else _MODULES:
        importlib.import_module(f"deliverwatch.cli.{name}")
    from deliverwatch.cli.base import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main"]
