"""The DMARC summary as `dmarc summary` and ``GET /api/v1/dmarc/summary`` answer it: the day
rollups read from the store (in a worker thread), sources named by reverse DNS when a
resolver is given, then the pure :func:`~deliverwatch.dmarc.summary.summarize`."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.engine import Engine

from deliverwatch.dmarc.rdns import SourceName
from deliverwatch.dmarc.summary import Summary, Volume, ips_by_volume, summarize
from deliverwatch.dns import Resolver


async def read_summary(
    engine: Engine,
    *,
    domain: str | None,
    since: datetime | None,
    until: datetime | None,
    resolver: Resolver | None = None,
    rdns_limit: int = 5000,
) -> Summary:
    """``domain`` (and its subdomains; all when None) over ``[since, until)`` (all time when
    None); no reverse DNS without ``resolver``."""
    from deliverwatch.dmarc.rdns import lookup_sources  # (dnspython only when asked)
    from deliverwatch.store.dmarc import count_reports, read_volumes

    wanted = domain.strip().rstrip(".").lower() if domain else None

    def read() -> tuple[list[Volume], int]:
        with engine.connect() as conn:
            volumes = read_volumes(conn, domain=wanted, since=since, until=until)
            return volumes, count_reports(conn, domain=wanted, since=since, until=until)

    volumes, reports = await asyncio.to_thread(read)
    names: dict[str, SourceName] = {}
    if resolver is not None and volumes:
        names = await lookup_sources(resolver, ips_by_volume(volumes), limit=rdns_limit)
    return summarize(volumes, names, domain=wanted, since=since, until=until, reports=reports)
