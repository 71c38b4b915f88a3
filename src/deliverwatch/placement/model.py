"""What a placement run found: one :class:`SeedResult` per seed, rates per provider and overall.

Placements:

* ``inbox`` — in INBOX (Gmail: in Primary, or with no category label),
* ``tab`` — in INBOX under a Gmail category other than Primary (promotions, social, …),
* ``spam`` — in the junk folder,
* ``missing`` — not found by the timeout,
* ``rejected`` — the relay or the receiver refused the recipient (SMTP code and text kept),
* ``error`` — the seed could not be checked (IMAP login failed, TLS, network): not counted
  in the rates, since nothing is known about where the mail went.

Rates are over the seeds whose placement is known (inbox + tab + spam + missing + rejected).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Placement = Literal["inbox", "tab", "spam", "missing", "rejected", "error"]
PLACEMENTS: tuple[Placement, ...] = ("inbox", "tab", "spam", "missing", "rejected", "error")
COUNTED: tuple[Placement, ...] = ("inbox", "tab", "spam", "missing", "rejected")


@dataclass(frozen=True)
class SeedResult:
    address: str
    provider: str
    placement: Placement
    folder: str | None = None
    tab: str | None = None
    seconds: float | None = None  # from the relay's acceptance to the message being found
    smtp_code: int | None = None
    smtp_message: str | None = None
    error: str | None = None
    authentication: dict[str, str] = field(default_factory=dict)  # spf/dkim/dmarc/... verdicts
    authentication_results: list[str] = field(default_factory=list)  # the raw header values
    spam_headers: dict[str, str] = field(default_factory=dict)
    spam_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "provider": self.provider,
            "placement": self.placement,
            "folder": self.folder,
            "tab": self.tab,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "smtp_code": self.smtp_code,
            "smtp_message": self.smtp_message,
            "error": self.error,
            "authentication": dict(self.authentication),
            "authentication_results": list(self.authentication_results),
            "spam_headers": dict(self.spam_headers),
            "spam_score": self.spam_score,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeedResult:
        return cls(
            address=data["address"],
            provider=data["provider"],
            placement=data["placement"],
            folder=data.get("folder"),
            tab=data.get("tab"),
            seconds=data.get("seconds"),
            smtp_code=data.get("smtp_code"),
            smtp_message=data.get("smtp_message"),
            error=data.get("error"),
            authentication=dict(data.get("authentication") or {}),
            authentication_results=list(data.get("authentication_results") or []),
            spam_headers=dict(data.get("spam_headers") or {}),
            spam_score=data.get("spam_score"),
        )


@dataclass(frozen=True)
class Rates:
    """Counts per placement and the shares of the counted seeds (0.0-1.0)."""

    total: int
    counted: int
    counts: dict[str, int]  # every placement, zeros included

    @classmethod
    def of(cls, results: Iterable[SeedResult]) -> Rates:
        counts: dict[str, int] = dict.fromkeys(PLACEMENTS, 0)
        for result in results:
            counts[result.placement] += 1
        counted = sum(counts[p] for p in COUNTED)
        return cls(total=sum(counts.values()), counted=counted, counts=counts)

    def rate(self, placement: Placement) -> float | None:
        return None if self.counted == 0 else self.counts[placement] / self.counted

    @property
    def inbox_rate(self) -> float | None:
        """Inbox share; a Gmail tab counts as delivered to the inbox, not as inbox proper."""
        return self.rate("inbox")

    def to_dict(self) -> dict[str, Any]:
        rates = {f"{p}_rate": _round(self.rate(p)) for p in COUNTED}
        return {"total": self.total, "counted": self.counted, "counts": self.counts, **rates}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class PlacementRun:
    token: str
    started_at: datetime
    finished_at: datetime
    results: list[SeedResult]
    sender: str = ""
    subject: str = ""
    timed_out: bool = False
    id: int | None = None  # set once stored

    @property
    def overall(self) -> Rates:
        return Rates.of(self.results)

    def by_provider(self) -> dict[str, Rates]:
        providers = sorted({r.provider for r in self.results})
        return {p: Rates.of(r for r in self.results if r.provider == p) for p in providers}

    @property
    def inbox_rate(self) -> float | None:
        return self.overall.inbox_rate

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "token": self.token,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_seconds": round(self.duration, 3),
            "sender": self.sender,
            "subject": self.subject,
            "timed_out": self.timed_out,
            "overall": self.overall.to_dict(),
            "providers": {p: rates.to_dict() for p, rates in self.by_provider().items()},
            "seeds": [r.to_dict() for r in self.results],
        }
