"""``deliverwatch check`` against checkdmarc 6.x: domains per second on the same local zones.

    .venv/bin/python bench/check_throughput.py            # or: make bench

What runs, all in one go and only against 127.0.0.1:

1. ``zonegen.py`` writes ``--domains`` realistic sending domains (SPF with nested ESP includes,
   DMARC with rua, two MX hosts with A/AAAA and PTR, DKIM keys, MTA-STS/TLS-RPT/BIMI on some).
2. Two instances of ``tests/servers/dnsserver.py`` serve them: one holding every UDP answer
   back ``--delay-ms`` (a resolver across the internet), one answering at once.
3. Against each: the ``deliverwatch check`` CLI (what users run, start-up included) and
   checkdmarc's Python API in its own venv (``run_checkdmarc.py``; sequential as checkdmarc
   is, so on a sample, capped in seconds); against the delayed one also the in-process API
   (``AuditSession.audit_many``, for ``resolver.stats``), with and without DKIM selector
   guessing (checkdmarc checks no DKIM). deliverwatch runs with ``--no-http --no-blocklists``;
   checkdmarc's HTTPS fetches are disabled the same way (see ``run_checkdmarc.py``).
4. An unreachable nameserver (a bound UDP socket nobody reads): wall time per domain against
   ``--timeout``.

checkdmarc lives in ``bench/.venv-checkdmarc`` (git-ignored), created here when missing
(``python -m venv`` + ``pip install 'checkdmarc>=6,<7'``); ``--no-install`` only tells how.
Results: a markdown table on stdout and JSON in ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import loopback_guard
import zonegen

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CHECKDMARC_VENV = BENCH / ".venv-checkdmarc"
CHECKDMARC_SPEC = "checkdmarc>=6,<7"
SERVER = ROOT / "tests" / "servers" / "dnsserver.py"
VENV_BIN = Path(sys.executable).parent
CLI = VENV_BIN / "deliverwatch"


@dataclass
class Row:
    scenario: str
    tool: str
    domains: int
    seconds: float
    queries: int | None = None
    cpu_seconds: float | None = None
    server_cpu_seconds: float | None = None
    dns_failures: int | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.domains / self.seconds if self.seconds else 0.0


# -- environment -------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg()[0],
    }


def checkdmarc_python(install: bool) -> Path | None:
    """The checkdmarc venv's interpreter, creating the venv if asked; None when unavailable."""
    python = CHECKDMARC_VENV / "bin" / "python"
    if not python.exists():
        if not install:
            print(
                f"checkdmarc venv missing; create it with:\n  python3 -m venv {CHECKDMARC_VENV}"
                f" && {CHECKDMARC_VENV}/bin/pip install '{CHECKDMARC_SPEC}'",
                file=sys.stderr,
            )
            return None
        print(f"creating {CHECKDMARC_VENV} ({CHECKDMARC_SPEC}) …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(CHECKDMARC_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", CHECKDMARC_SPEC], check=True
        )
    probe = subprocess.run(
        [str(python), "-c", "import checkdmarc; print(checkdmarc.__version__)"],
        capture_output=True,
        text=True,
    )
    version = probe.stdout.strip()
    if probe.returncode != 0 or not version.startswith("6."):
        print(f"checkdmarc 6.x not usable in {CHECKDMARC_VENV}: {version or probe.stderr}")
        return None
    return python


def process_cpu(pid: int) -> float:
    """User+system CPU seconds of a running process (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Server:
    """``tests/servers/dnsserver.py`` in its own process, on a free port of 127.0.0.1."""

    def __init__(self, zones: list[Path], delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", "0", "--delay-ms", str(delay_ms)]
            + [str(z) for z in zones],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.address = ""

    def wait(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "serving on 127.0.0.1:PORT" once loaded
        match = re.search(r"serving on (\S+)", line)
        if not match:
            raise RuntimeError(f"DNS server did not start: {line!r}")
        self.address = match.group(1)
        return self.address

    @property
    def cpu(self) -> float:
        return process_cpu(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- deliverwatch ------------------------------------------------------------------------------
def run_cli(
    scenario: str,
    nameserver: str,
    domains_file: Path,
    count: int,
    workdir: Path,
    server: Server | None,
    *extra: str,
) -> Row:
    """``deliverwatch check`` as a user runs it: wall time from exec to exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELIVERWATCH_")}
    env["PYTHONPATH"] = str(BENCH / "guard")  # sitecustomize: the loopback guard
    out = workdir / f"cli-{scenario}.jsonl"
    command = [
        str(CLI), "check", "--nameserver", nameserver, "--no-http", "--no-blocklists",
        "--format", "jsonl", "--fail-on", "never", "--domains-file", str(domains_file), *extra,
    ]  # fmt: skip
    server_cpu = server.cpu if server else 0.0
    cpu = children_cpu()
    started = time.perf_counter()
    with out.open("w") as stdout:
        done = subprocess.run(
            command, cwd=workdir, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True
        )
    seconds = time.perf_counter() - started
    cpu = children_cpu() - cpu
    if done.returncode != 0 or "loopback guard" in done.stderr:
        raise RuntimeError(f"deliverwatch check failed ({done.returncode}): {done.stderr[-2000:]}")
    reports = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    if len(reports) != count:
        raise RuntimeError(f"deliverwatch check gave {len(reports)} reports for {count} domains")
    failures = sum(1 for r in reports for f in r["findings"] if f["code"].startswith("dns."))
    return Row(
        scenario, "deliverwatch check (CLI)", count, seconds, cpu_seconds=cpu,
        server_cpu_seconds=(server.cpu - server_cpu) if server else None, dns_failures=failures,
        note=" ".join(extra),
        extra={"durations_ms": sorted(r.get("duration_ms", 0.0) for r in reports)},
    )  # fmt: skip


def cli_startup() -> float:
    """Seconds for ``deliverwatch version``: interpreter start plus the CLI's imports."""
    started = time.perf_counter()
    subprocess.run([str(CLI), "version"], check=True, capture_output=True)
    return time.perf_counter() - started


def run_api(
    scenario: str,
    nameserver: str,
    domains: list[str],
    server: Server | None,
    *,
    timeout: float = 2.0,
    common_selectors: bool = True,
    note: str = "",
) -> Row:
    """``AuditSession.audit_many`` in this process, with the CLI's defaults."""
    from deliverwatch.auth.audit import AuditOptions, AuditSession
    from deliverwatch.config import Config
    from deliverwatch.dns import Resolver

    config = Config()
    resolver = Resolver(
        [nameserver], timeout=timeout, retries=config.dns.retries,
        concurrency=config.dns.concurrency,
    )  # fmt: skip
    session = AuditSession(
        resolver, AuditOptions(common_selectors=common_selectors), None,
        concurrency=config.check.concurrency,
    )  # fmt: skip
    durations: list[float] = []
    failures = 0

    async def audit() -> None:
        nonlocal failures
        async with session:
            async for _, report in session.audit_many(domains):
                durations.append(report.duration_ms)
                failures += sum(1 for f in report.findings if f.code.startswith("dns."))

    server_cpu = server.cpu if server else 0.0
    cpu = time.process_time()
    started = time.perf_counter()
    asyncio.run(audit())
    seconds = time.perf_counter() - started
    stats = resolver.stats
    return Row(
        scenario, "deliverwatch API", len(domains), seconds, queries=stats.queries,
        cpu_seconds=time.process_time() - cpu,
        server_cpu_seconds=(server.cpu - server_cpu) if server else None,
        dns_failures=failures, note=note,
        extra={"cache_hits": stats.cache_hits, "retries": stats.retries,
               "tcp_fallbacks": stats.tcp_fallbacks, "failures": dict(stats.failures),
               "durations_ms": sorted(durations)},
    )  # fmt: skip


# -- checkdmarc --------------------------------------------------------------------------------
def run_checkdmarc(
    python: Path,
    scenario: str,
    nameserver: str,
    domains_file: Path,
    server: Server | None,
    *,
    limit: int,
    max_seconds: float,
    timeout: float = 2.0,
) -> Row:
    command = [
        str(python), str(BENCH / "run_checkdmarc.py"), "--nameserver", nameserver,
        "--domains-file", str(domains_file), "--limit", str(limit),
        "--max-seconds", str(max_seconds), "--timeout", str(timeout),
    ]  # fmt: skip
    server_cpu = server.cpu if server else 0.0
    cpu = children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, timeout=max_seconds + 120)
    cpu = children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"checkdmarc runner failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["blocked"]:
        raise RuntimeError(f"checkdmarc tried to leave 127.0.0.1 {result['blocked']} times")
    note = f"sample of {result['domains']}" if result["domains"] < limit else ""
    return Row(
        scenario, result["tool"], result["domains"], result["elapsed"], cpu_seconds=cpu,
        server_cpu_seconds=(server.cpu - server_cpu) if server else None, note=note,
        extra={k: result[k] for k in ("spf_valid", "dmarc_valid", "errors", "per_domain_max")},
    )  # fmt: skip


# -- report ------------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def per_domain_ms(seconds: float | None, domains: int) -> str:
    return "–" if seconds is None or not domains else f"{1000 * seconds / domains:,.1f}"


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | tool | domains | seconds | domains/s | × checkdmarc | queries/domain"
        " | client CPU ms/domain | server CPU ms/domain | dns.* findings | note |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    baseline = {r.scenario: r.rate for r in rows if r.tool.startswith("checkdmarc")}
    for r in rows:
        base = baseline.get(r.scenario)
        compare = base and not r.tool.startswith("checkdmarc") and "unreachable" not in r.scenario
        ratio = f"{r.rate / base:,.1f}×" if compare else ""
        lines.append(
            f"| {r.scenario} | {r.tool} | {r.domains:,} | {fmt(r.seconds, 2)} | {fmt(r.rate)}"
            f" | {ratio} | {fmt(r.queries / r.domains) if r.queries else '–'}"
            f" | {per_domain_ms(r.cpu_seconds, r.domains)}"
            f" | {per_domain_ms(r.server_cpu_seconds, r.domains)}"
            f" | {'–' if r.dns_failures is None else r.dns_failures} | {r.note} |"
        )
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


# -- main --------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add = parser.add_argument
    add("--domains", type=int, default=1000)
    add("--delay-ms", type=float, default=20.0)
    add("--checkdmarc-sample", type=int, default=60, help="checkdmarc's domains at the delay")
    add(
        "--checkdmarc-max-seconds",
        type=float,
        default=60.0,
        help="cap on each checkdmarc run (it stops between domains)",
    )
    add("--unreachable-domains", type=int, default=20)
    add("--unreachable-timeout", type=float, default=0.5)
    add("--no-install", action="store_true", help="do not create the checkdmarc venv if missing")
    add("--skip-checkdmarc", action="store_true")
    add("--quick", action="store_true", help="200 domains, small checkdmarc samples")
    args = parser.parse_args()
    if args.quick:
        args.domains, args.checkdmarc_sample, args.checkdmarc_max_seconds = 200, 20, 30.0
    return args


class Bench:
    """The runs in order; one that fails is reported and the others still run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[Row] = []
        self.notes: dict[str, Any] = {"errors": []}
        self.info = machine()
        self.started = time.perf_counter()
        results = BENCH / "results"
        results.mkdir(exist_ok=True)
        self.results = results / f"check_throughput-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def step(self, what: str, run: Callable[..., Row], *args: Any, **kwargs: Any) -> Row | None:
        print(f"[{time.perf_counter() - self.started:5.0f} s] {what} …", file=sys.stderr)
        try:
            row = run(*args, **kwargs)
        except Exception as exc:
            message = f"{what}: {exc}"
            print(f"  FAILED {message}", file=sys.stderr)
            self.notes["errors"].append(message[:3000])
            return None
        self.rows.append(row)
        self.save()
        return row

    def save(self) -> None:
        rows = []
        for row in self.rows:
            data = {**asdict(row), "rate": row.rate}
            data["extra"] = {k: v for k, v in row.extra.items() if k != "durations_ms"}
            rows.append(data)
        payload = {"machine": self.info, "notes": self.notes, "args": vars(self.args),
                   "rows": rows}  # fmt: skip
        self.results.write_text(json.dumps(payload, indent=2))


def main() -> int:
    args = parse_args()
    loopback_guard.install()
    bench = Bench(args)
    notes = bench.notes
    cd_python = None if args.skip_checkdmarc else checkdmarc_python(not args.no_install)
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        work = Path(tmp)
        zones = zonegen.write_zones(work / "zones", args.domains)
        n = args.domains
        delayed = Server(zones.files, args.delay_ms)
        instant = Server(zones.files, 0)
        try:
            loaded = time.perf_counter()
            delayed.wait()
            instant.wait()
            notes["server_load_seconds"] = time.perf_counter() - loaded
            try:
                notes["cli_startup_seconds"] = cli_startup()
            except subprocess.CalledProcessError as exc:
                notes["errors"].append(f"deliverwatch version: {exc.stderr!r}"[:3000])
            for label, server, sample in (
                (f"{args.delay_ms:g} ms delay", delayed, args.checkdmarc_sample),
                ("no delay", instant, n),
            ):
                address = server.address
                what = f"[{label}] deliverwatch"
                bench.step(f"{what} CLI, {n} domains", run_cli,
                           label, address, zones.domains_file, n, work, server)  # fmt: skip
                if server is delayed:
                    bench.step(f"{what} API, {n} domains", run_api,
                               label, address, zones.domains, server)  # fmt: skip
                    bench.step(f"{what} API, no DKIM selector guessing", run_api,
                               label, address, zones.domains, server, common_selectors=False,
                               note="no common DKIM selectors: checkdmarc's work")  # fmt: skip
                if cd_python:
                    bench.step(f"[{label}] checkdmarc, ≤{sample} domains", run_checkdmarc,
                               cd_python, label, address, zones.domains_file, server,
                               limit=sample, max_seconds=args.checkdmarc_max_seconds)  # fmt: skip
        finally:
            delayed.stop()
            instant.stop()
        unreachable(bench, cd_python, zones.domains, work)
    notes["total_seconds"] = time.perf_counter() - bench.started
    bench.info["loadavg_end"] = os.getloadavg()[0]
    bench.save()
    print(render(bench.info, bench.rows, notes, args))
    print(f"\n(JSON: {bench.results.relative_to(ROOT)})")
    return 1 if notes["errors"] else 0


def unreachable(bench: Bench, cd_python: Path | None, domains: list[str], work: Path) -> None:
    """A nameserver that takes every datagram and never answers (no ICMP "unreachable")."""
    args = bench.args
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    dead = f"127.0.0.1:{sink.getsockname()[1]}"
    timeout = args.unreachable_timeout
    label = f"unreachable, timeout {timeout:g} s"
    few = domains[: args.unreachable_domains]
    few_file = work / "unreachable.txt"
    few_file.write_text("\n".join(few) + "\n")
    result: dict[str, Any] = {"timeout": timeout, "retries": 1, "bound_ms": 2000 * timeout}
    try:
        cli_row = bench.step(f"[{label}] deliverwatch CLI, {len(few)} domains", run_cli,
                             label, dead, few_file, len(few), work, None,
                             "--timeout", str(timeout))  # fmt: skip
        if cli_row:
            result["cli_wall_seconds"] = cli_row.seconds
        for count in sorted({1, len(few)}):
            row = bench.step(f"[{label}] deliverwatch API, {count} domains", run_api,
                             label, dead, few[:count], None, timeout=timeout)  # fmt: skip
            if row:
                durations = row.extra["durations_ms"]
                result[f"api_{count}"] = {
                    "wall_seconds": row.seconds,
                    "domain_ms_median": percentile(durations, 0.5),
                    "domain_ms_max": max(durations),
                }
        if cd_python:
            row = bench.step(f"[{label}] checkdmarc, ≤3 domains", run_checkdmarc,
                             cd_python, label, dead, few_file, None, limit=3, max_seconds=20,
                             timeout=timeout)  # fmt: skip
            if row:
                result["checkdmarc_seconds_per_domain"] = row.seconds / row.domains
    finally:
        sink.close()
    bench.notes["unreachable"] = result


def render(info: dict[str, Any], rows: list[Row], notes: dict[str, Any], args: Any) -> str:
    startup = notes.get("cli_startup_seconds")
    out = [
        f"Machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}; load average"
        f" {info['loadavg_start']:.2f} at start, {info.get('loadavg_end', 0):.2f} at end.",
        f"Zones: {args.domains} domains; servers loaded in"
        f" {notes.get('server_load_seconds', 0):.1f} s; CLI start-up (`deliverwatch version`)"
        f" {fmt(startup, 2)} s; whole benchmark {notes.get('total_seconds', 0):.0f} s.",
        "",
        table(rows),
    ]
    u = notes.get("unreachable", {})
    lines = []
    for key, what in (("api_1", "1 domain"), (f"api_{args.unreachable_domains}", "")):
        if key in u:
            count = key.removeprefix("api_")
            lines.append(
                f"API, {what or count + ' domains at once'}: wall {u[key]['wall_seconds']:.2f} s,"
                f" per-domain audit time median {u[key]['domain_ms_median']:.0f} ms,"
                f" max {u[key]['domain_ms_max']:.0f} ms"
            )
    if "cli_wall_seconds" in u:
        lines.append(
            f"CLI, {args.unreachable_domains} domains: wall {u['cli_wall_seconds']:.2f} s"
            f" (start-up {fmt(startup, 2)} s of it)"
        )
    if "checkdmarc_seconds_per_domain" in u:
        lines.append(
            f"checkdmarc (timeout {u['timeout']:g}): {u['checkdmarc_seconds_per_domain']:.1f} s"
            " per domain"
        )
    if lines:
        out.append(
            f"\nUnreachable nameserver, --timeout {u['timeout']:g} with one retry"
            f" (bound {u['bound_ms']:.0f} ms per lookup):"
        )
        out += [f"- {line}" for line in lines]
    for error in notes.get("errors", []):
        out.append(f"\nFAILED: {error}")
    return "\n".join(out)


if __name__ == "__main__":
    if shutil.which(str(CLI)) is None:
        sys.exit(f"{CLI} not found: run with the project's venv (.venv/bin/python)")
    sys.exit(main())
