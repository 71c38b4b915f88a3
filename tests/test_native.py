"""The modules setup.py compiles with mypyc do the same work as their sources.

Each mode runs ``tests/native_digest.py`` in a process of its own (``DELIVERWATCH_PURE_PYTHON=1``
loads the sources): every provider's fixtures are parsed, and files of generated events read
and made into batches of rows as the file readers send them; the two must agree, value for
value (their marshal bytes may not: interned strings and shared references differ).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from deliverwatch import native
from deliverwatch.config import load_config
from deliverwatch.configfile import NO_COMPILE_ENV

ROOT = Path(__file__).resolve().parents[1]


def run_mode(*, pure: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if pure:
        env[native.PURE_ENV] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "tests.native_digest"], cwd=ROOT, env=env, capture_output=True
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    result: dict[str, object] = json.loads(out.stdout)
    return result


def compiled_sources() -> set[str]:
    """The modules setup.py compiles, by name."""
    paths = re.findall(r'"src/(deliverwatch/[\w/]+)\.py"', (ROOT / "setup.py").read_text())
    return {path.replace("/", ".") for path in paths}


def test_compiled_and_plain_modules_make_the_same_events_and_rows() -> None:
    compiled, plain = run_mode(pure=False), run_mode(pure=True)
    assert plain["compiled"] == []
    if not compiled["compiled"]:
        pytest.skip("the package is installed without its compiled modules (no C compiler)")
    assert set(compiled["compiled"]) == compiled_sources()  # type: ignore[arg-type]
    assert compiled["digest"] == plain["digest"]


def test_ci_runs_the_compiled_modules() -> None:
    """``make install`` compiles them wherever it can install a compiler (scripts/c-compiler):
    in CI the tests must exercise the code users run."""
    if not os.environ.get("CI") or native.pure_python_requested():
        pytest.skip("outside CI, a machine without a C compiler runs the plain modules")
    for name in compiled_sources():
        importlib.import_module(name)
    assert set(native.compiled_modules()) >= compiled_sources()


def test_sources_edited_after_compiling_are_found(tmp_path: Path) -> None:
    root = tmp_path / "deliverwatch"
    (root / "events").mkdir(parents=True)
    suffix = EXTENSION_SUFFIXES[0]  # this interpreter's: ".cpython-311-x86_64-linux-gnu.so"

    def write(path: Path, at: int) -> None:
        path.write_text("")
        os.utime(path, (1_000_000 + at, 1_000_000 + at))

    write(root / "events" / "fresh.py", 0)
    write(root / "events" / f"fresh{suffix}", 1)
    write(root / "events" / f"edited{suffix}", 0)
    write(root / "events" / "edited.py", 1)
    write(root / "plain.py", 0)
    write(root / "other.cpython-39-x86_64-linux-gnu.so", 0)  # another interpreter's
    write(root / "other.py", 1)
    edited, fresh = root / "events/edited.py", root / "events/fresh.py"
    assert sorted(native.compiled_files(root)) == [edited, fresh]
    assert native.stale_modules(root) == [edited]
    # A module's code is in the group's library: an older one is stale code too.
    write(tmp_path / f"{native.GROUP}__mypyc.cpython-39-x86_64-linux-gnu.so", -1)  # not ours
    assert native.stale_modules(root) == [edited]
    write(tmp_path / f"{native.GROUP}__mypyc{suffix}", -1)
    assert native.stale_modules(root) == [edited, fresh]


def test_the_switch_is_not_a_setting(tmp_path: Path) -> None:
    path = tmp_path / "deliverwatch.yaml"
    path.write_text("database_url: sqlite:///x.db\n")
    plain = load_config(path, env={})
    for name in (native.PURE_ENV, NO_COMPILE_ENV):
        assert load_config(path, env={name: "1"}) == plain


def test_the_build_and_the_package_name_things_alike() -> None:
    setup = (ROOT / "setup.py").read_text()
    assert f'GROUP = "{native.GROUP}"' in setup
    assert f'NO_COMPILE = "{NO_COMPILE_ENV}"' in setup
