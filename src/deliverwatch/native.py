"""Which modules run compiled, and running without them.

``setup.py`` compiles the hot path of event ingest with mypyc when the machine has a C
compiler: each compiled module sits next to its source as a small library that points into
the group's shared one (``deliverwatch_native__mypyc``, beside the package), and Python
imports it first. With ``DELIVERWATCH_PURE_PYTHON=1`` in the environment every module of the
package is loaded from its source instead (and so are the file readers' processes, which
inherit it): for profilers and debuggers, which see into Python code only, and to compare
the two.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import (
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    FileFinder,
    ModuleSpec,
    SourceFileLoader,
)
from pathlib import Path
from types import ModuleType

from deliverwatch import configfile
from deliverwatch.configfile import PURE_ENV

PACKAGE = __name__.rpartition(".")[0]
#: The group's shared library (setup.py's GROUP).
GROUP = "deliverwatch_native"


class _SourceOnly(MetaPathFinder):
    """Finds the package's modules among their sources only, ahead of the usual finders."""

    def __init__(self) -> None:
        self._finders: dict[str, FileFinder] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if path is None or not fullname.startswith(f"{PACKAGE}."):
            return None
        for entry in path:
            if (finder := self._finders.get(entry)) is None:
                loaders = (SourceFileLoader, SOURCE_SUFFIXES)
                finder = self._finders[entry] = FileFinder(entry, loaders)
            spec = finder.find_spec(fullname, target)
            # A directory without __init__.py is a namespace package: the usual finders
            # make it, with all its portions (its modules still come through here).
            if spec is not None and spec.loader is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        self._finders.clear()


def use_sources_only() -> None:
    """Load every module of the package imported from now on from its source (idempotent)."""
    if not any(isinstance(finder, _SourceOnly) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnly())


def pure_python_requested() -> bool:
    return configfile.pure_python_requested(os.environ)


def compiled_modules() -> list[str]:
    """The package's modules loaded so far that run compiled, by name."""
    suffixes = tuple(EXTENSION_SUFFIXES)
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith(f"{PACKAGE}.")
        and str(getattr(module, "__file__", None) or "").endswith(suffixes)
    )


def compiled_files(root: Path | None = None) -> dict[Path, Path]:
    """The package's compiled modules for this interpreter, next to their sources:
    source → compiled file."""
    root = root or Path(__file__).parent
    found = {}
    for native in root.rglob("*.*"):
        stem, dot, suffix = native.name.partition(".")
        source = native.with_name(f"{stem}.py")
        if dot and f".{suffix}" in EXTENSION_SUFFIXES and source.is_file():
            found[source] = native
    return found


def stale_modules(root: Path | None = None) -> list[Path]:
    """Sources edited since they were compiled (their old code would still run:
    ``make install`` compiles them again). A module's code is in the group's library, so
    that counts too."""
    root = root or Path(__file__).parent
    groups = [
        path.stat().st_mtime
        for path in root.parent.glob(f"{GROUP}__mypyc.*")
        if path.name.removeprefix(f"{GROUP}__mypyc") in EXTENSION_SUFFIXES
    ]
    return sorted(
        source
        for source, native in compiled_files(root).items()
        if source.stat().st_mtime > min([native.stat().st_mtime, *groups])
    )


def in_source_tree() -> bool:
    """Whether the package runs from its checkout (an editable install), where a source can
    be edited after it was compiled; an installed wheel's file times say nothing of that."""
    return (Path(__file__).parents[2] / "setup.py").is_file()


def describe() -> str:
    """How the package runs here, for benchmark reports."""
    if not (count := len(compiled_files())):
        return "plain Python modules"
    if pure_python_requested():
        return f"plain Python modules ({PURE_ENV}; {count} compiled ones not used)"
    return f"{count} modules compiled (mypyc)"
