"""Each fixture fires exactly the codes listed in tests/fixtures/lint/expected.json."""

from __future__ import annotations

import pytest

from deliverwatch.content.catalogue import CATALOGUE
from tests.content.support import EXPECTED, FIXTURES, lint_fixture

#: Codes whose fixtures need the network or are not about the input (tested elsewhere).
ELSEWHERE = {
    "dkim.signature_invalid": "test_dkim.py",
    "dkim.body_modified": "test_dkim.py",
    "dkim.key_unavailable": "test_dkim.py",
    "link.broken": "test_linkcheck.py",
    "link.unverified": "test_linkcheck.py",
    "link.blocklisted": "test_linkcheck.py",
    "link.blocklist_unknown": "test_linkcheck.py",
    "lint.rule_error": "test_lint.py",
    "lint.crashed": "test_jobs.py",
}
#: Files that are not fixtures of their own.
HELPERS = {"expected.json", "template-headers.txt", "clean-template.txt", "gmail-clipping.txt"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_fires_exactly_its_codes(name: str) -> None:
    report = lint_fixture(name)
    assert sorted(report.codes) == EXPECTED[name]["codes"], [
        (f.code, f.message) for f in report.findings
    ]
    assert report.score == sum(f.points for f in report.findings)


def test_every_code_has_a_fixture() -> None:
    fired = {code for entry in EXPECTED.values() for code in entry["codes"]}
    missing = sorted(set(CATALOGUE) - fired - set(ELSEWHERE))
    assert not missing, f"codes without a fixture: {missing}"


def test_every_fixture_file_is_listed() -> None:
    files = {p.name for p in FIXTURES.iterdir() if p.is_file()}
    assert sorted(files - HELPERS - set(EXPECTED)) == []


def test_clean_fixtures_score_zero_and_pass() -> None:
    clean = [name for name, entry in EXPECTED.items() if not entry["codes"]]
    assert len(clean) >= 4
    for name in clean:
        report = lint_fixture(name)
        assert (report.score, report.verdict) == (0, "pass"), name
