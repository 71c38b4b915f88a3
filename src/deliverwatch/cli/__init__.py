"""The ``deliverwatch`` command line: argument handling and rendering only.

One module per area registers its commands on :data:`app`. Exit codes are part of the
contract CI gates rely on: 0 success, 1 a check failed its threshold, 2 usage or
configuration error.

The command modules are imported when :data:`app` is first asked for, so that ``main`` can
start a big file's readers first (``cli.prestart``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer import Typer

    app: Typer


def main() -> None:
    from deliverwatch.cli.prestart import prestart

    started = prestart(sys.argv[1:])
    try:
        _app()()
    finally:
        if started:  # readers the command did not take (it failed first) are stopped
            from deliverwatch.events.reader import discard_prestarted

            discard_prestarted()


def _app() -> Typer:
    from deliverwatch.cli import (  # noqa: F401  (registers the commands)
        alerts,
        check,
        dmarc,
        events,
        lint,
        notify,
        placement,
        serve,
        tokens,
    )
    from deliverwatch.cli.base import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main"]
