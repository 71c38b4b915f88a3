"""The scheduled jobs: audit every configured domain and store each audit with what changed
and the domain's new score; re-check blocklists between audits."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine

from deliverwatch.auth import blocklists
from deliverwatch.auth.audit import AuditOptions, AuditSession
from deliverwatch.clock import Clock
from deliverwatch.config import Config
from deliverwatch.dns import Nameserver, Resolver, normalize_name
from deliverwatch.history.changes import diff_audits
from deliverwatch.history.inputs import gather_inputs
from deliverwatch.history.recheck import with_blocklists
from deliverwatch.history.scores import compute_score
from deliverwatch.history.store import StoredAudit, latest_audits, record_audit, record_score
from deliverwatch.http import HttpSettings
from deliverwatch.store.engine import begin_write


def audit_options(config: Config) -> AuditOptions:
    """What ``deliverwatch check`` would check for the configured domains."""
    return AuditOptions(
        dnsbl_zones=tuple(config.blocklists.dnsbl),
        dbl_zones=tuple(config.blocklists.dbl),
        common_selectors=config.check.common_selectors,
        per_domain_selectors={d.name: tuple(d.dkim_selectors) for d in config.domains},
        per_domain_ips={d.name: tuple(d.sending_ips) for d in config.domains},
    )


def audit_session(config: Config) -> AuditSession:
    """A session with the config's DNS and HTTP settings."""
    resolver = Resolver(
        [Nameserver.parse(s) for s in config.dns.nameservers],
        timeout=config.dns.timeout,
        retries=config.dns.retries,
        concurrency=config.dns.concurrency,
    )
    http_settings = (
        HttpSettings(
            timeout=config.http.timeout,
            max_bytes=config.http.max_bytes,
            allow_private=config.http.allow_private,
            ca_bundle=config.http.ca_bundle,
            https_port=config.http.https_port,
        )
        if config.http.enabled
        else None
    )
    return AuditSession(
        resolver, audit_options(config), http_settings, concurrency=config.check.concurrency
    )


def store_audit(engine: Engine, report: dict[str, Any], clock: Clock) -> StoredAudit:
    """Store one report with its changes and the domain's new score. The score's inputs are
    read before the write transaction, which then only inserts: writers (webhook ingest) are
    held up for the two inserts, not for the reads."""
    domain = normalize_name(str(report.get("domain") or ""))
    with engine.connect() as conn:
        inputs = gather_inputs(conn, domain, report, clock)
    score = compute_score(inputs)
    with begin_write(engine) as conn:
        audit = record_audit(conn, report, inputs.at)
        record_score(conn, score, audit_id=audit.id)
    return audit


async def audit_domains(config: Config, engine: Engine, clock: Clock) -> list[StoredAudit]:
    """Audit ``config.domains`` and store each audit, its changes and its score, one
    transaction per domain as each audit finishes (a slow domain holds no lock, and a crash
    keeps what was done). Returns the stored audits in config order.

    A lookup that fails makes its section ``unknown`` in the report (the audit never raises
    for DNS), and :func:`~deliverwatch.history.store.record_audit` never compares an unknown
    section, so a DNS failure is never stored as a removed record.
    """
    names = [d.name for d in config.domains]
    stored: list[StoredAudit | None] = [None] * len(names)
    async with audit_session(config) as session:
        async for index, report in session.audit_many(names):
            # In a thread: the service's event loop keeps serving while the store writes.
            stored[index] = await asyncio.to_thread(store_audit, engine, report.to_dict(), clock)
    return [a for a in stored if a is not None]


def _latest(engine: Engine, names: list[str]) -> dict[str, StoredAudit]:
    with engine.connect() as conn:
        return latest_audits(conn, names)


async def check_blocklists(config: Config, engine: Engine, clock: Clock) -> dict[str, Any]:
    """Between full audits, look every audited domain (and its sending IPs) up on the
    configured blocklists. When a listing appears or goes, store a new audit: the domain's
    latest report with the fresh blocklist section, so the change, its alert and the score
    follow within minutes. Nothing is stored when nothing changed, and a lookup that fails
    (``listed`` unknown) is never a delisting."""
    options = audit_options(config)
    names = [normalize_name(d.name) for d in config.domains]
    if not names or not (options.dnsbl_zones or options.dbl_zones):
        return {"domains": 0, "changed": 0, "listed": 0}
    latest = await asyncio.to_thread(_latest, engine, names)
    names = [name for name in names if name in latest]  # not audited yet: the audit job's
    resolver = Resolver(
        [Nameserver.parse(s) for s in config.dns.nameservers],
        timeout=config.dns.timeout,
        retries=config.dns.retries,
        concurrency=config.dns.concurrency,
    )
    try:
        results = await asyncio.gather(
            *(
                blocklists.check_blocklists(
                    name,
                    resolver,
                    ips=options.ips_for(name),
                    dnsbl_zones=options.dnsbl_zones,
                    dbl_zones=options.dbl_zones,
                )
                for name in names
            )
        )
    finally:
        await resolver.aclose()
    changed = listed = 0
    for name, result in zip(names, results, strict=True):
        listed += len(result.listed)
        previous = latest[name].report
        report = with_blocklists(previous, result.to_dict(), [f.to_dict() for f in result.findings])
        if not any(c.section == "blocklists" for c in diff_audits(previous, report)):
            continue
        await asyncio.to_thread(store_audit, engine, report, clock)
        changed += 1
    return {"domains": len(names), "changed": changed, "listed": listed}
