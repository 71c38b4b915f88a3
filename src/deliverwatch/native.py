"""Which modules run compiled, and running without them.

``setup.py`` compiles the hot path of event ingest with mypyc when the machine has a C
compiler: the compiled modules sit next to their sources, and Python imports them first.
With ``DELIVERWATCH_PURE_PYTHON=1`` in the environment every module of the package is loaded
from its source instead (and so are the file readers' processes, which inherit it): for
profilers and debuggers, which see into Python code only, and to compare the two.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import SOURCE_SUFFIXES, FileFinder, ModuleSpec, SourceFileLoader
from pathlib import Path
from types import ModuleType

PURE_ENV = "DELIVERWATCH_PURE_PYTHON"
PACKAGE = __name__.rpartition(".")[0]
#: The suffixes of a compiled module's file (``rows.cpython-311-x86_64-linux-gnu.so``).
_NATIVE_SUFFIXES = (".so", ".pyd")


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
                finder = self._finders[entry] = FileFinder(
                    entry, (SourceFileLoader, SOURCE_SUFFIXES)
                )
            if (spec := finder.find_spec(fullname)) is not None:
                return spec
        return None


def use_sources_only() -> None:
    """Load every module of the package imported from now on from its source (idempotent)."""
    if not any(isinstance(finder, _SourceOnly) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnly())


def pure_python_requested() -> bool:
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def compiled_modules() -> list[str]:
    """The package's modules loaded so far that run compiled, by name."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith(f"{PACKAGE}.")
        and str(getattr(module, "__file__", None) or "").endswith(_NATIVE_SUFFIXES)
    )


def compiled_files(root: Path | None = None) -> dict[Path, Path]:
    """The package's compiled modules next to their sources: source → compiled file."""
    root = root or Path(__file__).parent
    found = {}
    for suffix in _NATIVE_SUFFIXES:
        for native in root.rglob(f"*{suffix}"):
            source = native.with_name(f"{native.name.partition('.')[0]}.py")
            if source.is_file():
                found[source] = native
    return found


def stale_modules(root: Path | None = None) -> list[Path]:
    """Sources edited since their module was compiled (the compiled one would still run:
    ``make install`` compiles them again)."""
    return sorted(
        source
        for source, native in compiled_files(root).items()
        if source.stat().st_mtime > native.stat().st_mtime
    )


def describe() -> str:
    """How the package runs here, for benchmark reports."""
    if not (count := len(compiled_files())):
        return "plain Python modules"
    if pure_python_requested():
        return f"plain Python modules ({PURE_ENV}; {count} compiled ones not used)"
    return f"{count} modules compiled (mypyc)"
