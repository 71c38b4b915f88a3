"""Build hook: the hot path of event ingest compiled with mypyc, when it can be.

Everything else is in pyproject.toml. The modules below parse events and make their rows,
which is most of a file import's CPU (docs/benchmarks-events.md). Compiled, they do the same
work in fewer instructions; they stay plain Python modules too, and a machine without a C
compiler (or ``DELIVERWATCH_PURE_PYTHON=1``) gets those, with a warning at install.
"""

from __future__ import annotations

import os

from setuptools import Extension, setup

#: Compiled together, so calls between them are direct C calls. A module run with
#: ``python -m`` (events.reader) cannot be one: runpy needs its code object.
COMPILED = [
    "src/deliverwatch/events/model.py",
    "src/deliverwatch/events/classify.py",
    "src/deliverwatch/events/mailbox.py",
    "src/deliverwatch/events/rows.py",
    "src/deliverwatch/events/providers/jsonfields.py",
    "src/deliverwatch/events/providers/jsonstream.py",
    "src/deliverwatch/events/providers/batch.py",
    "src/deliverwatch/events/providers/generic.py",
    "src/deliverwatch/events/providers/sendgrid.py",
]


def compiled_extensions() -> list[Extension]:
    if os.environ.get("DELIVERWATCH_PURE_PYTHON"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    extensions = mypycify(
        # The build environment has mypy but not our dependencies: their types are Any here
        # (the package's own type check, `make lint`, has them all).
        ["--config-file=", "--ignore-missing-imports", "--follow-imports=silent", *COMPILED],
        group_name="deliverwatch_native",
    )
    for extension in extensions:
        extension.optional = True  # no compiler: the plain modules, and a warning
    return extensions


setup(ext_modules=compiled_extensions())
