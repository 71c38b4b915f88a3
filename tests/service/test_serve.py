"""``deliverwatch serve`` as users start it: a real process on a SQLite file, with the
scheduler, a token made on first start, events in through the real webhook endpoint, and a
clean stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from deliverwatch.service.workers import port_is_free, supervise
from tests.servers.dnsserver import DNSServer
from tests.service.support import Server, write_config

SOURCE_TOKEN = "source-token-0123456789"


def wait_until(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def test_serve_from_first_start_to_a_clean_stop(tmp_path: Path, dns_server: DNSServer) -> None:
    config = write_config(
        tmp_path / "deliverwatch.yaml",
        {
            "database_url": f"sqlite:///{tmp_path / 'deliverwatch.db'}",
            "dns": {"nameservers": [dns_server.address], "timeout": 1.0},
            "http": {"enabled": False},
            "blocklists": {"dnsbl": [], "dbl": []},
            "domains": [{"name": "shop.test"}],
            "sources": [
                {
                    "name": "app",
                    "provider": "generic",
                    "token": SOURCE_TOKEN,
                    "sending_domain": "shop.test",
                }
            ],
        },
    )
    log = tmp_path / "serve.log"
    server = Server(config, log).start()
    try:
        token_file = tmp_path / "deliverwatch-admin.token"
        token = token_file.read_text().strip()
        assert token.startswith("dw_")
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{server.url}/readyz", timeout=5).json()["status"] == "ok"

        now = datetime.now(UTC)
        lines = [
            {
                "type": "delivered",
                "timestamp": (now - timedelta(minutes=i)).isoformat(),
                "recipient": f"user{i}@gmail.com",
                "event_id": f"e{i}",
            }
            for i in range(3)
        ]
        body = "\n".join(json.dumps(line) for line in lines)
        posted = httpx.post(
            f"{server.url}/webhooks/app",
            content=body,
            headers={
                "Authorization": f"Bearer {SOURCE_TOKEN}",
                "content-type": "application/x-ndjson",
            },
            timeout=10,
        )
        assert posted.status_code == 200, posted.text
        assert posted.json()["inserted"] == 3

        stats = httpx.get(
            f"{server.url}/api/v1/stats", params={"domain": "shop.test"}, headers=auth, timeout=10
        ).json()
        assert stats["rows"][0]["counts"]["delivered"] == 3

        # The scheduler started with the service: the audit of shop.test ran and was kept.
        def audited() -> bool:
            jobs = httpx.get(f"{server.url}/api/v1/jobs", headers=auth, timeout=10).json()
            run = jobs["latest"].get("audit")
            return bool(run and run["status"] in ("ok", "failed")) and jobs["leader"] is True

        wait_until(audited)
        jobs = httpx.get(f"{server.url}/api/v1/jobs", headers=auth, timeout=10).json()
        assert jobs["latest"]["audit"]["status"] == "ok", jobs["latest"]["audit"]
        audits = httpx.get(
            f"{server.url}/api/v1/domains/shop.test/audits", headers=auth, timeout=10
        )
        assert audits.status_code == 200 and audits.json()["audits"]

        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert 'deliverwatch_webhook_events_total{outcome="inserted",source="app"} 3.0' in metrics
        assert "deliverwatch_scheduler_leader 1.0" in metrics
    finally:
        code = server.stop()
    assert code == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert token not in text and SOURCE_TOKEN not in text
    assert "deliverwatch-admin.token" in text


def test_workers_share_the_store_one_scheduler_and_the_metrics(tmp_path: Path) -> None:
    jobs = {
        name: {"enabled": False, "interval": "1h"}
        for name in ("audit", "blocklists", "alerts", "dmarc_mailbox", "placement", "compaction")
    }
    jobs["notify"] = {"interval": "1s"}
    config = write_config(
        tmp_path / "deliverwatch.yaml",
        {
            "database_url": f"sqlite:///{tmp_path / 'deliverwatch.db'}",
            "scheduler": {"leader_poll": "1s", "jobs": jobs},
            "sources": [{"name": "app", "provider": "generic", "token": SOURCE_TOKEN}],
        },
    )
    log = tmp_path / "serve.log"
    server = Server(config, log, args=("--workers", "2")).start(timeout=90)
    try:
        token = (tmp_path / "deliverwatch-admin.token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        now = datetime.now(UTC).isoformat()
        for i in range(20):
            line = {
                "type": "delivered",
                "timestamp": now,
                "recipient": f"u{i}@gmail.com",
                "event_id": f"w{i}",
                "sending_domain": "shop.test",
            }
            posted = httpx.post(
                f"{server.url}/webhooks/app",
                content=json.dumps(line),
                headers={
                    "Authorization": f"Bearer {SOURCE_TOKEN}",
                    "content-type": "application/json",
                },
                timeout=10,
            )
            assert posted.status_code == 200, posted.text

        def ran_a_few() -> list[dict[str, object]]:
            answer = httpx.get(
                f"{server.url}/api/v1/jobs", params={"job": "notify"}, headers=auth, timeout=10
            )
            runs: list[dict[str, object]] = answer.json()["runs"]
            return runs if len(runs) >= 3 else []

        runs = wait_until(ran_a_few)
        assert len({run["tick"] for run in runs}) == len(runs)
        assert len({run["instance"] for run in runs}) == 1  # one worker leads
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert 'deliverwatch_webhook_events_total{outcome="inserted",source="app"} 20.0' in metrics
        stats = httpx.get(
            f"{server.url}/api/v1/stats", params={"domain": "shop.test"}, headers=auth, timeout=10
        )
        assert stats.json()["rows"][0]["counts"]["delivered"] == 20
    finally:
        code = server.stop()
    assert code == 0, log.read_text()[-3000:]


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return {int(child) for child in listing.read().split()}


def _listening(pids: set[int], port: int) -> set[int]:
    """Which of ``pids`` hold a socket listening on ``port`` (Linux ``/proc``). A worker
    binds at once but listens only once its application is loaded."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    found = set()
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(FileNotFoundError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        found.add(pid)
                        break
    return found


def test_a_worker_that_dies_is_replaced_and_the_rest_keep_serving(tmp_path: Path) -> None:
    """``serve --workers 2`` supervises its workers itself (a listening socket each): one
    killed by SIGKILL (the OOM killer) is started again, and a stop still ends cleanly."""
    config = write_config(
        tmp_path / "deliverwatch.yaml",
        {"database_url": f"sqlite:///{tmp_path / 'deliverwatch.db'}", "scheduler": {}},
    )
    log = tmp_path / "serve.log"
    server = Server(config, log, args=("--workers", "2", "--no-scheduler")).start(timeout=90)
    try:
        assert server.process is not None
        supervisor = server.process.pid
        # ready means one worker answers; the kill must leave one that listens
        workers = wait_until(
            lambda: (
                (found := _children(supervisor))
                and len(_listening(found, server.port)) == 2
                and found
            )
        )
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        replaced = wait_until(
            lambda: (now := _children(supervisor)) and len(now) == 2 and victim not in now and now
        )
        assert replaced - workers, "a new worker process"
        survivor = workers - {victim}
        assert survivor <= _listening(replaced, server.port), "the survivor still listens"
        for _ in range(20):  # new connections reach whichever workers listen
            assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        code = server.stop()
    assert code == 0, log.read_text()[-3000:]
    assert "starting another" in log.read_text()


def test_serve_with_workers_refuses_a_port_another_program_holds(tmp_path: Path) -> None:
    """Each worker binds with SO_REUSEPORT; without a check first, they could join another
    deliverwatch service already on the port instead of failing."""
    config = write_config(
        tmp_path / "deliverwatch.yaml", {"database_url": f"sqlite:///{tmp_path / 'dw.db'}"}
    )
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        command = [sys.executable, "-m", "deliverwatch", "serve", "--config", str(config)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "already in use" in done.stdout + done.stderr


def test_workers_that_exit_at_start_stop_the_supervisor(tmp_path: Path) -> None:
    """A worker that exits by itself at start (here: the port is held without SO_REUSEPORT,
    which serve itself would have refused) would fail the same way again: the supervisor
    stops, with exit code 1, instead of restarting it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        assert supervise(2, "127.0.0.1", port) == 1
    assert port_is_free("127.0.0.1", port)
