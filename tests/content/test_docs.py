"""docs/lint.md documents every code, pattern and rule the linter has."""

from __future__ import annotations

from pathlib import Path

from deliverwatch.content.catalogue import CATALOGUE
from deliverwatch.content.reference import BEGIN, END, reference_markdown, replace_generated
from deliverwatch.content.rules.headers import SUBJECT_PATTERNS

DOC = Path(__file__).resolve().parents[2] / "docs" / "lint.md"


def test_generated_reference_is_current() -> None:
    text = DOC.read_text()
    assert text == replace_generated(text), (
        "run: python -m deliverwatch.content.reference --write docs/lint.md"
    )
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert reference_markdown() in generated


def test_every_code_and_pattern_is_documented() -> None:
    text = DOC.read_text()
    for code, spec in CATALOGUE.items():
        assert f"#### `{code}`" in text
        assert spec.why and spec.fix and spec.title
    for pattern in SUBJECT_PATTERNS:
        assert f"| `{pattern.id}` |" in text
