"""Points add up to a score; thresholds turn it into a verdict.

The scale (documented in docs/lint.md): every finding carries its code's points (the
catalogue's default, or ``lint.weights`` from config); the score is their sum, 0 for a clean
message. The verdict is ``pass`` up to ``warn_over``, ``warn`` above it, ``fail`` above
``fail_over``; ``deliverwatch lint`` exits 1 when a file's score is over ``--fail-over``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from deliverwatch.content.catalogue import CATALOGUE
from deliverwatch.content.findings import LintFinding

Verdict = Literal["pass", "warn", "fail"]
DEFAULT_WARN_OVER: Final = 2.0
DEFAULT_FAIL_OVER: Final = 9.0


@dataclass(frozen=True, slots=True)
class Scale:
    """Weight overrides (``code → points``) and the verdict thresholds."""

    weights: Mapping[str, int] = field(default_factory=dict)
    warn_over: float = DEFAULT_WARN_OVER
    fail_over: float = DEFAULT_FAIL_OVER

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(CATALOGUE))
        if unknown:
            raise ValueError(f"unknown lint code(s) in weights: {', '.join(unknown)}")
        if self.warn_over > self.fail_over:
            raise ValueError("warn_over must not be more than fail_over")

    def points(self, code: str) -> int:
        return self.weights.get(code, CATALOGUE[code].points)


def weigh(findings: Iterable[LintFinding], scale: Scale) -> list[LintFinding]:
    """The findings with the scale's points, highest first (then by code, for stable output)."""
    weighed = [
        f
        if f.points == scale.points(f.code)
        else dataclasses.replace(f, points=scale.points(f.code))
        for f in findings
    ]
    return sorted(weighed, key=lambda f: (-f.points, f.code))


def total(findings: Iterable[LintFinding]) -> int:
    return sum(f.points for f in findings)


def verdict(score: float, scale: Scale) -> Verdict:
    if score > scale.fail_over:
        return "fail"
    return "warn" if score > scale.warn_over else "pass"
