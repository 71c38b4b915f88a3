"""Audit history and domain scores (docs/history.md, docs/scores.md).

* :func:`diff_audits` — what changed between two audit reports of a domain (pure);
* :func:`record_audit`, :func:`latest_audits`, :func:`audit_history`, :func:`prune_audits` —
  the ``audits`` table;
* :func:`compute_score` (pure), :func:`gather_inputs`, :func:`record_score`,
  :func:`latest_scores`, :func:`score_history` — deliverability and reputation scores;
* ``history.jobs.audit_domains`` / ``check_blocklists`` — the scheduled jobs.

The names below are imported on first use, so ``deliverwatch.history.config`` (read with
every config file) does not load SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deliverwatch.history.changes import Change, baseline_report, diff_audits
    from deliverwatch.history.inputs import gather_inputs
    from deliverwatch.history.scores import (
        DmarcCounts,
        DomainScore,
        ScoreInputs,
        ScorePart,
        SendingCounts,
        compute_score,
    )
    from deliverwatch.history.store import (
        Pruned,
        StoredAudit,
        audit_history,
        get_audit,
        latest_audits,
        latest_scores,
        prune_audits,
        record_audit,
        record_score,
        score_history,
    )

_WHERE = {
    "Change": "changes",
    "baseline_report": "changes",
    "diff_audits": "changes",
    "gather_inputs": "inputs",
    "DmarcCounts": "scores",
    "DomainScore": "scores",
    "ScoreInputs": "scores",
    "ScorePart": "scores",
    "SendingCounts": "scores",
    "compute_score": "scores",
    "Pruned": "store",
    "StoredAudit": "store",
    "audit_history": "store",
    "get_audit": "store",
    "latest_audits": "store",
    "latest_scores": "store",
    "prune_audits": "store",
    "record_audit": "store",
    "record_score": "store",
    "score_history": "store",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


__all__ = [
    "Change",
    "DmarcCounts",
    "DomainScore",
    "Pruned",
    "ScoreInputs",
    "ScorePart",
    "SendingCounts",
    "StoredAudit",
    "audit_history",
    "baseline_report",
    "compute_score",
    "diff_audits",
    "gather_inputs",
    "get_audit",
    "latest_audits",
    "latest_scores",
    "prune_audits",
    "record_audit",
    "record_score",
    "score_history",
]
