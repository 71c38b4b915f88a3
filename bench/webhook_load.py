"""HTTP load benchmark: a real ``deliverwatch serve`` on SQLite, loaded from other processes.

Targets (from the issue): at least 30,000 events/s posted as SendGrid-style signed batches of
500, and at least 2,000 requests/s of single-event posts (Mailgun, Postmark), p99 latency
under 250 ms. Every acknowledgement is durable (group commit, ``synchronous=FULL``).

Each scenario gets a fresh store and a fresh server process (``python -m deliverwatch serve``,
loopback-only through ``bench/guard``). The requests are built and signed before the clock
starts (distinct event ids, one-time tokens) and encoded as raw HTTP/1.1 bytes; the load
generator is a minimal keep-alive client on uvloop in ``--procs`` separate processes, so it
costs far less CPU than the server (its own CPU time is reported next to the server's). Two
modes per scenario:

* ``max``: closed loop, ``--connections`` requests in flight: the throughput ceiling;
* ``rate``: open loop at a fixed offered load (``--rate`` requests/s): latency measured from
  each request's scheduled send time, so queueing behind a slow server counts (no
  coordinated omission).

After each run the server is stopped and the store is checked: every event sent is stored
exactly once, and the rollup totals equal the number of events. The ``floor`` scenario posts
the Mailgun requests to a do-nothing ASGI app under the same uvicorn: the ceiling that uvicorn
and the load generator allow by themselves.

    .venv/bin/python bench/webhook_load.py                  # every scenario, both modes
    .venv/bin/python bench/webhook_load.py --scenario mailgun --mode rate --rate 2000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import multiprocessing
import os
import pickle
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[1]
GUARD = ROOT / "bench" / "guard"
RESULTS = ROOT / "bench" / "results"
MAILGUN_KEY = "key-bench-0123456789abcdef"
POSTMARK_AUTH = "Basic " + base64.b64encode(b"hook:bench-Pa55").decode()
MAILBOXES = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.org"]
DOMAIN = "news.bench.example"


# --- requests ------------------------------------------------------------------------


@dataclass
class Workload:
    name: str
    source: str
    requests: list[bytes]  # raw HTTP/1.1 requests, keep-alive
    event_ids: list[list[str]]  # per request, the event ids it carries

    @property
    def events(self) -> int:
        return sum(len(ids) for ids in self.event_ids)


def http_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def sendgrid_workload(requests: int, batch: int, key: ec.EllipticCurvePrivateKey) -> Workload:
    """Signed JSON arrays of ``batch`` events: processed, delivered, some opens and bounces."""
    kinds = ["processed", "delivered", "delivered", "open", "deferred", "bounce"]
    raw, ids = [], []
    now = int(time.time())
    for r in range(requests):
        items, these = [], []
        for i in range(batch):
            n = r * batch + i
            kind = kinds[n % len(kinds)]
            item: dict[str, Any] = {
                "email": f"user{n}@{MAILBOXES[n % len(MAILBOXES)]}",
                "timestamp": now - 60 + n % 60,
                "smtp-id": f"<{n // 3}@{DOMAIN}>",
                "event": kind,
                "category": ["bench"],
                "sg_event_id": f"sg-{n}",
                "sg_message_id": f"m{n // 3}.filter0001.16648.0",
                "ip": "192.0.2.10",
            }
            if kind == "bounce":
                item.update(status="5.1.1", reason="550 5.1.1 user unknown", type="bounce")
            elif kind == "deferred":
                item.update(response="421 4.7.0 try again later", attempt="1")
            items.append(item)
            these.append(f"sg-{n}")
        body = json.dumps(items).encode()
        stamp = str(now)
        signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }
        raw.append(http_request("/webhooks/sendgrid", body, headers))
        ids.append(these)
    return Workload("sendgrid-batch", "sendgrid", raw, ids)


def mailgun_workload(requests: int) -> Workload:
    """One delivered event per request, each with its own one-time token."""
    raw, ids = [], []
    now = int(time.time())
    for n in range(requests):
        stamp, token = str(now), f"{n:08d}" + "t" * 42
        digest = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256)
        payload = {
            "signature": {"timestamp": stamp, "token": token, "signature": digest.hexdigest()},
            "event-data": {
                "id": f"mg-{n}",
                "timestamp": now - n % 60 + 0.25,
                "event": "delivered",
                "recipient": f"user{n}@{MAILBOXES[n % len(MAILBOXES)]}",
                "tags": ["bench"],
                "message": {
                    "headers": {
                        "message-id": f"{n}@{DOMAIN}",
                        "from": f"News <news@{DOMAIN}>",
                    }
                },
                "envelope": {"sending-ip": "198.51.100.20"},
                "delivery-status": {"code": 250, "message": "OK"},
            },
        }
        body = json.dumps(payload).encode()
        raw.append(http_request("/webhooks/mailgun", body, {"Content-Type": "application/json"}))
        ids.append([f"mg-{n}"])
    return Workload("mailgun-single", "mailgun", raw, ids)


def postmark_workload(requests: int) -> Workload:
    """One delivery per request, Basic credentials (Postmark does not sign)."""
    raw, ids = [], []
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for n in range(requests):
        payload = {
            "RecordType": "Delivery",
            "ID": f"pm-{n}",
            "MessageID": f"00000000-0000-0000-0000-{n:012d}",
            "Recipient": f"user{n}@{MAILBOXES[n % len(MAILBOXES)]}",
            "Tag": "bench",
            "DeliveredAt": stamp,
            "Details": "smtp;250 2.0.0 OK",
            "MessageStream": "outbound",
        }
        headers = {"Content-Type": "application/json", "Authorization": POSTMARK_AUTH}
        raw.append(http_request("/webhooks/postmark", json.dumps(payload).encode(), headers))
        ids.append([f"pm-{n}"])
    return Workload("postmark-single", "postmark", raw, ids)


# --- the floor: uvicorn and the load generator with no deliverwatch --------------------


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that reads the body and answers what a webhook answers, doing nothing
    else: what uvicorn and the load generator cost by themselves (``--scenario floor``)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = b'{"accepted":1,"inserted":1,"duplicates":0,"expired":0}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- the server ----------------------------------------------------------------------


def write_config(directory: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = {
        "database_url": f"sqlite:///{directory / 'bench.db'}",
        "http": {"enabled": False},
        "server": {"max_body_bytes": 50_000_000},
        "scheduler": {"enabled": False},  # no jobs competing with the load
        "sources": [
            {
                "name": "sendgrid",
                "provider": "sendgrid",
                "public_key": base64.b64encode(der).decode(),
                "sending_domain": DOMAIN,
                "max_age_seconds": 3600,
            },
            {
                "name": "mailgun",
                "provider": "mailgun",
                "secret": MAILGUN_KEY,
                "max_age_seconds": 3600,
            },
            {
                "name": "postmark",
                "provider": "postmark",
                "username": "hook",
                "password": "bench-Pa55",
                "sending_domain": DOMAIN,
            },
        ],
    }
    path = directory / "deliverwatch.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    config: Path, port: int, log: Path, floor: bool = False, workers: int = 1
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(GUARD), str(ROOT / "bench")]))
    command = [sys.executable, "-m", "deliverwatch", "serve", "--config", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    if floor:
        command = [sys.executable, "-m", "uvicorn", "webhook_load:floor_app", "--port", str(port)]
        command += ["--log-level", "warning", "--no-access-log"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited at start: {log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not become ready in 120 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live descendants (from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        times[child] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    family = {pid}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in family and child not in family:
                family.add(child)
                changed = True
    total = sum(times.get(p, 0.0) for p in family)
    return total


# --- the load generator (child processes) --------------------------------------------


@dataclass
class Shard:
    port: int
    requests: list[bytes]
    connections: int
    rate: float | None  # requests/s this process offers; None: closed loop
    out: str


@dataclass
class ShardResult:
    latencies: list[float] = field(default_factory=list)  # seconds, per request
    statuses: list[int] = field(default_factory=list)  # per request; 0: connection failed
    started: float = 0.0
    finished: float = 0.0
    cpu: float = 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _drive(shard: Shard, start: float) -> ShardResult:
    """Send the shard's requests over its connections; latencies by ``time.perf_counter``
    (uvloop's ``loop.time()`` ticks in milliseconds), from the scheduled send time in rate
    mode."""
    result = ShardResult()
    count = len(shard.requests)
    result.latencies = [0.0] * count
    result.statuses = [0] * count
    next_index = 0
    clock = time.perf_counter

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", shard.port, limit=1 << 20)
        try:
            while next_index < count:
                index = next_index
                next_index += 1
                if shard.rate is None:
                    sent = clock()
                else:
                    sent = start + index / shard.rate
                    delay = sent - clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                writer.write(shard.requests[index])
                try:
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError):
                    result.latencies[index] = clock() - sent
                    return
                result.latencies[index] = clock() - sent
                result.statuses[index] = status
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(shard.connections)))
    return result


def _child(shard: Shard, ready: Any, go: Any) -> None:
    import uvloop

    ready.set()
    go.wait()
    cpu0 = time.process_time()

    async def main() -> ShardResult:
        start = time.perf_counter()
        wall = time.time()
        result = await _drive(shard, start)
        result.started, result.finished = wall, wall + time.perf_counter() - start
        return result

    result = uvloop.run(main())
    result.cpu = time.process_time() - cpu0
    Path(shard.out).write_bytes(pickle.dumps(result))


def run_load(
    port: int, requests: list[bytes], procs: int, connections: int, rate: float | None, tmp: Path
) -> tuple[list[float], list[int], float, float]:
    """Send every request once; returns per-request latency and status, wall time, client CPU."""
    context = multiprocessing.get_context("spawn")
    ready, go = [context.Event() for _ in range(procs)], context.Event()
    shards, workers = [], []
    for p in range(procs):
        part = requests[p::procs]
        shard = Shard(
            port=port,
            requests=part,
            connections=max(1, connections // procs),
            rate=None if rate is None else rate / procs,
            out=str(tmp / f"shard{p}.pickle"),
        )
        shards.append(shard)
        worker = context.Process(target=_child, args=(shard, ready[p], go))
        worker.start()
        workers.append(worker)
    for event in ready:
        event.wait()
    go.set()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"load generator exited with {worker.exitcode}")
    results = [pickle.loads(Path(s.out).read_bytes()) for s in shards]
    latencies: list[float] = [0.0] * len(requests)
    statuses: list[int] = [0] * len(requests)
    for p, result in enumerate(results):
        latencies[p::procs] = result.latencies
        statuses[p::procs] = result.statuses
    wall = max(r.finished for r in results) - min(r.started for r in results)
    return latencies, statuses, wall, sum(r.cpu for r in results)


# --- checking the store --------------------------------------------------------------


def check_store(database: Path, workload: Workload, statuses: list[int]) -> dict[str, Any]:
    """Every event of every 2xx request stored exactly once; rollups count each once."""
    import sqlalchemy as sa

    from deliverwatch.store import create_engine, stats

    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT event_id, COUNT(*) FROM events GROUP BY event_id"))
        stored: dict[str, int] = {event_id: n for event_id, n in rows}
        total = stats(
            conn,
            domain=None,
            since=datetime.now(UTC) - timedelta(days=2),
            until=datetime.now(UTC) + timedelta(days=1),
        )[0]
    engine.dispose()
    acked = [ids for ids, status in zip(workload.event_ids, statuses, strict=True) if status == 200]
    expected = {event_id for ids in acked for event_id in ids}
    missing = expected - stored.keys()
    twice = {k: v for k, v in stored.items() if v != 1}
    rollup_total = rollup_events(total)
    return {
        "acked_events": len(expected),
        "stored_events": len(stored),
        "missing": len(missing),
        "stored_more_than_once": len(twice),
        "unexpected": len(stored.keys() - {e for ids in workload.event_ids for e in ids}),
        "rollup_total": rollup_total,
        "ok": not missing and not twice and len(stored) == len(expected) == rollup_total,
    }


def rollup_events(row: Any) -> int:
    """Events counted in a stats row: every event type once (unique opens/clicks are extra)."""
    kinds = ["sent_events", "delivered", "bounces", "deferred", "dropped", "complaints"]
    kinds += ["opens", "clicks", "unsubscribes"]
    return sum(getattr(row, kind) for kind in kinds)


# --- one run -------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


def run(
    workload: Workload, args: argparse.Namespace, mode: str, key: ec.EllipticCurvePrivateKey
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dw-load-") as name:
        tmp = Path(name)
        config = write_config(tmp, key)
        port = free_port()
        floor = workload.name == "floor"
        server = start_server(config, port, tmp / "server.log", floor, args.workers)
        rate = args.rate if mode == "rate" else None
        if rate is not None and workload.source == "sendgrid":
            rate = args.batch_rate
        profiler = None
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            target = args.profile / f"{workload.name}-{mode}.txt"
            command = ["py-spy", "record", "--pid", str(server.pid), "--format", "raw"]
            command += ["--output", str(target), "--rate", "200", "--nonblocking", "--subprocesses"]
            profiler = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
        try:
            cpu0 = cpu_seconds(server.pid)
            latencies, statuses, wall, client_cpu = run_load(
                port, workload.requests, args.procs, args.connections, rate, tmp
            )
            server_cpu = cpu_seconds(server.pid) - cpu0
            load = os.getloadavg()
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(60)
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
        check = {"ok": True} if floor else check_store(tmp / "bench.db", workload, statuses)
        log = (tmp / "server.log").read_text()
        groups = [line.split(": ", 2)[-1] for line in log.splitlines() if "group commit:" in line]
        if args.profile is not None:
            (args.profile / f"{workload.name}-{mode}.log").write_text(log)
    ok = sorted(lat for lat, status in zip(latencies, statuses, strict=True) if status == 200)
    requests = len(workload.requests)
    steady = steady_state(latencies, statuses, rate, workload.events / requests)
    return {
        "scenario": workload.name,
        "mode": mode,
        "offered_rate": rate,
        "connections": args.connections,
        "client_procs": args.procs,
        "server_workers": args.workers,
        "requests": requests,
        "events": workload.events,
        "statuses": dict(Counter(statuses)),
        "seconds": round(wall, 3),
        "requests_per_s": round(requests / wall, 1),
        "events_per_s": round(workload.events / wall, 1),
        "p50_ms": round(percentile(ok, 0.50) * 1000, 2),
        "p90_ms": round(percentile(ok, 0.90) * 1000, 2),
        "p99_ms": round(percentile(ok, 0.99) * 1000, 2),
        "max_ms": round(ok[-1] * 1000, 2) if ok else None,
        "mean_ms": round(statistics.fmean(ok) * 1000, 2) if ok else None,
        **steady,
        "server_cpu_s": round(server_cpu, 2),
        "client_cpu_s": round(client_cpu, 2),
        "loadavg_after": [round(x, 2) for x in load],
        "writer": groups,
        "store": check,
    }


def steady_state(
    latencies: list[float], statuses: list[int], rate: float | None, per_request: float
) -> dict[str, Any]:
    """Rate mode: did the server keep up? Requests are indexed in send order, the ``i``-th
    scheduled at ``i / rate`` and answered ``latency`` later. The overall rate divides by the
    time to the *last* answer, so even a server that keeps up shows the offered rate less
    its latency at the end (28,600 events/s for 30,000 offered over 10 s at 500 ms). Here:

    * ``steady_events_per_s``: events answered per second between the middle answers of the
      second and the fourth fifth of the requests (the median completion time of each
      window): the offered rate if the server keeps up, less if a queue builds;
    * ``p50_first_ms`` / ``p50_last_ms``: median latency of the first and the last fifth:
      about equal if the server keeps up, growing if not."""
    n = len(latencies)
    if rate is None or n < 20 or any(status != 200 for status in statuses):
        return {}
    done = [i / rate + latency for i, latency in enumerate(latencies)]
    fifth = n // 5

    def middle(start: int) -> float:
        return statistics.median(done[start : start + fifth])

    early, late = middle(fifth), middle(3 * fifth)
    return {
        "steady_events_per_s": round(2 * fifth * per_request / (late - early), 1),
        "p50_first_ms": round(statistics.median(latencies[:fifth]) * 1000, 2),
        "p50_last_ms": round(statistics.median(latencies[-fifth:]) * 1000, 2),
    }


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import sqlite3

    import uvicorn

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "uvicorn": uvicorn.__version__,
        "kernel": platform.release(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        choices=["sendgrid", "mailgun", "postmark", "floor"],
        action="append",
        help="repeat to choose several (default: all)",
    )
    parser.add_argument("--mode", choices=["max", "rate"], action="append")
    parser.add_argument("--batches", type=int, default=600, help="SendGrid requests")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--singles", type=int, default=30_000, help="single-event requests")
    parser.add_argument("--connections", type=int, default=64, help="in flight, all procs")
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    parser.add_argument("--rate", type=float, default=2000, help="rate mode, single posts/s")
    parser.add_argument("--batch-rate", type=float, default=60, help="rate mode, batches/s")
    parser.add_argument(
        "--profile", type=Path, help="py-spy the server into DIR (collapsed stacks per run)"
    )
    parser.add_argument("--out", type=Path, help="JSON results file (default bench/results/)")
    args = parser.parse_args()
    scenarios = args.scenario or ["floor", "sendgrid", "mailgun", "postmark"]
    modes = args.mode or ["max", "rate"]

    key = ec.generate_private_key(ec.SECP256R1())
    report: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    runs = []
    for scenario in scenarios:
        for mode in modes:
            started = time.perf_counter()
            if scenario == "sendgrid":
                workload = sendgrid_workload(args.batches, args.batch_size, key)
            elif scenario == "mailgun":
                workload = mailgun_workload(args.singles)
            elif scenario == "floor":  # Mailgun-sized posts to the do-nothing app
                workload = mailgun_workload(args.singles)
                workload.name = "floor"
            else:
                workload = postmark_workload(args.singles)
            built = time.perf_counter() - started
            print(
                f"{workload.name} [{mode}]: {len(workload.requests)} requests built in "
                f"{built:.1f} s",
                file=sys.stderr,
            )
            result = run(workload, args, mode, key)
            runs.append(result)
            print(json.dumps(result), file=sys.stderr)
    report["runs"] = runs
    out = args.out or RESULTS / f"webhook_load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{'scenario':16} {'mode':5} {'req/s':>8} {'events/s':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'srv cpu':>7} {'cli cpu':>7}  store"
    )
    for r in runs:
        print(
            f"{r['scenario']:16} {r['mode']:5} {r['requests_per_s']:8.0f} "
            f"{r['events_per_s']:9.0f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
            f"{r['server_cpu_s']:7.1f} {r['client_cpu_s']:7.1f}  "
            f"{'ok' if r['store']['ok'] else r['store']}"
        )
        if "steady_events_per_s" in r:
            print(
                f"{'':22} steady state: {r['steady_events_per_s']:,.0f} events/s, median "
                f"latency {r['p50_first_ms']:.0f} ms (first fifth) to {r['p50_last_ms']:.0f} ms "
                "(last fifth)"
            )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
