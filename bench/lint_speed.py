"""``deliverwatch lint`` speed: messages per second for the built-in rules, no network.

    .venv/bin/python bench/lint_speed.py                 # in-process and CLI figures
    .venv/bin/python bench/lint_speed.py --start-spamd   # and SpamAssassin spamd side by side

The corpus is generated (seeded, so every run lints the same bytes) to look like what teams
send: newsletters (multipart/alternative, quoted-printable HTML with nested table layout,
inline CSS, Outlook conditional comments, 20-60 links, 5-15 images), HTML-only promotions
with a few problems, transactional mail, plain-text mail, and the fixtures of
``tests/fixtures/lint``; the table printed gives each kind's mean size. What is measured:

1. in-process: ``parse_message`` + ``lint_offline`` per message, one process (wall and CPU);
2. the same over ``--processes`` worker processes (what a CI job linting thousands of files
   can do);
3. the CLI as users run it (``deliverwatch lint --format json --jobs N FILE...``, once per
   ``--cli-jobs`` value, start-up included, DKIM verification off since the corpus is
   unsigned), and its fixed cost (the same command on one file), so the steady rate is
   ``(files - 1) / (time - fixed)``; with ``--templates`` the corpus is also written as
   templates (``X.html`` + ``X.txt`` and a ``--headers`` file) and linted the same way;
4. with ``--start-spamd`` or ``--spamd HOST:PORT``: spamd on a sample of the same messages,
   ``--spamd-concurrency`` requests at once, local tests only (``-L``), for the ratio.

Results: a markdown table on stdout and JSON in ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import platform
import quopri
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))

from deliverwatch.content.external import SpamdClient  # noqa: E402
from deliverwatch.content.lint import lint_offline  # noqa: E402
from deliverwatch.content.message import parse_message  # noqa: E402

WORDS = [
    "garden",
    "autumn",
    "bulbs",
    "garlic",
    "tulips",
    "soil",
    "compost",
    "planting",
    "frost",
    "mulch",
    "seeds",
    "harvest",
    "season",
    "guide",
    "order",
    "delivery",
    "offer",
    "members",
    "spring",
    "pruning",
    "roses",
    "hedge",
    "lawn",
    "water",
]


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng, rng.randint(8, 18)) for _ in range(rng.randint(2, 5)))


def newsletter_html(rng: random.Random, blocks: int, links: int, images: int) -> str:
    style = "font-family:Georgia,serif;font-size:16px;line-height:24px;color:#333333"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>News</title>",
        "<style>td{padding:0} .btn{background:#2a6e3f;color:#ffffff}</style>",
        "<!--[if mso]><style>table{border-collapse:collapse}</style><![endif]-->",
        "</head><body style='margin:0;padding:0'>",
        "<div style='display:none;max-height:0;overflow:hidden'>This month in the garden.</div>",
        "<table role='presentation' width='100%' cellpadding='0' cellspacing='0'>",
    ]
    wrapper = "role='presentation' width='600' cellpadding='0' cellspacing='0' border='0'"
    for block in range(blocks):
        parts.append(
            f"<tr><td align='center' style='padding:0 12px'><table {wrapper} "
            f"style='width:600px;max-width:600px;background:#ffffff'>"
            f"<tr><td style='{style};padding:12px 24px'>"
        )
        parts.append(f"<h2 style='{style};font-size:22px'>{sentence(rng, 5)}</h2>")
        parts.append(f"<p style='{style}'>{paragraph(rng)}</p>")
        if block < images:
            parts.append(
                f"<img src='https://shop.example.com/img/{block}.jpg' width='552' height='300'"
                f" alt='{sentence(rng, 4)}' style='display:block;border:0;width:100%'>"
            )
        for n in range(links // max(blocks, 1) + 1):
            parts.append(
                f"<a href='https://shop.example.com/p/{block}-{n}?utm_source=news' "
                f"style='color:#2a6e3f;text-decoration:underline'>{sentence(rng, 3)}</a> "
            )
        parts.append("</td></tr></table></td></tr>")
    parts.append(
        "<tr><td style='font-size:12px;color:#666666;padding:24px'>You subscribed at our shop. "
        "<a href='https://shop.example.com/u/123'>Unsubscribe</a></td></tr></table>"
        "<img src='https://shop.example.com/o.gif' width='1' height='1' alt=''></body></html>"
    )
    return "\n".join(parts)


def mime(rng: random.Random, subject: str, html: str | None, text: str | None, n: int) -> bytes:
    headers = (
        "Return-Path: <bounces@mail.shop.example.com>\n"
        "From: Garden Shop <news@shop.example.com>\n"
        f"To: reader{n}@example.org\n"
        f"Subject: {subject}\n"
        "Date: Tue, 03 Oct 2023 09:00:00 +0000\n"
        f"Message-ID: <{n}.{rng.randint(0, 10**9)}@shop.example.com>\n"
        f"List-Unsubscribe: <https://shop.example.com/u/{n}>, <mailto:u@shop.example.com>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
        "MIME-Version: 1.0\n"
    )

    def part(ctype: str, body: str) -> str:
        encoded = quopri.encodestring(body.encode()).decode()
        return (
            f"Content-Type: {ctype}; charset=utf-8\n"
            f"Content-Transfer-Encoding: quoted-printable\n\n{encoded}\n"
        )

    if html is not None and text is not None:
        boundary = f"b{n}"
        body = (
            f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
            f"--{boundary}\n{part('text/plain', text)}--{boundary}\n{part('text/html', html)}"
            f"--{boundary}--\n"
        )
    elif html is not None:
        body = part("text/html", html)
    else:
        body = part("text/plain", text or "")
    return (headers + body).encode()


def corpus(count: int, seed: int = 5) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    fixtures = [
        ("fixture", p.read_bytes()) for p in sorted((ROOT / "tests/fixtures/lint").glob("*.eml"))
    ]
    messages: list[tuple[str, bytes]] = []
    for n in range(count):
        roll = rng.random()
        text = "\n\n".join(paragraph(rng) for _ in range(4)) + (
            f"\n\nUnsubscribe: https://shop.example.com/u/{n}\n"
        )
        if roll < 0.45:
            html = newsletter_html(rng, rng.randint(8, 18), rng.randint(20, 60), rng.randint(5, 15))
            messages.append(("newsletter", mime(rng, "Your garden this month", html, text, n)))
        elif roll < 0.65:
            html = newsletter_html(rng, rng.randint(3, 6), rng.randint(5, 12), rng.randint(2, 5))
            html = html.replace("https://shop.example.com/p/0-0", "http://bit.ly/x")
            messages.append(("promotion", mime(rng, "Last chance: bulbs 20% off!!", html, None, n)))
        elif roll < 0.85:
            html = newsletter_html(rng, 2, 2, 0)
            messages.append(("transactional", mime(rng, "Your order shipped", html, text, n)))
        elif roll < 0.95:
            messages.append(("plain text", mime(rng, "Notes from the garden", None, text, n)))
        else:
            messages.append(fixtures[n % len(fixtures)])
    return messages


def lint_all(messages: list[bytes]) -> int:
    for raw in messages:
        lint_offline(parse_message(raw))
    return len(messages)


def in_process(messages: list[tuple[str, bytes]], rounds: int) -> dict[str, Any]:
    raws = [raw for _, raw in messages]
    lint_all(raws[:50])  # warm caches and imports
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        lint_all(raws)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per_kind: dict[str, dict[str, float]] = {}
    for kind in sorted({k for k, _ in messages}):
        sample = [raw for k, raw in messages if k == kind]
        start = time.process_time()
        lint_all(sample)
        elapsed = time.process_time() - start
        per_kind[kind] = {
            "messages": len(sample),
            "mean_kb": round(sum(map(len, sample)) / len(sample) / 1024, 1),
            "per_cpu_second": round(len(sample) / elapsed, 1),
        }
    total = len(raws) * rounds
    return {
        "messages": total,
        "per_second": round(total / wall, 1),
        "per_cpu_second": round(total / cpu, 1),
        "kinds": per_kind,
    }


def multi_process(messages: list[tuple[str, bytes]], processes: int) -> dict[str, Any]:
    raws = [raw for _, raw in messages]
    chunks = [raws[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(lint_all, [c[:20] for c in chunks]))  # start and warm the workers
        start = time.perf_counter()
        done = sum(pool.map(lint_all, chunks))
        wall = time.perf_counter() - start
    return {"processes": processes, "messages": done, "per_second": round(done / wall, 1)}


def write_messages(messages: list[tuple[str, bytes]], directory: Path) -> list[str]:
    files = []
    for n, (_, raw) in enumerate(messages):
        path = directory / f"m{n:05d}.eml"
        path.write_bytes(raw)
        files.append(str(path))
    return files


def write_templates(messages: list[tuple[str, bytes]], directory: Path) -> list[str]:
    """Each message as a template: its HTML as ``tNNNNN.html`` (with the text part beside it
    as ``tNNNNN.txt``), or a text-only one as ``tNNNNN.txt``; headers go to ``--headers``."""
    files = []
    for n, (_, raw) in enumerate(messages):
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        bodies: dict[str, str] = {}
        for part in parsed.walk():
            kind = part.get_content_type()
            if kind in ("text/html", "text/plain") and kind not in bodies:
                bodies[kind] = str(part.get_content())
        stem = directory / f"t{n:05d}"
        if "text/plain" in bodies:
            stem.with_suffix(".txt").write_text(bodies["text/plain"])
        if "text/html" in bodies:
            stem.with_suffix(".html").write_text(bodies["text/html"])
            files.append(str(stem.with_suffix(".html")))
        elif "text/plain" in bodies:
            files.append(str(stem.with_suffix(".txt")))
    (directory / "headers.txt").write_text(
        "From: Garden Shop <news@shop.example.com>\n"
        "Return-Path: <bounces@mail.shop.example.com>\n"
        "List-Unsubscribe: <https://shop.example.com/u/1>, <mailto:u@shop.example.com>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
    )
    return files


def cli_run(directory: Path, files: list[str], jobs: int, extra: list[str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the CLI and its worker processes."""
    config = directory / "bench.yaml"
    config.write_text("lint:\n  verify_dkim: false\n")
    exe = ROOT / ".venv" / "bin" / "deliverwatch"
    command = [str(exe), "lint", "--config", str(config), "--format", "json", "--fail-over"]
    command += ["999", "--jobs", str(jobs), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([*command, *files], capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"deliverwatch lint failed: {result.stderr.decode()[-500:]}")
    reports = json.loads(result.stdout)
    assert len(reports) == len(files) if len(files) > 1 else isinstance(reports, dict)
    return wall, cpu


def cli(
    messages: list[tuple[str, bytes]], directory: Path, jobs: list[int], templates: bool
) -> list[dict[str, Any]]:
    """The CLI per ``--jobs`` value: wall time with start-up, and the steady rate."""
    sets: dict[str, tuple[list[str], list[str]]] = {
        "messages (.eml)": (write_messages(messages, directory), [])
    }
    if templates:
        tdir = directory / "templates"
        tdir.mkdir()
        sets["templates (.html/.txt)"] = (
            write_templates(messages, tdir),
            ["--headers", str(tdir / "headers.txt")],
        )
    rows = []
    for label, (files, extra) in sets.items():
        fixed, fixed_cpu = min(cli_run(directory, files[:1], 1, extra) for _ in range(2))
        for n in jobs:
            load = round(os.getloadavg()[0], 2)
            wall, cpu = cli_run(directory, files, n, extra)
            rows.append(
                {
                    "input": label,
                    "jobs": n,
                    "files": len(files),
                    "seconds": round(wall, 2),
                    "one_file_seconds": round(fixed, 2),
                    "per_second": round(len(files) / wall, 1),
                    "steady_per_second": round((len(files) - 1) / max(wall - fixed, 1e-9), 1),
                    "cpu_seconds": round(cpu, 2),
                    "one_file_cpu_seconds": round(fixed_cpu, 2),
                    "per_cpu_second": round((len(files) - 1) / max(cpu - fixed_cpu, 1e-9), 1),
                    "load_before": load,
                    "load_after": round(os.getloadavg()[0], 2),
                }
            )
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_spamd(home: Path, children: int) -> tuple[subprocess.Popen[bytes], int]:
    spamd = shutil.which("spamd") or "/usr/sbin/spamd"
    if not Path(spamd).exists():
        raise SystemExit("spamd is not installed: apt-get install spamd")
    port = free_port()
    home.chmod(0o777)
    command = [
        spamd,
        f"--listen=127.0.0.1:{port}",
        "--local",
        "--nouser-config",
        f"--max-children={children}",
        f"--min-children={children}",
        f"--pidfile={home / 'spamd.pid'}",
        f"--helper-home-dir={home}",
        "--syslog=stderr",
    ]
    if os.geteuid() == 0:
        command.append("--username=nobody")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("spamd did not start")


async def spamd_run(host: str, port: int, raws: list[bytes], concurrency: int) -> dict[str, Any]:
    client = SpamdClient(host, port, timeout=120)
    await client.report(raws[0])  # warm the children
    slots = asyncio.Semaphore(concurrency)

    async def one(raw: bytes) -> None:
        async with slots:
            await client.report(raw)

    start = time.perf_counter()
    await asyncio.gather(*(one(raw) for raw in raws))
    wall = time.perf_counter() - start
    return {
        "messages": len(raws),
        "concurrency": concurrency,
        "seconds": round(wall, 2),
        "per_second": round(len(raws) / wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=1000, help="corpus size")
    parser.add_argument("--rounds", type=int, default=2, help="in-process passes over it")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--cli-jobs", default="1,2", help="--jobs values for the CLI runs")
    parser.add_argument("--templates", action="store_true", help="also lint as templates")
    parser.add_argument("--spamd", help="an existing spamd HOST:PORT to compare with")
    parser.add_argument("--start-spamd", action="store_true", help="start a local spamd")
    parser.add_argument("--spamd-sample", type=int, default=100)
    parser.add_argument("--spamd-concurrency", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    messages = corpus(args.messages)
    load_start = os.getloadavg()[0]
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_start": round(load_start, 2),
        },
        "corpus": {
            "messages": len(messages),
            "mean_kb": round(sum(len(r) for _, r in messages) / len(messages) / 1024, 1),
        },
    }
    results["in_process"] = in_process(messages, args.rounds)
    if args.processes > 1:
        results["multi_process"] = multi_process(messages, args.processes)
    if not args.skip_cli:
        with tempfile.TemporaryDirectory(prefix="lint-bench-") as tmp:
            jobs = [int(j) for j in args.cli_jobs.split(",")]
            results["cli"] = cli(messages, Path(tmp), jobs, args.templates)
    spamd_process = None
    home: Path | None = None
    try:
        if args.start_spamd or args.spamd:
            host, port = "127.0.0.1", 0
            if args.spamd:
                host, _, port_text = args.spamd.rpartition(":")
                port = int(port_text)
            else:
                home = Path(tempfile.mkdtemp(prefix="lint-bench-spamd-"))
                spamd_process, port = start_spamd(home, args.spamd_concurrency)
            sample = [raw for _, raw in messages[: args.spamd_sample]]
            results["spamd"] = asyncio.run(spamd_run(host, port, sample, args.spamd_concurrency))
            ours = results.get("multi_process", results["in_process"])["per_second"]
            results["ratio_vs_spamd"] = round(ours / results["spamd"]["per_second"], 1)
    finally:
        if spamd_process is not None:
            spamd_process.terminate()
            spamd_process.wait(30)
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
    results["machine"]["load_end"] = round(os.getloadavg()[0], 2)
    print_table(results)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"lint_speed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nJSON: {path.relative_to(ROOT)}")


def print_table(results: dict[str, Any]) -> None:
    ip = results["in_process"]
    print(
        f"corpus: {results['corpus']['messages']} messages, mean {results['corpus']['mean_kb']} KB"
    )
    print("\n| run | messages/s |")
    print("| --- | --- |")
    print(f"| in-process, 1 process (wall) | {ip['per_second']} |")
    print(f"| in-process, per CPU second | {ip['per_cpu_second']} |")
    if "multi_process" in results:
        mp = results["multi_process"]
        print(f"| in-process, {mp['processes']} processes (wall) | {mp['per_second']} |")
    for row in results.get("cli", []):
        label = f"`deliverwatch lint --jobs {row['jobs']}`, {row['files']} {row['input']}"
        print(f"| {label}, start-up included | {row['per_second']} |")
        print(f"| {label}, steady (minus the one-file run) | {row['steady_per_second']} |")
        print(f"| {label}, per CPU second (all processes) | {row['per_cpu_second']} |")
    if "spamd" in results:
        sp = results["spamd"]
        label = f"spamd, {sp['concurrency']} at once, {sp['messages']} messages"
        print(f"| {label} | {sp['per_second']} |")
        print(f"\nratio deliverwatch / spamd: {results['ratio_vs_spamd']}x")
    print("\n| kind | messages | mean KB | messages per CPU second |")
    print("| --- | --- | --- | --- |")
    for kind, row in ip["kinds"].items():
        print(f"| {kind} | {row['messages']} | {row['mean_kb']} | {row['per_cpu_second']} |")
    machine = results["machine"]
    print(f"\nload average {machine['load_start']} at start, {machine['load_end']} at end")


if __name__ == "__main__":
    main()
