"""The provider registry is built from the modules; module doctests hold."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import deliverwatch.events.providers as package
from deliverwatch.events import classify, mailbox
from deliverwatch.events.providers import PROVIDERS, get_provider
from deliverwatch.events.providers.base import Provider

EXPECTED = {
    "brevo", "generic", "mailgun", "mailjet", "mandrill", "postmark", "resend", "sendgrid",
    "ses", "sparkpost",
}  # fmt: skip


def test_registry_holds_every_provider_module_by_name() -> None:
    assert set(PROVIDERS) == EXPECTED
    for name, provider in PROVIDERS.items():
        assert isinstance(provider, Provider)
        assert provider.name == name
        assert get_provider(name) is provider
        assert provider.signed


def test_unknown_and_helper_names_are_not_providers() -> None:
    for name in ("base", "nope", "../sendgrid", "sendgrid.x"):
        assert name not in PROVIDERS
        with pytest.raises(KeyError, match="unknown provider"):
            get_provider(name)


def test_asking_for_one_provider_imports_only_its_module() -> None:
    """A fresh interpreter: this one has imported every provider already."""
    script = (
        "import sys; from deliverwatch.events.providers import get_provider; "
        "get_provider('mailgun'); "
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules "
        "if m.startswith('deliverwatch.events.providers.')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(out.stdout))
    assert loaded & EXPECTED == {"mailgun"}
    assert "sns" not in loaded


def test_helper_modules_are_not_providers() -> None:
    modules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    helpers = modules - EXPECTED
    assert helpers == package.HELPERS
    for name in helpers:
        assert not hasattr(importlib.import_module(f"{package.__name__}.{name}"), "PROVIDER")


@pytest.mark.parametrize(
    "module",
    [
        classify,
        mailbox,
        package,
        importlib.import_module("deliverwatch.events.providers.jsonstream"),
    ],
    ids=lambda m: m.__name__,
)
def test_doctests(module: ModuleType) -> None:
    runner = doctest.DocTestRunner()
    for test in module_doctests(module):
        runner.run(test)
    failures, attempted = runner.summarize(verbose=False)
    assert attempted and not failures


def module_doctests(module: ModuleType) -> list[doctest.DocTest]:
    """The module's examples, run against the module as it is loaded. A module compiled by
    mypyc (setup.py) keeps no docstrings for doctest to find, so there they are read from
    its source."""
    if module.__file__ is None or module.__file__.endswith(".py"):
        return [test for test in doctest.DocTestFinder().find(module) if test.examples]
    found = []
    path = Path(module.__file__).parent / f"{module.__name__.rpartition('.')[2]}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parser = doctest.DocTestParser()
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    for node in nodes:
        if docstring := ast.get_docstring(node, clean=False):
            name = getattr(node, "name", module.__name__)
            test = parser.get_doctest(docstring, dict(vars(module)), name, str(path), 0)
            if test.examples:
                found.append(test)
    return found
