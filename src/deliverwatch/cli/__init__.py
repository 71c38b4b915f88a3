"""The ``deliverwatch`` command line: argument handling and rendering only.

One module per area registers its commands on :data:`app`. Exit codes are part of the
contract CI gates rely on: 0 success, 1 a check failed its threshold, 2 usage or
configuration error.
"""

from __future__ import annotations

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


def main() -> None:
    app()


__all__ = ["app", "main"]
