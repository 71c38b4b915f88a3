"""compute_score: each part, the no-data rule, and small volumes that do not sink a score."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.history.scores import (
    DELIVERABILITY_WEIGHTS,
    REPUTATION_WEIGHTS,
    DmarcCounts,
    DomainScore,
    ScoreInputs,
    ScorePart,
    SendingCounts,
    compute_score,
    interpolate,
)
from tests.history.reports import changed, good_report
from tests.history.strategies import JSON, REPORT

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def sending(days: int = 7, **counts: int) -> SendingCounts:
    base = {
        "sent": 10_000,
        "delivered": 9_900,
        "bounces": 100,
        "hard_bounces": 20,
        "complaints": 2,
        "opens": 4000,
        "clicks": 500,
        "unique_opens": 2500,
        "unique_clicks": 300,
    }
    base.update(counts)
    return SendingCounts(days=days, **base)


def dmarc(**counts: int) -> DmarcCounts:
    base = {
        "messages": 10_000,
        "passed": 9_990,
        "legitimate_messages": 9_995,
        "legitimate_passed": 9_990,
        "failing_sources": 1,
        "failing_messages": 5,
    }
    base.update(counts)
    return DmarcCounts(days=30, **base)


def full(**overrides: object) -> ScoreInputs:
    values: dict[str, object] = {
        "domain": "shop.test",
        "at": AT,
        "audit": good_report(),
        "sending_7d": sending(),
        "sending_30d": sending(30),
        "dmarc": dmarc(),
    }
    values.update(overrides)
    return ScoreInputs(**values)  # type: ignore[arg-type]


def part(score: DomainScore, name: str, reputation: bool = False) -> ScorePart:
    parts = score.reputation_parts if reputation else score.parts
    return next(p for p in parts if p.name == name)


def test_a_healthy_domain_scores_high_and_parts_add_up() -> None:
    score = compute_score(full())
    assert score.deliverability is not None and score.deliverability >= 90
    assert score.reputation is not None and score.reputation >= 85
    assert score.grade == "A"
    assert [p.name for p in score.parts] == list(DELIVERABILITY_WEIGHTS)
    assert [p.name for p in score.reputation_parts] == list(REPUTATION_WEIGHTS)
    for parts, total in (
        (score.parts, score.deliverability),
        (score.reputation_parts, score.reputation),
    ):
        assert sum(p.share for p in parts) == pytest.approx(100)
        assert 100 - sum(p.points for p in parts) == pytest.approx(total, abs=0.5)
    assert score.notes == []


def test_authentication_part_is_the_audit_score() -> None:
    audit = changed(
        good_report(),
        score=55,
        grade="F",
        findings=[{"code": "dmarc.policy_none", "severity": "warning", "message": "p=none"}],
    )
    score = compute_score(full(audit=audit))
    auth = part(score, "authentication")
    assert auth.score == 55
    assert "audit score 55" in auth.detail and "dmarc.policy_none" in auth.detail
    assert auth.points == pytest.approx(auth.share * 0.45)
    assert compute_score(full()).deliverability > score.deliverability  # type: ignore[operator]
    # authentication is not part of reputation
    assert all(p.name != "authentication" for p in score.reputation_parts)


def test_complaint_rate_against_the_bulk_sender_limits() -> None:
    under = part(compute_score(full(sending_7d=sending(complaints=5))), "complaints")
    warn = part(compute_score(full(sending_7d=sending(complaints=20))), "complaints")
    over = part(compute_score(full(sending_7d=sending(complaints=60))), "complaints")
    assert under.score is not None and warn.score is not None and over.score is not None
    assert under.score > 85 > warn.score > over.score
    assert over.score == 0  # 0.61%, lower bound ~0.47%: past 0.30%
    assert "0.10%/0.30%" in warn.detail and "95% interval" in warn.detail


def test_one_complaint_in_twenty_does_not_sink_the_score() -> None:
    small = sending(
        sent=20,
        delivered=20,
        bounces=0,
        hard_bounces=0,
        complaints=1,
        unique_opens=5,
        unique_clicks=1,
        opens=5,
        clicks=1,
    )
    score = compute_score(full(sending_7d=small, sending_30d=small, dmarc=None))
    complaints = part(score, "complaints")
    assert complaints.confidence == pytest.approx(0.02)
    assert complaints.points < 2
    assert "small volume" in complaints.detail
    assert score.deliverability is not None and score.deliverability >= 90
    assert score.reputation is not None and score.reputation >= 75
    # the same rate on real volume is a problem
    big = sending(sent=20_000, delivered=20_000, complaints=1_000)
    assert compute_score(full(sending_7d=big)).reputation < 70  # type: ignore[operator]


def test_hard_bounces() -> None:
    ok = part(compute_score(full()), "bounces")
    bad = part(compute_score(full(sending_7d=sending(hard_bounces=800))), "bounces")
    assert ok.score is not None and ok.score > 95
    assert bad.score == 0 and "hard bounces" in bad.detail and "2.00%/5.00%" in bad.detail


def test_thirty_day_window_is_used_when_the_week_is_thin() -> None:
    thin = sending(sent=50, delivered=50, complaints=0)
    score = compute_score(full(sending_7d=thin, sending_30d=sending(30, complaints=40)))
    assert "last 30 days" in part(score, "complaints").detail
    assert "last 7 days" in part(compute_score(full()), "complaints").detail


def test_blocklist_listings() -> None:
    report = good_report()
    entries = [dict(e) for e in report["blocklists"]["entries"]]
    entries[0]["listed"] = True
    listed = part(
        compute_score(full(audit=changed(report, blocklists={"entries": entries}))), "blocklists"
    )
    assert listed.score == 40 and "198.18.0.10 on dnsbl.bl.test" in listed.detail
    entries[1]["listed"] = True
    assert (
        part(
            compute_score(full(audit=changed(report, blocklists={"entries": entries}))),
            "blocklists",
        ).score
        == 0
    )
    clean = part(compute_score(full()), "blocklists")
    assert clean.score == 100


def test_dmarc_alignment_counts_legitimate_sources_only() -> None:
    spoofed = dmarc(messages=50_000, passed=9_990, failing_sources=40, failing_messages=40_005)
    part_ = part(compute_score(full(dmarc=spoofed)), "dmarc")
    assert part_.score is not None and part_.score > 95
    assert "40 source(s) that never pass" in part_.detail
    failing = part(compute_score(full(dmarc=dmarc(legitimate_passed=8_000))), "dmarc")
    assert failing.score is not None and failing.score < 40


def test_engagement() -> None:
    high = part(compute_score(full()), "engagement")
    low = part(
        compute_score(full(sending_7d=sending(unique_opens=50, unique_clicks=2))), "engagement"
    )
    assert high.score is not None and low.score is not None and high.score > 80 > low.score
    none = part(
        compute_score(
            full(
                sending_7d=sending(opens=0, clicks=0, unique_opens=0, unique_clicks=0),
                sending_30d=None,
            )
        ),
        "engagement",
    )
    assert none.score is None and "tracking off" in none.detail


def test_parts_without_data_are_left_out_and_weights_renormalized() -> None:
    score = compute_score(full(sending_7d=None, sending_30d=None, dmarc=None))
    names = {p.name for p in score.parts if not p.has_data}
    assert names == {"complaints", "bounces", "dmarc", "engagement"}
    for p in score.parts:
        if not p.has_data:
            assert (p.share, p.points, p.score) == (0, 0, None)
    shares = {p.name: p.share for p in score.parts if p.has_data}
    # authentication 25 and blocklists 15 fill 100 between them
    assert shares == pytest.approx({"authentication": 62.5, "blocklists": 37.5})
    assert score.deliverability == 100  # perfect audit, clean lists: not dragged to zero…
    assert any("no data, left out" in n for n in score.notes)
    assert any("scaled up" in n for n in score.notes)
    # …and not padded to perfect either: one bad known part decides alone
    bad = changed(good_report(), score=40, grade="F")
    assert compute_score(
        full(audit=bad, sending_7d=None, sending_30d=None, dmarc=None)
    ).deliverability == round(100 - 62.5 * 0.6)


def test_nothing_known_gives_no_score() -> None:
    score = compute_score(ScoreInputs(domain="new.test", at=AT))
    assert (score.deliverability, score.reputation, score.grade) == (None, None, None)
    assert len(score.notes) == 6
    assert all(not p.has_data for p in score.parts)


def test_reputation_without_sending_data_is_blocklists_alone() -> None:
    score = compute_score(full(sending_7d=None, sending_30d=None))
    assert score.reputation == 100
    assert [p.name for p in score.reputation_parts if p.has_data] == ["blocklists"]


def test_score_round_trips_through_dict() -> None:
    score = compute_score(full())
    again = DomainScore.from_dict(score.to_dict())
    assert again.to_dict() == score.to_dict()
    assert set(score.to_dict()) == {
        "domain",
        "at",
        "deliverability",
        "reputation",
        "grade",
        "parts",
        "reputation_parts",
        "notes",
    }
    assert set(score.parts[0].to_dict()) == {
        "name",
        "weight",
        "share",
        "score",
        "points",
        "confidence",
        "has_data",
        "detail",
    }


def test_interpolate() -> None:
    curve = ((0.0, 100.0), (0.001, 75.0), (0.003, 0.0))
    assert interpolate(curve, -1) == 100
    assert interpolate(curve, 0.0005) == pytest.approx(87.5)
    assert interpolate(curve, 0.002) == pytest.approx(37.5)
    assert interpolate(curve, 1) == 0


COUNT = st.integers(min_value=0, max_value=10**7)
SENDING = st.none() | st.builds(
    SendingCounts,
    days=st.sampled_from([7, 30]),
    sent=COUNT,
    delivered=COUNT,
    bounces=COUNT,
    hard_bounces=COUNT,
    complaints=COUNT,
    opens=COUNT,
    clicks=COUNT,
    unique_opens=COUNT,
    unique_clicks=COUNT,
)
DMARC = st.none() | st.builds(
    DmarcCounts,
    days=st.just(30),
    messages=COUNT,
    passed=COUNT,
    legitimate_messages=COUNT,
    legitimate_passed=COUNT,
    failing_sources=COUNT,
    failing_messages=COUNT,
)


@settings(max_examples=150, deadline=None)
@given(st.none() | REPORT | JSON, SENDING, SENDING, DMARC)
def test_compute_score_never_crashes_and_stays_in_range(
    audit: Any, short: SendingCounts | None, long: SendingCounts | None, dmarc: DmarcCounts | None
) -> None:
    audit = audit if isinstance(audit, dict) else None
    score = compute_score(ScoreInputs("x.test", AT, audit, short, long, dmarc))
    for total, parts in (
        (score.deliverability, score.parts),
        (score.reputation, score.reputation_parts),
    ):
        if total is None:
            assert all(p.points == 0 for p in parts)
            continue
        assert 0 <= total <= 100
        assert sum(p.share for p in parts) == pytest.approx(100)
        for p in parts:
            assert p.score is None or 0 <= p.score <= 100
    assert DomainScore.from_dict(score.to_dict()).to_dict() == score.to_dict()
