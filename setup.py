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
NO_COMPILE = "DELIVERWATCH_NO_COMPILE"  # configfile.NO_COMPILE_ENV says the same
ROOT = Path(__file__).resolve().parent


class BuildAllOrNone(build_ext):
    """Keeps all of the compiled modules or none: each module's library only points into
    the group's, so a partial build would leave modules that cannot be imported, or old code
    behind new shims. The C code is generated whenever the command is set up (other commands
    ask it for its sources too); compiled files are removed only when it builds."""

    def finalize_options(self) -> None:
        self.generated = self._generated()
        # The placeholder keeps build_ext running when the modules stay plain: its run()
        # removes what an earlier build compiled.
        self.distribution.ext_modules = self.generated or placeholder()
        super().finalize_options()

    def run(self) -> None:
        inplace = bool(self.inplace)  # an editable install's build sets it too
        self._remove_built(inplace)  # an earlier build's, which this one may not replace
        if not self.generated:
            return
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: CompileError, LinkError, …
            self._remove_built(inplace)
            _plain(f"they could not be built ({type(exc).__name__}: {exc})")

    def _generated(self) -> list[Extension]:
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

    def _remove_built(self, inplace: bool) -> None:
        places = [Path(self.build_lib)] + ([ROOT / "src"] if inplace else [])
        for place in places:
            for suffix in ("*.so", "*.pyd"):
                for path in place.rglob(suffix):
                    path.unlink()


def _plain(why: str) -> list[Extension]:
    print(f"deliverwatch: the hot path stays plain Python: {why}", file=sys.stderr)
    return []


def placeholder() -> list[Any]:
    """One extension, so that setuptools runs ``build_ext``; :class:`BuildAllOrNone` makes
    the real ones."""
    return [Extension(f"{GROUP}__mypyc", sources=[])]


setup(ext_modules=placeholder(), cmdclass={"build_ext": BuildAllOrNone})
