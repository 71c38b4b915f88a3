"""Prometheus metrics (``GET /metrics``; docs/metrics.md lists them).

Counters and histograms of what this process did (webhooks, jobs) live in one registry per
process. The per-domain state (scores, rates, audit status, active alerts) is read from the
store at scrape time by :class:`StoreCollector`, so every instance behind a load balancer
reports the same values and nothing is lost on restart.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOK_REQUESTS = Counter(
    "deliverwatch_webhook_requests_total",
    "Webhook requests by source and HTTP status.",
    ["source", "status"],
    registry=REGISTRY,
)
WEBHOOK_EVENTS = Counter(
    "deliverwatch_webhook_events_total",
    "Events received on webhooks, by source and outcome (stored, duplicate).",
    ["source", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "deliverwatch_webhook_request_seconds",
    "Time from a webhook request's arrival to its answer (events durably stored).",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "deliverwatch_http_requests_total",
    "API and dashboard requests by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
API_LATENCY = Histogram(
    "deliverwatch_http_request_seconds",
    "API and dashboard request latency by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "deliverwatch_job_runs_total",
    "Scheduled job runs by job and status (ok, failed).",
    ["job", "status"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "deliverwatch_job_duration_seconds",
    "Scheduled job run time.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
JOB_LAST_SUCCESS = Gauge(
    "deliverwatch_job_last_success_timestamp_seconds",
    "When each job last finished without error (Unix time).",
    ["job"],
    registry=REGISTRY,
    multiprocess_mode="max",
)
SCHEDULER_LEADER = Gauge(
    "deliverwatch_scheduler_leader",
    "1 when this instance runs the scheduled jobs.",
    registry=REGISTRY,
    multiprocess_mode="max",
)


def process_registry() -> CollectorRegistry:
    """This process's metrics, or with ``serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR``
    set) those of every worker process, summed."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class StoreCollector(Collector):
    """Gauges read from the store at scrape time: ``read()`` returns the samples."""

    def __init__(self, read: Callable[[], dict[str, list[tuple[dict[str, str], float]]]]) -> None:
        self._read = read

    def describe(self) -> Iterator[Metric]:
        return iter(())  # values only known at scrape time

    def collect(self) -> Iterator[Metric]:
        try:
            samples = self._read()
        except Exception as exc:
            log.warning("metrics: reading the store failed: %s", exc)
            samples = {}
        up = GaugeMetricFamily("deliverwatch_store_up", "1 when the store answered the scrape.")
        up.add_metric([], 1.0 if samples else 0.0)
        yield up
        for name, points in samples.items():
            help_text, labels = _STORE_GAUGES[name]
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for label_values, value in points:
                family.add_metric([label_values.get(k, "") for k in labels], value)
            yield family


#: name -> (help, label names) of the gauges read from the store.
_STORE_GAUGES: dict[str, tuple[str, list[str]]] = {
    "deliverwatch_domain_score": (
        "Deliverability and reputation score (0-100) of each domain.",
        ["domain", "kind"],
    ),
    "deliverwatch_domain_rate": (
        "Rates over the last 24 hours (ratio 0-1), by domain and kind "
        "(bounce, hard_bounce, complaint, deferral, open, click).",
        ["domain", "kind"],
    ),
    "deliverwatch_domain_events_24h": (
        "Events over the last 24 hours by domain and type.",
        ["domain", "type"],
    ),
    "deliverwatch_domain_audit_status": (
        "Latest audit: 1 for the domain's current status (ok, warning, error, unknown).",
        ["domain", "status"],
    ),
    "deliverwatch_domain_audit_timestamp_seconds": (
        "When each domain was last audited (Unix time).",
        ["domain"],
    ),
    "deliverwatch_domain_audit_findings": (
        "Findings of the latest audit by domain and severity.",
        ["domain", "severity"],
    ),
    "deliverwatch_alerts_active": (
        "Firing alerts by severity (and pending ones, state=pending).",
        ["severity", "state"],
    ),
    "deliverwatch_domain_alerts_active": (
        "Firing alerts per domain and severity.",
        ["domain", "severity"],
    ),
    "deliverwatch_outbox_notifications": (
        "Notifications in the outbox by channel and state.",
        ["channel", "state"],
    ),
    "deliverwatch_placement_rate": (
        "Latest inbox placement test: share of seeds by folder (inbox, spam, tab, missing).",
        ["provider", "folder"],
    ),
    "deliverwatch_dmarc_pass_rate": (
        "DMARC pass rate over the last 7 days of aggregate reports, by domain.",
        ["domain"],
    ),
    "deliverwatch_dmarc_messages_7d": (
        "Messages in DMARC aggregate reports over the last 7 days, by domain.",
        ["domain"],
    ),
}


def store_gauge_names() -> list[str]:
    return sorted(_STORE_GAUGES)


def store_registry(read: Callable[[], dict[str, Any]]) -> CollectorRegistry:
    """A registry of one app's store gauges (apps in one process each read their own store)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(read))
    return registry
