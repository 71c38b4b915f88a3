"""``history:`` in deliverwatch.yaml: how long audits and scores are kept."""

from __future__ import annotations

from pydantic import Field

from deliverwatch.config import _Model


class HistorySettings(_Model):
    """Audits and scores older than ``keep_days`` are deleted by retention (the latest of each
    domain is always kept: the next audit is compared with it)."""

    keep_days: int = Field(400, ge=1, le=36_500)
