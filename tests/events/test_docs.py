"""docs/providers.md and docs/bounces.md describe what the code does, and all of it."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from deliverwatch.events.classify import classify
from deliverwatch.events.model import BounceClass, EventType
from deliverwatch.events.providers import PROVIDERS
from deliverwatch.events.providers.base import SourceSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"
PROVIDERS_DOC = (DOCS / "providers.md").read_text()
BOUNCES_DOC = (DOCS / "bounces.md").read_text()


def section(provider: str) -> str:
    """The ``## …`` section of providers.md whose heading names the provider."""
    parts = re.split(r"^## ", PROVIDERS_DOC, flags=re.MULTILINE)
    found = [p for p in parts[1:] if provider in p.splitlines()[0].lower()]
    assert len(found) == 1, f"providers.md needs one '## …{provider}…' section"
    return found[0]


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_provider_has_a_section_naming_its_events(provider: str) -> None:
    text = section(provider)
    module = importlib.import_module(f"deliverwatch.events.providers.{provider}")
    for table in ("TYPES", "RECORDS", "BOUNCES", "KINDS", "FIELDS"):
        for name in getattr(module, table, {}):
            assert f"`{name}`" in text or f"`{name}`/" in text, f"{provider}: {table} {name}"


def test_every_source_setting_is_documented() -> None:
    for field in dataclasses.fields(SourceSettings):
        if field.name != "name":
            assert f"`sources[].{field.name}`" in PROVIDERS_DOC, field.name
    for provider in PROVIDERS:
        assert f"`{provider}`" in PROVIDERS_DOC


def test_every_event_type_and_bounce_class_is_documented() -> None:
    for event_type in EventType:
        assert f"`{event_type.value}`" in PROVIDERS_DOC
    for bounce_class in BounceClass:
        assert f"`{bounce_class.value}`" in BOUNCES_DOC


def example_rows() -> list[tuple[str | None, str | None, str | None, str]]:
    table = BOUNCES_DOC.split("## Examples", 1)[1]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("Status", "---"):
            continue
        status, diagnostic, hint = (c.strip("`") or None for c in cells[:3])
        rows.append((status, diagnostic, hint, cells[3]))
    return rows


def test_bounces_doc_has_examples() -> None:
    assert len(example_rows()) >= 25


@pytest.mark.parametrize(("status", "diagnostic", "hint", "want"), example_rows())
def test_bounces_doc_examples_are_what_classify_does(
    status: str | None, diagnostic: str | None, hint: str | None, want: str
) -> None:
    assert classify(status, diagnostic, hint).value == want
