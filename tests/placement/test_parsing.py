"""The pure parts: Authentication-Results and spam headers, folder choice, Gmail tabs, rates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deliverwatch.placement.folders import (
    folders_to_search,
    gmail_tab,
    parse_gm_labels,
    parse_list_line,
    quoted,
)
from deliverwatch.placement.headers import (
    authentication_verdicts,
    flagged_as_spam,
    parse_authentication_results,
    spam_headers,
    spam_score,
    strip_comments,
)
from deliverwatch.placement.model import PlacementRun, Rates, SeedResult

GMAIL_AR = (
    "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=s1 header.b=Ab12;\r\n"
    "       spf=pass (google.com: domain of bounce@example.com designates 192.0.2.1 as "
    "permitted sender; a comment with ; inside) smtp.mailfrom=bounce@example.com;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com"
)


def test_authentication_results_of_a_gmail_header() -> None:
    authserv, results = parse_authentication_results(GMAIL_AR)
    assert authserv == "mx.google.com"
    assert results == {"dkim": "pass", "spf": "pass", "dmarc": "pass"}


def test_a_passing_signature_wins_and_the_top_header_is_the_receivers() -> None:
    two = "mx.example; dkim=fail header.d=old.test; dkim=pass header.d=example.com"
    assert parse_authentication_results(two)[1] == {"dkim": "pass"}
    forged_below = ["mx.real; spf=softfail smtp.mailfrom=x@y", "evil; spf=pass"]
    assert authentication_verdicts(forged_below) == {"spf": "softfail"}
    assert authentication_verdicts(["mx.real; none"]) == {}
    assert parse_authentication_results("mx 1; arc=none; dkim/1=neutral")[1] == {
        "arc": "none",
        "dkim": "neutral",
    }


def test_comments_are_stripped_but_quoted_strings_kept() -> None:
    assert strip_comments('a (b (c) d) "e (f)" g') == 'a   "e (f)" g'


def test_spam_headers_scores_and_flags() -> None:
    headers = [
        ("Received", "from x"),
        ("X-Spam-Status", "Yes, score=7.3 required=5.0 tests=GTUBE,\r\n\tMISSING_DATE"),
        ("X-Spam-Flag", "YES"),
        ("X-Other", "1"),
    ]
    found = spam_headers(headers)
    assert found == {
        "X-Spam-Status": "Yes, score=7.3 required=5.0 tests=GTUBE, MISSING_DATE",
        "X-Spam-Flag": "YES",
    }
    assert spam_score(found) == 7.3 and flagged_as_spam(found) is True
    assert spam_score({"X-Spam-Score": "-0.1"}) == -0.1
    assert spam_score({"X-Spamd-Result": "default: False [1.20 / 15.00]; X(0.1)"}) == 1.2
    assert spam_score({"X-Rspamd-Score": "3.5"}) == 3.5
    assert spam_score({"X-MS-Exchange-Organization-SCL": "5"}) is None
    assert flagged_as_spam({"X-Spam-Status": "No, score=0"}) is False
    assert flagged_as_spam({}) is None


def test_list_lines_and_the_folders_searched() -> None:
    lines: list[bytes | tuple[bytes, bytes]] = [
        b'(\\HasNoChildren) "/" INBOX',
        b'(\\HasNoChildren \\Junk) "/" Junk',
        b'(\\HasNoChildren) "/" Bulk',
        b'(\\Noselect \\HasChildren) "/" "[Gmail]"',
        b'(\\HasNoChildren) "/" "[Gmail]/Spam"',
        b'(\\HasNoChildren) "/" "Junk Email"',
        b'(\\HasNoChildren) "/" "Projects/Spam"',
        b'(\\HasNoChildren) "/" Archive',
        (b'(\\HasNoChildren) "/" {9}', b"Bulk Mail"),
        b'(\\HasNoChildren) "." INBOX.Spam',
        b"garbage",
    ]
    parsed = [m for m in (parse_list_line(line) for line in lines) if m]
    assert len(parsed) == 10
    assert folders_to_search(parsed) == [
        ("INBOX", "inbox"),
        ("Junk", "spam"),
        ("Bulk", "spam"),
        ("[Gmail]/Spam", "spam"),
        ("Junk Email", "spam"),
        ("Projects/Spam", "spam"),
        ("Bulk Mail", "spam"),
        ("INBOX.Spam", "spam"),
    ]
    archive = [m for m in parsed if m.plain_name == "Archive"]
    assert folders_to_search(archive, ("archive",)) == [("INBOX", "inbox"), ("Archive", "spam")]
    assert quoted('a "b"') == '"a \\"b\\""' and quoted('"x"') == '"x"'


@pytest.mark.parametrize(
    ("labels", "tab"),
    [
        (["\\Inbox", "\\Important"], None),
        (["\\Inbox", "CATEGORY_PROMOTIONS"], "promotions"),
        (["\\\\Social"], "social"),
        (["Categories/Updates"], "updates"),
        (['"Forums"'], "forums"),
        (["Promotions-2024"], None),
    ],
)
def test_gmail_tab_from_labels(labels: list[str], tab: str | None) -> None:
    assert gmail_tab(labels) == tab


def test_gm_labels_in_a_fetch_response() -> None:
    line = '1 (X-GM-LABELS (\\Inbox "Team news" CATEGORY_SOCIAL) UID 7 BODY[HEADER] {12}'
    assert parse_gm_labels(line) == ["\\Inbox", "Team news", "CATEGORY_SOCIAL"]
    assert parse_gm_labels("1 (UID 7)") == []


def _result(placement: str, provider: str = "gmail") -> SeedResult:
    return SeedResult(address=f"{placement}@x", provider=provider, placement=placement)  # type: ignore[arg-type]


def test_rates_leave_errors_out_and_round_trip() -> None:
    results = [
        _result("inbox"),
        _result("tab"),
        _result("spam", "yahoo"),
        _result("missing", "yahoo"),
        _result("error", "yahoo"),
    ]
    rates = Rates.of(results)
    assert (rates.total, rates.counted) == (5, 4)
    assert rates.inbox_rate == 0.25 and rates.rate("tab") == 0.25
    assert Rates.of([_result("error")]).inbox_rate is None
    t = datetime(2026, 1, 1, tzinfo=UTC)
    run = PlacementRun(token="dwpt-x", started_at=t, finished_at=t, results=results)
    data = run.to_dict()
    assert data["overall"]["spam_rate"] == 0.25 and data["overall"]["counts"]["error"] == 1
    assert data["providers"]["yahoo"]["missing_rate"] == 0.5
    assert data["providers"]["gmail"]["inbox_rate"] == 0.5
    assert [SeedResult.from_dict(s) for s in data["seeds"]] == results
