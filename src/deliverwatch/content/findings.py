"""Lint findings: a catalogued code, its points, and where in the file it was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deliverwatch.auth.findings import Severity
from deliverwatch.content.catalogue import CATALOGUE


@dataclass(frozen=True, slots=True)
class Where:
    """A location: ``line`` in the linted file (1-based) when known, and the element or header.

    ``part`` names the MIME part (``text/html``) for body findings; ``line`` is None where the
    file's lines cannot be mapped (a base64 part, a header given by ``--from``).
    """

    line: int | None = None
    element: str | None = None
    part: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "element": self.element, "part": self.part}


NOWHERE = Where()


@dataclass(frozen=True, slots=True)
class LintFinding:
    code: str
    points: int
    severity: Severity
    message: str
    fix: str
    where: Where = field(default=NOWHERE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "points": self.points,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
            "where": self.where.to_dict(),
        }


def finding(
    code: str, message: str, where: Where = NOWHERE, *, fix: str | None = None
) -> LintFinding:
    """A finding with the catalogue's default points and severity (re-weighted by scoring)."""
    spec = CATALOGUE[code]  # KeyError: a rule invented a code the docs do not know
    return LintFinding(code, spec.points, spec.severity, message, fix or spec.fix, where)


def clip(text: str, limit: int = 80) -> str:
    """Shorten ``text`` for messages and ``where.element``; whitespace runs collapsed."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
