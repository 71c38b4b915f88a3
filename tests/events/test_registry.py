"""The provider registry is built from the modules; module doctests hold."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import subprocess
import sys

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
def test_doctests(module: object) -> None:
    failures, tests = doctest.testmod(module)  # type: ignore[arg-type]
    assert tests and not failures
