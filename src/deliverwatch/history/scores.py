"""A domain's deliverability and reputation scores, part by part (pure; docs/scores.md).

Each part (authentication, complaints, bounces, blocklists, DMARC alignment, engagement) is
scored 0–100 from its own evidence, or has no data. A score is the weighted mean of the parts
that have data: a part without data is left out and the other weights are scaled up to fill
100, and the score says so, instead of counting the part as perfect or as zero. Rates are
scored on their 95% Wilson bound (the rate the evidence proves, not the luck of a small
sample), and a rate part only earns its full weight from ``FULL_VOLUME`` messages: with 20
sends, one complaint weighs 2% of what it would with 1,000, so it does not sink the score.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deliverwatch.auth.report import grade_for
from deliverwatch.store.stats import wilson

#: Messages from which a rate part earns its full weight (linear below).
FULL_VOLUME = 1_000
#: Google/Yahoo bulk-sender complaint (spam) rate limits: stay under 0.10%, never reach 0.30%.
COMPLAINT_WARNING, COMPLAINT_LIMIT = 0.0010, 0.0030
#: Hard bounce rate thresholds (the alert defaults of issue 6).
HARD_BOUNCE_WARNING, HARD_BOUNCE_LIMIT = 0.02, 0.05
#: Points a blocklist listing takes off the blocklist part.
LISTING_COST = 60

#: (rate, score) corners, linear in between, flat beyond the last.
COMPLAINT_CURVE = ((0.0, 100.0), (COMPLAINT_WARNING, 75.0), (COMPLAINT_LIMIT, 0.0))
HARD_BOUNCE_CURVE = ((0.0, 100.0), (HARD_BOUNCE_WARNING, 70.0), (HARD_BOUNCE_LIMIT, 0.0))
DMARC_FAIL_CURVE = ((0.0, 100.0), (0.01, 90.0), (0.05, 60.0), (0.20, 0.0))
OPEN_CURVE = ((0.0, 0.0), (0.05, 40.0), (0.15, 80.0), (0.25, 100.0))
CLICK_CURVE = ((0.0, 0.0), (0.005, 50.0), (0.02, 100.0))
OPEN_SHARE = 0.6  # of the engagement part; clicks the rest

PARTS = ("authentication", "complaints", "bounces", "blocklists", "dmarc", "engagement")
DELIVERABILITY_WEIGHTS = {
    "authentication": 25,
    "complaints": 20,
    "bounces": 15,
    "blocklists": 15,
    "dmarc": 15,
    "engagement": 10,
}
REPUTATION_WEIGHTS = {"complaints": 35, "bounces": 25, "blocklists": 25, "engagement": 15}


@dataclass(frozen=True, slots=True)
class SendingCounts:
    """Event counts of one window (``store.stats``), what the rate parts read."""

    days: int
    sent: int = 0
    delivered: int = 0
    bounces: int = 0
    hard_bounces: int = 0
    complaints: int = 0
    opens: int = 0
    clicks: int = 0
    unique_opens: int = 0
    unique_clicks: int = 0


@dataclass(frozen=True, slots=True)
class DmarcCounts:
    """DMARC aggregate report volumes of the window. *Legitimate* sources are IPs that pass at
    least sometimes (docs/dmarc.md); sources that never pass are spoofing or unauthorized and do
    not count against the domain's own alignment."""

    days: int
    messages: int = 0
    passed: int = 0
    legitimate_messages: int = 0
    legitimate_passed: int = 0
    failing_sources: int = 0
    failing_messages: int = 0


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """Everything a score is computed from; any of it may be missing."""

    domain: str
    at: datetime
    audit: dict[str, Any] | None = None
    sending_7d: SendingCounts | None = None
    sending_30d: SendingCounts | None = None
    dmarc: DmarcCounts | None = None


@dataclass(frozen=True, slots=True)
class ScorePart:
    """One part's contribution to one score.

    ``weight`` is the nominal weight (of 100); ``share`` the percentage of the score it really
    carries after scaling for volume (``confidence``) and leaving out parts without data;
    ``points`` what it takes off 100 (``share × (100 − score) / 100``). ``score`` is None when the
    part has no data: then ``share`` and ``points`` are 0 and ``detail`` says why.
    """

    name: str
    weight: float
    score: float | None
    points: float
    detail: str
    share: float = 0.0
    confidence: float = 1.0

    @property
    def has_data(self) -> bool:
        return self.score is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weight": self.weight,
            "share": round(self.share, 2),
            "score": None if self.score is None else round(self.score, 1),
            "points": round(self.points, 2),
            "confidence": round(self.confidence, 3),
            "has_data": self.has_data,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScorePart:
        score = data.get("score")
        return cls(
            name=str(data.get("name", "")),
            weight=float(data.get("weight") or 0),
            score=None if score is None else float(score),
            points=float(data.get("points") or 0),
            detail=str(data.get("detail", "")),
            share=float(data.get("share") or 0),
            confidence=float(data.get("confidence", 1) or 0),
        )


@dataclass(frozen=True, slots=True)
class DomainScore:
    """Scores 0–100 (None when no part has data), the grade of the deliverability score, and
    each part of each score. ``notes`` name the parts left out for lack of data."""

    domain: str
    at: datetime
    deliverability: int | None
    reputation: int | None
    grade: str | None
    parts: list[ScorePart] = field(default_factory=list)
    reputation_parts: list[ScorePart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "deliverability": self.deliverability,
            "reputation": self.reputation,
            "grade": self.grade,
            "parts": [p.to_dict() for p in self.parts],
            "reputation_parts": [p.to_dict() for p in self.reputation_parts],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainScore:
        at = datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00"))
        return cls(
            domain=str(data["domain"]),
            at=at.astimezone(UTC),
            deliverability=data.get("deliverability"),
            reputation=data.get("reputation"),
            grade=data.get("grade"),
            parts=[ScorePart.from_dict(p) for p in data.get("parts") or []],
            reputation_parts=[ScorePart.from_dict(p) for p in data.get("reputation_parts") or []],
            notes=[str(n) for n in data.get("notes") or []],
        )


@dataclass(frozen=True, slots=True)
class _Evidence:
    """A part's own verdict, before weighting: score None = no data."""

    score: float | None
    detail: str
    confidence: float = 1.0


def compute_score(inputs: ScoreInputs) -> DomainScore:
    """Score a domain from its inputs; deterministic and free of I/O."""
    evidence = {
        "authentication": _authentication(inputs.audit),
        "complaints": _complaints(inputs),
        "bounces": _bounces(inputs),
        "blocklists": _blocklists(inputs.audit),
        "dmarc": _dmarc(inputs.dmarc),
        "engagement": _engagement(inputs),
    }
    deliverability, parts = _combine(evidence, DELIVERABILITY_WEIGHTS)
    reputation, reputation_parts = _combine(evidence, REPUTATION_WEIGHTS)
    missing = [name for name in PARTS if evidence[name].score is None]
    notes = [f"{name}: no data, left out ({evidence[name].detail})" for name in missing]
    if missing and deliverability is not None:
        notes.append("the weights of the other parts were scaled up to fill 100")
    return DomainScore(
        domain=inputs.domain,
        at=inputs.at,
        deliverability=deliverability,
        reputation=reputation,
        grade=None if deliverability is None else grade_for(deliverability),
        parts=parts,
        reputation_parts=reputation_parts,
        notes=notes,
    )


def _combine(
    evidence: dict[str, _Evidence], weights: dict[str, int]
) -> tuple[int | None, list[ScorePart]]:
    effective = {
        name: weight * evidence[name].confidence
        for name, weight in weights.items()
        if evidence[name].score is not None
    }
    total = sum(effective.values())
    parts: list[ScorePart] = []
    lost = 0.0
    for name, weight in weights.items():
        ev = evidence[name]
        if ev.score is None or total <= 0:
            parts.append(ScorePart(name, weight, ev.score, 0.0, ev.detail, 0.0, ev.confidence))
            continue
        share = 100 * effective[name] / total
        points = share * (100 - ev.score) / 100
        lost += points
        parts.append(ScorePart(name, weight, ev.score, points, ev.detail, share, ev.confidence))
    if total <= 0:
        return None, parts
    return max(0, min(100, round(100 - lost))), parts


def interpolate(curve: Sequence[tuple[float, float]], x: float) -> float:
    """The piecewise-linear ``curve`` at ``x`` (flat before the first and after the last)."""
    if x <= curve[0][0]:
        return curve[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(curve):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return curve[-1][1]


def pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def _confidence(volume: int) -> float:
    return min(1.0, volume / FULL_VOLUME)


def _window(inputs: ScoreInputs, denominator: str) -> SendingCounts | None:
    """The 7-day window when it has the volume for full weight, else the 30-day one if it has
    more; what is scored is the latest behaviour with as much evidence as possible."""
    short, long = inputs.sending_7d, inputs.sending_30d
    if short is not None and getattr(short, denominator) >= FULL_VOLUME:
        return short
    if long is not None and getattr(long, denominator) > (
        getattr(short, denominator) if short else 0
    ):
        return long
    return short if short is not None and getattr(short, denominator) > 0 else None


def _authentication(audit: dict[str, Any] | None) -> _Evidence:
    if not isinstance(audit, dict) or not isinstance(audit.get("score"), int):
        return _Evidence(None, "no audit yet")
    score = int(audit["score"])
    findings = [f for f in audit.get("findings") or [] if isinstance(f, dict)]
    costly = sorted({str(f.get("code")) for f in findings if f.get("severity") != "info"})
    detail = f"audit score {score} (grade {audit.get('grade', grade_for(score))})"
    if costly:
        shown = ", ".join(costly[:6]) + (f" and {len(costly) - 6} more" if len(costly) > 6 else "")
        detail += f"; findings: {shown}"
    if audit.get("status") == "unknown":
        detail += "; some lookups failed, so parts of the audit are unknown"
    return _Evidence(float(score), detail)


def _rate_part(
    counts: SendingCounts | None,
    numerator: str,
    denominator: str,
    label: str,
    curve: Sequence[tuple[float, float]],
    limits: str,
) -> _Evidence:
    if counts is None:
        return _Evidence(None, f"no {denominator} mail in the last 30 days")
    num, den = getattr(counts, numerator), getattr(counts, denominator)
    rate = wilson(num, den)
    assert rate.value is not None and rate.low is not None and rate.high is not None
    score = interpolate(curve, rate.low)
    detail = (
        f"{pct(rate.value)} {label} ({num:,} of {den:,} {denominator}, last {counts.days} days; "
        f"95% interval {pct(rate.low)}–{pct(rate.high)}); scored on the lower bound against "
        f"{limits}"
    )
    confidence = _confidence(den)
    if confidence < 1:
        detail += f"; weight × {confidence:.2f} for the small volume (full from {FULL_VOLUME:,})"
    return _Evidence(score, detail, confidence)


def _complaints(inputs: ScoreInputs) -> _Evidence:
    return _rate_part(
        _window(inputs, "delivered"),
        "complaints",
        "delivered",
        "complaints",
        COMPLAINT_CURVE,
        f"the bulk-sender limits {pct(COMPLAINT_WARNING)}/{pct(COMPLAINT_LIMIT)}",
    )


def _bounces(inputs: ScoreInputs) -> _Evidence:
    counts = _window(inputs, "sent")
    evidence = _rate_part(
        counts,
        "hard_bounces",
        "sent",
        "hard bounces",
        HARD_BOUNCE_CURVE,
        f"{pct(HARD_BOUNCE_WARNING)}/{pct(HARD_BOUNCE_LIMIT)}",
    )
    if counts is not None and counts.bounces > counts.hard_bounces:
        detail = f"{evidence.detail}; {counts.bounces:,} bounces in all"
        return _Evidence(evidence.score, detail, evidence.confidence)
    return evidence


def _blocklists(audit: dict[str, Any] | None) -> _Evidence:
    section = audit.get("blocklists") if isinstance(audit, dict) else None
    entries = section.get("entries") if isinstance(section, dict) else None
    known = [e for e in entries or [] if isinstance(e, dict) and isinstance(e.get("listed"), bool)]
    if not known:
        return _Evidence(None, "no blocklist was checked (or every lookup failed)")
    listed = [e for e in known if e["listed"]]
    if not listed:
        return _Evidence(100.0, f"not listed on any of {len(known)} blocklist lookups")
    names = ", ".join(f"{e.get('subject')} on {e.get('zone')}" for e in listed[:5])
    score = max(0.0, 100.0 - LISTING_COST * len(listed))
    return _Evidence(score, f"{len(listed)} listing(s) of {len(known)} lookups: {names}")


def _dmarc(counts: DmarcCounts | None) -> _Evidence:
    if counts is None or counts.legitimate_messages <= 0:
        return _Evidence(None, "no DMARC aggregate reports with passing mail in the window")
    failed = counts.legitimate_messages - counts.legitimate_passed
    rate = wilson(failed, counts.legitimate_messages)
    assert rate.value is not None and rate.low is not None
    score = interpolate(DMARC_FAIL_CURVE, rate.low)
    detail = (
        f"{pct(1 - rate.value)} of {counts.legitimate_messages:,} messages from legitimate "
        f"sources passed DMARC aligned (last {counts.days} days); scored on the failure "
        f"rate's lower bound {pct(rate.low)}"
    )
    if counts.failing_sources:
        detail += (
            f"; {counts.failing_sources} source(s) that never pass ({counts.failing_messages:,} "
            "messages: spoofing or unauthorized) not counted"
        )
    confidence = _confidence(counts.legitimate_messages)
    if confidence < 1:
        detail += f"; weight × {confidence:.2f} for the small volume"
    return _Evidence(score, detail, confidence)


def _engagement(inputs: ScoreInputs) -> _Evidence:
    counts = _window(inputs, "delivered")
    if counts is None:
        return _Evidence(None, "no delivered mail in the last 30 days")
    if counts.unique_opens + counts.unique_clicks + counts.opens + counts.clicks == 0:
        return _Evidence(None, "no open or click events (tracking off?)")
    opens = wilson(counts.unique_opens, counts.delivered)
    clicks = wilson(counts.unique_clicks, counts.delivered)
    assert opens.high is not None and clicks.high is not None
    assert opens.value is not None and clicks.value is not None
    score = OPEN_SHARE * interpolate(OPEN_CURVE, opens.high) + (1 - OPEN_SHARE) * interpolate(
        CLICK_CURVE, clicks.high
    )
    confidence = _confidence(counts.delivered)
    detail = (
        f"{pct(opens.value)} unique opens, {pct(clicks.value)} unique clicks of "
        f"{counts.delivered:,} delivered (last {counts.days} days); scored on the upper bounds"
    )
    if confidence < 1:
        detail += f"; weight × {confidence:.2f} for the small volume"
    return _Evidence(score, detail, confidence)
