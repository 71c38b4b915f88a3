"""A real ``deliverwatch serve`` under load is killed with SIGKILL mid-stream; after a restart
every event that got a 2xx is stored, and replaying every request (acknowledged or not)
stores each event exactly once, with rollups counting each once.

This is the contract of the 2xx: an ESP that got it will never send those events again, so
they must be on disk when it is sent (group commit, ``synchronous=FULL``); an ESP that got
nothing retries, so a retry must not count an event twice.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from deliverwatch.store import create_engine, stats
from tests.service.support import Server, write_config

TOKEN = "crash-test-token"
DOMAIN = "crash.test"
REQUESTS = 400
KILL_AFTER = 120  # acknowledged requests before the SIGKILL
CONCURRENCY = 32
HEADERS = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
MAILBOXES = ["gmail.com", "yahoo.com", "outlook.com", "example.org"]
KINDS = ["sent", "delivered", "delivered", "opened", "opened", "bounced", "deferred"]


def build_requests(now: datetime) -> list[tuple[bytes, list[str]]]:
    """Single events and batches of up to 5 (JSON lines), every event with its own id."""
    requests = []
    for n in range(REQUESTS):
        lines, ids = [], []
        for i in range(1 + n % 5):
            event_id = f"crash-{n}-{i}"
            kind = KINDS[(n + i) % len(KINDS)]
            record = {
                "event_id": event_id,
                "type": kind,
                "timestamp": (now - timedelta(seconds=n * 5 + i)).isoformat(),
                "recipient": f"user{n % 97}@{MAILBOXES[n % len(MAILBOXES)]}",
                "sending_domain": DOMAIN,
                "message_id": f"<{n}.{i % 2}@{DOMAIN}>",
            }
            if kind == "bounced":
                record |= {"smtp_status": "5.1.1", "diagnostic": "550 5.1.1 user unknown"}
            lines.append(json.dumps(record))
            ids.append(event_id)
        requests.append(("\n".join(lines).encode(), ids))
    return requests


async def post_all(
    url: str,
    requests: list[tuple[bytes, list[str]]],
    on_ack: Callable[[dict[int, int]], None] | None = None,
    cut: list[int] | None = None,
) -> dict[int, int]:
    """Post every request from ``CONCURRENCY`` keep-alive connections; returns the status of
    each answered one. Requests sent but never answered are added to ``cut``."""
    cut = [] if cut is None else cut
    statuses: dict[int, int] = {}
    queue = iter(range(len(requests)))
    tls = ssl.create_default_context()  # unused (plain HTTP), but httpx builds one per client

    async def connection() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=15, verify=tls) as client:
            for index in queue:
                try:
                    response = await client.post(
                        "/webhooks/load", content=requests[index][0], headers=HEADERS
                    )
                except httpx.ConnectError:
                    continue  # not sent: the server is gone
                except httpx.TransportError:
                    cut.append(index)  # sent, then the connection died without an answer
                    continue
                statuses[index] = response.status_code
                if on_ack is not None and response.status_code == 200:
                    on_ack(statuses)

    await asyncio.gather(*(connection() for _ in range(CONCURRENCY)))
    return statuses


def stored_counts(database: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_id, COUNT(*) FROM events GROUP BY event_id"))
            return {event_id: count for event_id, count in rows}
    finally:
        engine.dispose()


async def test_acknowledged_events_survive_sigkill_and_replays_store_once(
    tmp_path: Path,
) -> None:
    database = tmp_path / "deliverwatch.db"
    config = write_config(
        tmp_path / "deliverwatch.yaml",
        {
            "database_url": f"sqlite:///{database}",
            "http": {"enabled": False},
            "sources": [{"name": "load", "provider": "generic", "token": TOKEN}],
        },
    )
    log = tmp_path / "server.log"
    now = datetime.now(UTC).replace(microsecond=0)
    requests = build_requests(now)
    every_id = {event_id for _, ids in requests for event_id in ids}

    server = Server(config, log).start()
    try:

        def kill_when_enough(statuses: dict[int, int]) -> None:
            if sum(s == 200 for s in statuses.values()) >= KILL_AFTER:
                server.kill()  # the other requests in flight lose their connection

        cut: list[int] = []
        statuses = await post_all(server.url, requests, kill_when_enough, cut)
    finally:
        server.kill()
    assert server.process is not None and server.process.returncode == -9
    acked = [i for i, status in statuses.items() if status == 200]
    assert KILL_AFTER <= len(acked) < REQUESTS
    assert cut, "no request was in flight when the server was killed"
    assert all(status == 200 for status in statuses.values()), statuses

    # Restarted on the same database: every acknowledged event is there, once.
    restarted = Server(config, log).start()
    try:
        before = stored_counts(database)
        acked_ids = {event_id for i in acked for event_id in requests[i][1]}
        assert acked_ids - before.keys() == set(), "acknowledged events were lost"
        assert set(before.values()) == {1}
        assert before.keys() <= every_id

        # The ESPs retry: every request again, acknowledged or not.
        replayed = await post_all(restarted.url, requests)
        assert replayed == dict.fromkeys(range(REQUESTS), 200)
    finally:
        assert restarted.stop() == 0, log.read_text()[-2000:]

    after = stored_counts(database)
    assert after.keys() == every_id
    assert set(after.values()) == {1}
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            row = stats(
                conn, domain=DOMAIN, since=now - timedelta(days=1), until=now + timedelta(hours=1)
            )[0]
    finally:
        engine.dispose()
    counted = row.sent_events + row.delivered + row.bounces + row.deferred + row.opens
    assert counted == len(every_id)
    kinds = [KINDS[(n + i) % len(KINDS)] for n in range(REQUESTS) for i in range(1 + n % 5)]
    assert row.opens == kinds.count("opened")
    assert row.bounces == kinds.count("bounced")
    opened_messages = {
        (n, i % 2)
        for n in range(REQUESTS)
        for i in range(1 + n % 5)
        if KINDS[(n + i) % len(KINDS)] == "opened"
    }
    assert row.unique_opens == len(opened_messages)
