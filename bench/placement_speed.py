"""Placement run speed: 50 seeds checked concurrently against the local test bed.

    .venv/bin/python bench/placement_speed.py                     # 50 seeds, poll 1, 2 and 5 s
    .venv/bin/python bench/placement_speed.py --seeds 100 --repeat 5 --max-delay 10

The test bed is the one the tests use: Debian's Dovecot (implicit TLS, verified against a
throwaway CA) and the aiosmtpd receiver of ``tests/servers/seedbed.py``, which files each
seed's copy after a random delay (uniform 0..``--max-delay`` s, seeded) so arrivals are spread
like a real provider's. What is measured, per run:

* ``after slowest``: from the moment the last copy was filed into its Maildir to the end of
  the run — the figure issue 8 bounds ("a run finishes within the slowest arrival plus 5 s");
* the whole run's wall time, and the slowest arrival counted from the run's start;
* every seed's placement (all must be ``inbox``).

Results: a markdown table on stdout and JSON in ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.seedbed import SeedBed  # noqa: E402

from deliverwatch.placement.config import PlacementSettings  # noqa: E402
from deliverwatch.placement.run import run_placement  # noqa: E402

PASSWORD = "bench-seed-pw"
MESSAGE = (
    b"Subject: Benchmark newsletter\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello from the placement benchmark.\r\n"
)


async def one_run(
    dovecot: DovecotServer, users: list[str], poll: float, max_delay: float, rng: random.Random
) -> dict[str, Any]:
    delays = {user: rng.uniform(0, max_delay) for user in users}
    with SeedBed(dovecot, delays=delays) as bed:
        settings = PlacementSettings.model_validate(
            {
                "smtp": {"host": "127.0.0.1", "port": bed.port, "starttls": False},
                "from": "Bench <news@brand.test>",
                "seeds": [
                    {
                        "address": user,
                        "provider": f"p{i % 5}",
                        "imap": {
                            "host": "127.0.0.1",
                            "port": dovecot.imaps_port,
                            "tls": True,
                            "username": user,
                            "password": PASSWORD,
                        },
                    }
                    for i, user in enumerate(users)
                ],
                "poll_interval": poll,
                "timeout": max_delay + 60,
                "concurrency": len(users),
                "ca_bundle": str(dovecot.ca_file),
            }
        )
        began = time.monotonic()
        run = await run_placement(settings, message=MESSAGE)
        ended = time.monotonic()
        last = max(bed.arrivals.values()) if bed.arrivals else float("nan")
    placements = sorted({r.placement for r in run.results})
    return {
        "poll_interval": poll,
        "seeds": len(users),
        "wall_seconds": round(ended - began, 3),
        "slowest_arrival_seconds": round(last - began, 3),
        "after_slowest_seconds": round(ended - last, 3),
        "placements": placements,
        "all_inbox": placements == ["inbox"],
        "timed_out": run.timed_out,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-delay", type=float, default=8.0)
    parser.add_argument("--poll", type=float, nargs="+", default=[1.0, 2.0, 5.0])
    args = parser.parse_args()
    rng = random.Random(8)
    load_before = os.getloadavg()
    with DovecotServer(tls=True) as dovecot:
        users = [f"bench{i}@seeds.test" for i in range(args.seeds)]
        for user in users:
            dovecot.add_user(user, PASSWORD, wait=False)
        dovecot.wait_for_login(users[-1])
        runs = []
        for poll in args.poll:
            for _ in range(args.repeat):
                runs.append(await one_run(dovecot, users, poll, args.max_delay, rng))
                print(json.dumps(runs[-1]), file=sys.stderr)
    machine = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(
        f"\n{args.seeds} seeds, arrivals spread 0-{args.max_delay:g} s, {args.repeat} runs each\n"
    )
    print("| poll interval | wall (s) | slowest arrival (s) | run end after slowest (s) max |")
    print("| --- | --- | --- | --- |")
    for poll in args.poll:
        mine = [r for r in runs if r["poll_interval"] == poll]
        wall = statistics.median(r["wall_seconds"] for r in mine)
        slowest = statistics.median(r["slowest_arrival_seconds"] for r in mine)
        after = [r["after_slowest_seconds"] for r in mine]
        print(
            f"| {poll:g} s | {wall:.2f} | {slowest:.2f} | {statistics.median(after):.2f} median, "
            f"{max(after):.2f} max |"
        )
    ok = all(r["all_inbox"] and not r["timed_out"] for r in runs)
    print(f"\nevery seed inbox in every run: {ok}; machine: {machine}")
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"placement_speed-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "machine": machine, "runs": runs}, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    asyncio.run(main())
