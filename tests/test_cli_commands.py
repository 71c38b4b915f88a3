"""A command line naming a command imports that command's module alone (``cli.COMMANDS``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deliverwatch import cli

# Prints the command's output, then which command modules the process imported.
_RUN = """
import atexit, sys
atexit.register(lambda: print("MODULES", sorted(
    m.rpartition(".")[2] for m in sys.modules
    if m.startswith("deliverwatch.cli.") and m != "deliverwatch.cli.prestart"
)))
sys.argv = ["deliverwatch", *sys.argv[1:]]
from deliverwatch.cli import main
main()
"""


def test_every_command_is_registered_by_the_module_it_names() -> None:
    """Commands, groups and the groups' own commands: a command another module added to a
    group would be missing when only the group's module is imported."""
    app = cli._app()
    commands = {
        info.name or info.callback.__name__.replace("_", "-"): info.callback.__module__
        for info in app.registered_commands
        if info.callback is not None
    }
    groups = {info.name: info.typer_instance for info in app.registered_groups}
    assert set(commands) | set(groups) == set(cli.COMMANDS)
    for name, where in commands.items():
        assert where == f"deliverwatch.cli.{cli.COMMANDS[name]}", name
    for label, group in groups.items():
        assert group is not None and label is not None
        module = sys.modules[f"deliverwatch.cli.{cli.COMMANDS[label]}"]
        assert any(value is group for value in vars(module).values()), label
        assert group.registered_commands and not group.registered_groups, label
        for info in group.registered_commands:
            assert info.callback is not None and info.callback.__module__ == module.__name__


def _run(*argv: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *argv], capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout


@pytest.mark.parametrize(
    ("argv", "imported"),
    [
        (["version"], ["base"]),
        (["stats", "--help"], ["base", "events"]),
        (["alerts", "--help"], ["alerts", "base"]),
    ],
)
def test_a_named_command_imports_its_module_only(argv: list[str], imported: list[str]) -> None:
    code, out = _run(*argv)
    assert code == 0, out
    assert out.rstrip().endswith(f"MODULES {imported!r}"), out
    if argv[-1] == "--help":
        assert "Usage:" in out and argv[0] in out


def test_without_a_command_every_command_is_listed() -> None:
    code, out = _run("--help")
    assert code == 0, out
    for name in cli.COMMANDS:
        assert name in out, name
    assert "'tokens'" in out.rpartition("MODULES")[2]
