"""Refreshing the blocklist section of a stored report."""

from __future__ import annotations

from deliverwatch.history.recheck import is_blocklist_finding, with_blocklists
from tests.history.reports import changed, finding, good_report


def test_blocklist_findings_are_replaced_and_the_rest_kept() -> None:
    report = changed(
        good_report(),
        score=88,
        grade="B",
        status="warning",
        findings=[
            finding("dmarc.policy_none", "warning", "p=none"),
            finding("dns.timeout", "warning", "blocklist lookup of 198.18.0.10 on x.test: t/o"),
            finding("dns.timeout", "warning", "SPF include:a.test: timeout"),
        ],
    )
    entries = [dict(e) for e in report["blocklists"]["entries"]]
    entries[1].update(listed=True, codes=["127.0.1.2"])
    listed = finding("blocklist.listed", "error", "shop.test is listed on dbl.bl.test")
    fresh = with_blocklists(report, {"entries": entries, "status": "error"}, [listed])
    codes = [(f["code"], f["message"][:5]) for f in fresh["findings"]]
    assert codes == [
        ("blocklist.listed", "shop."),
        ("dmarc.policy_none", "p=non"),
        ("dns.timeout", "SPF i"),
    ]
    assert fresh["blocklists"]["entries"][1]["listed"] is True
    assert fresh["status"] == "error" and fresh["score"] < 88
    assert fresh["rechecked"] == ["blocklists"]
    assert report["blocklists"]["entries"][1]["listed"] is False  # the input is not changed
    assert is_blocklist_finding(listed) and not is_blocklist_finding(finding("spf.x"))
