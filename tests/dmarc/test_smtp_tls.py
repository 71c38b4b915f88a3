"""SMTP TLS reports (RFC 8460) that need no corpus: what is refused, and why."""

from __future__ import annotations

import json

import pytest

from deliverwatch.dmarc.errors import SmtpTlsError
from deliverwatch.dmarc.smtp_tls import parse_smtp_tls

REPORT = {
    "organization-name": "PLACEHOLDER",
    "date-range": {
        "start-datetime": "2026-11-01T00:00:00Z",
        "end-datetime": "2026-11-01T23:59:59Z",
    },
    "contact-info": "tlsrpt@example.net",
    "report-id": "2026-11-01T00:00:00Z_example.com",
    "policies": [
        {
            "policy": {"policy-type": "sts", "policy-domain": "example.com"},
            "summary": {"total-successful-session-count": 10, "total-failure-session-count": 0},
        }
    ],
}


def report(name_escape: str) -> bytes:
    return json.dumps(REPORT).replace("PLACEHOLDER", name_escape).encode()


def test_a_surrogate_pair_is_a_character_and_reads() -> None:
    parsed = parse_smtp_tls(report("Mail \\ud83d\\udce8 Inc."))
    assert parsed.organization_name == "Mail \U0001f4e8 Inc."
    assert parsed.policies[0].successful_sessions == 10


@pytest.mark.parametrize("escape", ["\\ud800", "x\\udfff", "\\ud83d"])
def test_a_lone_surrogate_is_refused_as_not_i_json(escape: str) -> None:
    """RFC 8460 reports are I-JSON, which has no lone surrogates; stored, such a string would
    fail the import's write with an error that names nothing."""
    with pytest.raises(SmtpTlsError, match="not I-JSON: a string holds a lone surrogate"):
        parse_smtp_tls(report(escape))


def test_a_lone_surrogate_in_a_text_given_as_str_is_refused_too() -> None:
    with pytest.raises(SmtpTlsError, match="not I-JSON"):
        parse_smtp_tls(report("X").decode().replace('"X"', '"X\ud800"'))


def test_a_deep_report_with_a_surrogate_pair_is_read_without_recursion() -> None:
    document = json.loads(report("Mail \\ud83d\\udce8"))
    document["x-extra"] = json.loads("[" * 900 + "]" * 900)
    parsed = parse_smtp_tls(json.dumps(document))
    assert parsed.organization_name == "Mail \U0001f4e8"
