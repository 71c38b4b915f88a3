"""One rule → its signals: gathers the inputs (``inputs.py``) and calls the pure functions.

Result sets are cached per evaluation, so the rules that read the same window (complaint and
hard-bounce rates per domain share one query) pay for it once. Each rule says which domains
it looked at (``scope``): open alerts of the rule outside it are left as they are (the audit
regression rule only re-reads domains with a new audit), inside it an open alert without a
signal counts as clear.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from deliverwatch.alerts import inputs
from deliverwatch.alerts.config import RuleConfig
from deliverwatch.alerts.detectors import Point, anomaly_signal, trend_signal
from deliverwatch.alerts.model import CLEAR, Signal
from deliverwatch.alerts.regressions import regression_signals
from deliverwatch.alerts.signals import (
    clearly_clear,
    dmarc_new_sources,
    dmarc_pass_rate,
    placement_signals,
    rate_signal,
)
from deliverwatch.store.rollups import DAY, HOUR
from deliverwatch.store.stats import wilson

WEEK = timedelta(days=7)
#: Counts of windows that ended this long ago are "settled": kept in this process and not
#: read again (anomaly baselines weeks back, trend days before yesterday). Events that
#: arrive later than this for such a window are seen after a restart. Rate windows, which
#: reach up to now, are always read.
SETTLED = timedelta(hours=48)
SETTLED_ENTRIES = 256
_SETTLED: dict[tuple[Any, ...], dict[Any, Any]] = {}
Rows = dict[inputs.Key, inputs.Counts]
NO_COUNTS = inputs.Counts()
#: Audits read per domain for regressions beyond ``persist_audits``.
AUDIT_DEPTH = 12


@dataclass(slots=True)
class RuleSignals:
    rule: RuleConfig
    signals: list[Signal] = field(default_factory=list)
    scope: set[str] | None = None  # None: every domain
    error: str | None = None
    cursor: int | None = None  # regression: the largest audit id read


class Collector:
    """Signals of each rule at ``now``, reading through ``conn``."""

    def __init__(self, conn: Connection, now: datetime, domains: Collection[str] = ()) -> None:
        self.conn = conn
        self.now = now
        self.domains = sorted(domains)
        self._totals: dict[tuple[datetime, datetime], tuple[Rows, Rows]] = {}
        self._counts: dict[tuple[Any, ...], Rows] = {}
        self.open_domains: set[str] = set()

    def totals(self, since: datetime, until: datetime) -> tuple[Rows, Rows]:
        """(per domain, per domain and mailbox provider) counts of the window."""
        key = (since, until)
        if key not in self._totals:
            self._totals[key] = inputs.domain_totals(self.conn, since, until)
        return self._totals[key]

    def counts(
        self,
        since: datetime,
        until: datetime,
        *,
        step: int | None = None,
        domains: Collection[str] | None = None,
    ) -> Rows:
        key = (since, until, step, tuple(sorted(domains)) if domains else None)
        if key in self._counts:
            return self._counts[key]
        settled = until <= self.now - SETTLED
        store_key = (str(self.conn.engine.url), *key)
        found = _SETTLED.get(store_key) if settled else None
        if found is None:
            found = inputs.window_counts(self.conn, since, until, step=step, domains=domains)
            if settled:
                _SETTLED[store_key] = found
                while len(_SETTLED) > SETTLED_ENTRIES:
                    _SETTLED.pop(next(iter(_SETTLED)))
        self._counts[key] = found
        return found

    def collect(
        self, rule: RuleConfig, open_domains: Collection[str], audit_cursor: int
    ) -> RuleSignals:
        self.open_domains = set(open_domains)
        try:
            if rule.kind == "rate":
                return self.rate(rule)
            if rule.kind == "anomaly":
                return self.anomaly(rule)
            if rule.kind == "trend":
                return self.trend(rule)
            if rule.kind == "regression":
                return self.regression(rule, open_domains, audit_cursor)
            if rule.kind == "dmarc":
                return self.dmarc(rule)
            return self.placement(rule)
        except (ImportError, KeyError) as exc:  # a source not installed or not migrated yet
            return RuleSignals(rule, scope=set(), error=f"source unavailable: {exc}")

    def rate(self, rule: RuleConfig) -> RuleSignals:
        by_domain, by_provider = self.totals(self.hour_start(self.now - rule.window), self.now)
        rows = by_provider if rule.per == "mailbox_provider" else by_domain
        signals = []
        for (domain, provider, _), counts in sorted(rows.items()):
            numerator, denominator = counts.fraction(rule.metric)
            if clearly_clear(rule, numerator, denominator):
                if domain in self.open_domains:  # else a clear signal changes nothing
                    signals.append(
                        Signal(
                            rule.name, "rate", domain, CLEAR, provider=provider, subject=rule.metric
                        )
                    )
            else:
                signals.append(rate_signal(rule, domain, wilson(numerator, denominator), provider))
        return RuleSignals(rule, signals)

    def anomaly(self, rule: RuleConfig) -> RuleSignals:
        # whole hours: the last complete ones against the same hours of earlier weeks (older
        # minute rollups are compacted, so those are whole hours anyway)
        end = self.hour_start(self.now)
        start = self.hour_start(end - rule.window)
        current = self.counts(start, end)
        weeks = [
            self.counts(start - k * WEEK, end - k * WEEK) for k in range(1, rule.baseline_weeks + 1)
        ]
        domains = {key[0] for key in current}
        if rule.metric == "volume":
            domains |= {key[0] for rows in weeks for key in rows}
        baselines: dict[str, list[Point]] = {}
        short = []
        for domain in sorted(domains):
            points = [rows.get((domain, "", 0), NO_COUNTS).point(rule.metric) for rows in weeks]
            baselines[domain] = [p for p in points if p.volume > 0]
            if len(baselines[domain]) < rule.min_baseline:
                short.append(domain)
        recent: dict[str, list[Point]] = defaultdict(list)
        if short:
            hourly = self.counts(
                start - timedelta(hours=rule.ewma_hours), start, step=HOUR, domains=short
            )
            for (domain, _, _bucket), row in sorted(hourly.items()):
                recent[domain].append(row.point(rule.metric))
        signals = [
            anomaly_signal(
                rule,
                domain,
                current.get((domain, "", 0), NO_COUNTS).point(rule.metric),
                baselines[domain],
                recent.get(domain, []),
            )
            for domain in sorted(domains)
        ]
        return RuleSignals(rule, signals)

    def trend(self, rule: RuleConfig) -> RuleSignals:
        now = int(self.now.timestamp())
        today = now - now % DAY
        start = today - (rule.days - 1) * DAY
        recent = today - 2 * DAY  # the last three days are read every time (late events)
        daily = dict(self.counts(self.fromts(start), self.fromts(recent), step=DAY))
        daily.update(self.counts(self.fromts(recent), self.now, step=DAY))
        series: dict[str, list[tuple[float, Point]]] = defaultdict(list)
        for (domain, _, bucket), row in sorted(daily.items()):
            middle = (bucket + min(bucket + DAY, now)) / 2
            series[domain].append((middle / DAY, row.point(rule.metric)))
        signals = [
            trend_signal(rule, domain, points, now / DAY)
            for domain, points in sorted(series.items())
        ]
        return RuleSignals(rule, signals)

    def regression(
        self, rule: RuleConfig, open_domains: Collection[str], cursor: int
    ) -> RuleSignals:
        changed, newest = inputs.audited_domains(self.conn, cursor)
        scope = changed | set(open_domains)
        signals: list[Signal] = []
        for domain in sorted(scope):
            reports = inputs.audit_reports(self.conn, domain, rule.persist_audits + AUDIT_DEPTH)
            signals += regression_signals(rule, domain, reports)
        return RuleSignals(rule, signals, scope=scope, cursor=newest)

    def dmarc(self, rule: RuleConfig) -> RuleSignals:
        end = self.now - rule.window
        recent = inputs.dmarc_volumes(self.conn, end, self.now)
        baseline = inputs.dmarc_volumes(self.conn, end - rule.baseline, end)
        domains = self.domains or sorted({v.domain for v in recent})
        signals: list[Signal] = []
        for domain in domains:
            if rule.signal == "new_source":
                signals += dmarc_new_sources(rule, domain, recent, baseline)
            else:
                signals.append(dmarc_pass_rate(rule, domain, recent, baseline))
        return RuleSignals(rule, signals)

    def placement(self, rule: RuleConfig) -> RuleSignals:
        points = inputs.placement_points(self.conn, self.now - rule.window)
        return RuleSignals(rule, placement_signals(rule, points))

    @staticmethod
    def hour_start(moment: datetime) -> datetime:
        """Windows of rates are read in whole hours: the hour rollups, not 60 minute rows at
        each edge (a 24h window read at 10:07 starts at 10:00 the day before)."""
        return moment.replace(minute=0, second=0, microsecond=0)

    @staticmethod
    def fromts(epoch: int) -> datetime:
        from datetime import UTC

        return datetime.fromtimestamp(epoch, UTC)
