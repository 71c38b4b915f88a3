"""Two ``deliverwatch serve`` processes on one PostgreSQL: the jobs run once per tick, on
the leader only, and move to the other instance when the leader is killed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.store import create_engine
from deliverwatch.store.schema import job_runs
from tests.servers.postgres import PostgresServer
from tests.service.support import Server, write_config

DISABLED = ("audit", "blocklists", "alerts", "dmarc_mailbox", "placement")


def runs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = sa.select(job_runs).order_by(job_runs.c.id)
        return [dict(row) for row in conn.execute(query).mappings()]


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture
def shared_store(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_schema()
    yield url
    postgres_server.drop_schema(url)


def test_two_instances_share_the_jobs_and_the_survivor_takes_over(
    shared_store: str, tmp_path: Path
) -> None:
    jobs: dict[str, Any] = {name: {"enabled": False, "interval": "1h"} for name in DISABLED}
    jobs |= {"notify": {"interval": "1s"}, "compaction": {"interval": "2s"}}
    jobs |= {"digest_daily": {"enabled": False, "interval": "1d"}}
    jobs |= {"digest_weekly": {"enabled": False, "interval": "1w"}}
    config = write_config(
        tmp_path / "deliverwatch.yaml",
        {"database_url": shared_store, "scheduler": {"leader_poll": "1s", "jobs": jobs}},
    )
    engine = create_engine(shared_store)
    servers = [Server(config, tmp_path / f"server-{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.start()
        wait_until(lambda: sum(r["job"] == "notify" for r in runs(engine)) >= 4)
        before = runs(engine)
        assert len({(r["job"], r["tick"]) for r in before}) == len(before)
        leaders = {r["instance"] for r in before}
        assert len(leaders) == 1, f"jobs ran on more than one instance: {leaders}"
        (leader,) = leaders
        assert all(r["status"] in ("ok", "running") for r in before), before
        pid = int(leader.split(":")[1])
        victim = next(s for s in servers if s.process is not None and s.process.pid == pid)
        survivor = next(s for s in servers if s is not victim)
        victim.kill()
        killed_at = time.monotonic()

        def moved() -> bool:
            return any(r["instance"] != leader for r in runs(engine))

        wait_until(moved, timeout=60)
        assert time.monotonic() - killed_at < 60
        wait_until(lambda: sum(r["instance"] != leader for r in runs(engine)) >= 3)
        after = runs(engine)
        assert len({(r["job"], r["tick"]) for r in after}) == len(after)
        new = [r for r in after if r["instance"] != leader]
        assert {r["instance"] for r in new} != {leader}
        assert {r["job"] for r in new} >= {"notify"}
        token = (tmp_path / "deliverwatch-admin.token").read_text().strip()
        answer = httpx.get(
            f"{survivor.url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["leader"] is True
    finally:
        for server in servers:
            server.stop()
        engine.dispose()
