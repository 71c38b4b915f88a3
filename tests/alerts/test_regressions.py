"""Authentication regressions from consecutive audit reports (pure)."""

from __future__ import annotations

from typing import Any

from deliverwatch.alerts.config import RuleConfig
from deliverwatch.alerts.regressions import regression_signals
from tests.history.reports import changed, finding, good_report, unknown

RULE = RuleConfig.model_validate({"name": "auth", "kind": "regression", "persist_audits": 3})


def states(reports: list[dict[str, Any]]) -> dict[str, str]:
    """subject → state, reports newest first."""
    return {s.subject: s.state for s in regression_signals(RULE, "shop.test", reports)}


def test_a_new_error_finding_is_a_regression() -> None:
    old = good_report()
    new = changed(old, findings=[finding("spf.too_many_lookups", "error", "SPF needs 12 lookups")])
    signals = regression_signals(RULE, "shop.test", [new, old])
    (signal,) = [s for s in signals if s.subject == "spf.too_many_lookups"]
    assert (signal.state, signal.severity) == ("active", "high")
    assert "SPF needs 12 lookups" in signal.summary


def test_a_standing_problem_is_not_news() -> None:
    base = changed(good_report(), findings=[finding("dmarc.no_rua")])
    assert states([base, base, base]) == {"dmarc.no_rua": "hold"}


def test_a_dns_failure_does_not_count_until_it_persists() -> None:
    good = good_report()
    failing = unknown(good, "spf")
    assert states([failing, good]) == {"dns:spf": "hold"}
    assert states([failing, failing, good]) == {"dns:spf": "hold"}
    assert states([failing, failing, failing, good])["dns:spf"] == "active"


def test_a_finding_hidden_by_a_dns_failure_holds() -> None:
    good = good_report()
    broken = changed(good, findings=[finding("spf.permissive_all", "error")])
    later = unknown(broken, "spf")  # the SPF lookup failed: judge by the broken audit
    result = states([later, broken, good])
    assert result["spf.permissive_all"] == "hold"
    assert result["dns:spf"] == "hold"


def test_dmarc_policy_weakened_and_record_changed() -> None:
    old = good_report()
    new = changed(old, dmarc={"policy": "none", "record": "v=DMARC1; p=none"})
    result = states([new, old])
    assert result["dmarc.policy_weakened"] == "active"
    assert result["dmarc.record_changed"] == "active"
    stronger = changed(old, dmarc={"policy": "reject"})
    assert "dmarc.policy_weakened" not in states([stronger, new])


def test_blocklist_listing_and_dkim_key_shortened() -> None:
    old = good_report()
    new = changed(
        old,
        findings=[
            finding("blocklist.listed", "error", "198.18.0.10 listed by dnsbl.bl.test"),
            finding("dkim.key_too_short", "warning", "s1: 1024-bit key"),
        ],
    )
    result = states([new, old])
    assert result["blocklist.listed"] == "active"
    assert result["dkim.key_too_short"] == "active"
