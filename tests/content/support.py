"""Shared helpers for the lint tests: the fixture table and a DKIM signer with the test key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dkim

from deliverwatch.content.lint import LintReport, lint_offline
from deliverwatch.content.message import Message, load_file, parse_header_block
from deliverwatch.content.options import LintOptions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
EXPECTED: dict[str, dict[str, Any]] = json.loads((FIXTURES / "expected.json").read_text())
DKIM_KEY = (FIXTURES / "dkim" / "s2024.shop.lint.test.key").read_bytes()
SIGNED_HEADERS = [
    *(b"from", b"to", b"subject", b"date", b"message-id"),
    *(b"list-unsubscribe", b"list-unsubscribe-post"),
]


def fixture_headers(entry: dict[str, Any]) -> list[tuple[str, str]]:
    if "headers" not in entry:
        return []
    return parse_header_block((FIXTURES / entry["headers"]).read_bytes())


def load_fixture(name: str) -> Message:
    return load_file(FIXTURES / name, fixture_headers(EXPECTED.get(name, {})))


def lint_fixture(name: str) -> LintReport:
    entry = EXPECTED.get(name, {})
    return lint_offline(load_fixture(name), LintOptions(kind=entry.get("kind", "marketing")))


def sign(message: bytes, *, selector: bytes = b"s2024", domain: bytes = b"shop.lint.test") -> bytes:
    """``message`` with a DKIM-Signature by the test key (published in tests/zones/lint.test)."""
    signature = dkim.sign(
        message,
        selector,
        domain,
        DKIM_KEY,
        include_headers=SIGNED_HEADERS,
        linesep=b"\n",
    )
    return bytes(signature) + message


def lint_shop_message() -> bytes:
    """The clean marketing fixture sent From the test zone's domain (so DKIM can align)."""
    raw = (FIXTURES / "clean-marketing.eml").read_bytes()
    return raw.replace(b"news@shop.example.com", b"news@shop.lint.test")
