"""Build hook: the hot path of event ingest compiled with mypyc, all of it or none.

Everything else is in pyproject.toml. The modules below parse events and make their rows,
which is most of a file import's CPU (docs/benchmarks-events.md). Compiled, they do the same
work in fewer instructions. Where they cannot be compiled (no C compiler, no Python headers,
``DELIVERWATCH_NO_COMPILE=1``, or mypyc itself fails), the package installs as plain Python:
the build says so and goes on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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
#: The shared library of the group (``deliverwatch.native.GROUP`` says the same).
GROUP = "deliverwatch_native"
NO_COMPILE = "DELIVERWATCH_NO_COMPILE"


class BuildAllOrNone(build_ext):
    """Generates the C code only when extensions are built (setup.py runs several times an
    install), and keeps all of the compiled modules or none: each module's library only
    points into the group's, so a partial build would leave modules that cannot be imported,
    or old code behind new shims."""

    def finalize_options(self) -> None:
        self.distribution.ext_modules = self._generated()
        super().finalize_options()

    def _generated(self) -> list[Extension]:
        _remove_built()  # an earlier build's, which a failure would leave behind
        if os.environ.get(NO_COMPILE, "") not in ("", "0"):
            return _plain(f"{NO_COMPILE} is set")
        try:
            from mypyc.build import mypycify

            return mypycify(
                # The build environment has mypy but not our dependencies: their types are
                # Any here (the package's own type check, `make lint`, has them all).
                [
                    "--config-file=",
                    "--ignore-missing-imports",
                    "--follow-imports=silent",
                    *COMPILED,
                ],
                group_name=GROUP,
            )
        except (Exception, SystemExit) as exc:  # mypycify exits on a type error
            return _plain(f"mypyc failed ({type(exc).__name__}: {exc})")

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: CompileError, LinkError, …
            _remove_built()
            for path in self.get_outputs():
                Path(path).unlink(missing_ok=True)
            self.extensions = _plain(f"the C compiler failed ({type(exc).__name__}: {exc})")


def _remove_built() -> None:
    for path in Path("src").rglob("*.so"):
        path.unlink()


def _plain(why: str) -> list[Extension]:
    print(f"deliverwatch: installing plain Python modules: {why}", file=sys.stderr)
    return []


def placeholder() -> list[Any]:
    """One extension, so that setuptools runs ``build_ext``; :class:`BuildAllOrNone` makes
    the real ones."""
    return [Extension(f"{GROUP}__mypyc", sources=[])]


setup(ext_modules=placeholder(), cmdclass={"build_ext": BuildAllOrNone})
