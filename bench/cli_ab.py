"""`deliverwatch ingest` of one commit against another, alternated run by run.

On a shared VM the floor of ``ingest_file.py`` moves by a third from one minute to the next,
so a change's effect is measured here against the code before it, each run of one followed by
a run of the other on the same file: a checkout of ``--base`` (a git worktree in a temporary
directory) and this tree. Each run gets a fresh, migrated store and is timed from the start
of ``deliverwatch ingest`` to its exit (wall, and CPU with its readers' from ``wait4``), and
from the printed answer to the exit. The time the storing process spent in garbage
collections is reported too (``gc.callbacks``: it is not CPU the readers share).

    .venv/bin/python bench/cli_ab.py --base 17c26ee             # 3 rounds, standard file
    .venv/bin/python bench/cli_ab.py --base HEAD~1 --format generic --rounds 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from ingest_file import SENDING_DOMAIN, generate  # noqa: E402

MIGRATE = "import sys; from deliverwatch.store import open_store; open_store(sys.argv[1]).dispose()"
#: ``deliverwatch`` as its console script runs it, timing its collections.
CLI = """
import atexit, gc, sys, time
spent, started = [0.0, 0], [0.0]
def track(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        spent[0] += time.perf_counter() - started[0]
        spent[1] += 1
gc.callbacks.append(track)
atexit.register(lambda: sys.stderr.write(f"GC_SECONDS {spent[0]:.3f} {spent[1]}\\n"))
sys.argv[0] = "deliverwatch"
from deliverwatch.cli import main
main()
"""


def run(src: Path, path: Path, fmt: str, work: Path) -> tuple[float, float, float, str]:
    """(wall, CPU, answer-to-exit) seconds of one ingest with the code of ``src``, and its
    collections ("0.123 s in 45")."""
    db = work / "ab.db"
    for leftover in work.glob("ab.db*"):
        leftover.unlink()
    env = {**os.environ, "PYTHONPATH": str(src), "DELIVERWATCH_DATABASE_URL": f"sqlite:///{db}"}
    subprocess.run(
        [sys.executable, "-c", MIGRATE, env["DELIVERWATCH_DATABASE_URL"]], env=env, check=True
    )
    command = [sys.executable, "-c", CLI, "ingest", "--provider", fmt]
    command += ["--domain", SENDING_DOMAIN, "--format", "json", str(path)]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=errors)
        assert child.stdout is not None
        child.stdout.read(1)  # the answer is printed once the import has committed
        answered = time.perf_counter()
        child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        ended = time.perf_counter()
        errors.seek(0)
        said = errors.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"ingest failed with {src}:\n{said}")
    seconds, count = said.rsplit("GC_SECONDS ", 1)[1].split()
    collections = f"{float(seconds):.3f} s in {count}"
    return ended - started, usage.ru_utime + usage.ru_stime, ended - answered, collections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare this tree with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--format", default="sendgrid", choices=["sendgrid", "generic"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dw-ab-") as tmp:
        work = Path(tmp)
        base = work / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.base],
            check=True,
        )
        try:
            path = work / f"{args.format}.json"
            count = generate(path, args.format, events=args.events)
            print(f"{args.format}: {count:,} events, {path.stat().st_size / 1e6:.1f} MB")
            trees = {args.base: base / "src", "this tree": ROOT / "src"}
            for _ in range(args.rounds):
                for name, src in trees.items():
                    wall, cpu, tail, collections = run(src, path, args.format, work)
                    line = f"{name:>12}: wall {wall:5.2f} s  CPU {cpu:5.2f} s"
                    print(f"{line}  answer→exit {tail:.2f} s  collections {collections}")
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False
            )


if __name__ == "__main__":
    main()
