"""``deliverwatch lint --jobs``: worker processes, input order, and a crash kept to its file.

The crash tests give :func:`lint_parallel` a chunk function that really kills its worker
process (``os._exit``) or raises when its chunk holds a marked file; the run must still
report every other file as the in-process linter does, and the marked file as
``lint.crashed``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deliverwatch.cli import app
from deliverwatch.content.options import LintOptions
from deliverwatch.content.runner import (
    MAX_CHUNK,
    ChunkWork,
    Report,
    RunSettings,
    chunks,
    lint_chunk,
    lint_parallel,
    worker_count,
)
from deliverwatch.content.scoring import Scale
from deliverwatch.dns import Nameserver
from tests.content.support import EXPECTED, FIXTURES
from tests.servers.dnsserver import DNSServer

MARK = "crash-me"


def die_on_mark(settings: RunSettings, paths: list[Path]) -> list[Report]:
    """A chunk function whose worker process dies when the chunk holds the marked file."""
    if any(MARK in p.name for p in paths):
        os._exit(3)
    return lint_chunk(settings, paths)


def raise_on_mark(settings: RunSettings, paths: list[Path]) -> list[Report]:
    if any(MARK in p.name for p in paths):
        raise RuntimeError("rule table exploded")
    return lint_chunk(settings, paths)


def corpus(directory: Path, copies: int) -> list[Path]:
    """Every fixture ``copies`` times under distinct names, in a fixed mixed order."""
    names = sorted(n for n, e in EXPECTED.items() if "headers" not in e and "kind" not in e)
    files = []
    for copy in range(copies):
        for name in names:
            target = directory / f"{copy:02d}-{name}"
            shutil.copyfile(FIXTURES / name, target)
            files.append(target)
    return files


def settings_for(dns_server: DNSServer) -> RunSettings:
    return RunSettings(
        options=LintOptions(),
        scale=Scale(),
        nameservers=(Nameserver.parse(dns_server.address),),
        dns_timeout=0.3,
    )


def test_workers_and_chunks() -> None:
    assert worker_count(3, 2) == 1  # too few files to be worth a process
    assert worker_count(8, 2) == 2 and worker_count(1000, 2) == 2 and worker_count(1000, 1) == 1
    for count, workers in [(9, 2), (100, 2), (5000, 8)]:
        parts = chunks(count, workers)
        assert [i for part in parts for i in part] == list(range(count))
        assert max(len(p) for p in parts) <= MAX_CHUNK
    assert [len(p) for p in chunks(100, 2)] == [13] * 7 + [9]  # about 4 chunks per worker
    assert {len(p) for p in chunks(5000, 8)[:-1]} == {MAX_CHUNK}
    # with link checks: one share per worker, so each worker's link cache sees all its files
    assert chunks(10, 2, per_worker=1, largest=10) == [range(0, 5), range(5, 10)]


def test_cli_jobs_2_equals_jobs_1_in_input_order(dns_server: DNSServer, tmp_path: Path) -> None:
    files = [str(p) for p in corpus(tmp_path, 2)]
    args = ["lint", "--nameserver", dns_server.address, "--timeout", "0.3", "--format", "json"]
    one = CliRunner().invoke(app, [*args, "--jobs", "1", *files])
    two = CliRunner().invoke(app, [*args, "--jobs", "2", *files])
    assert one.exit_code == two.exit_code == 1  # some fixtures score over 9
    reports = json.loads(two.stdout)
    assert reports == json.loads(one.stdout)
    assert [r["file"] for r in reports] == files
    by_name = {
        Path(r["file"]).name[3:]: sorted({f["code"] for f in r["findings"]}) for r in reports
    }
    assert by_name["missing-date.eml"] == ["header.missing_date"]
    assert by_name["clean-marketing.eml"] == []


@pytest.mark.parametrize(
    ("work", "reason"),
    [(die_on_mark, "terminated abruptly"), (raise_on_mark, "rule table exploded")],
)
def test_a_crash_is_that_files_error(
    dns_server: DNSServer, tmp_path: Path, work: ChunkWork, reason: str
) -> None:
    files = corpus(tmp_path, 1)
    marked = tmp_path / f"{MARK}.eml"
    shutil.copyfile(FIXTURES / "clean-marketing.eml", marked)
    files.insert(len(files) // 2, marked)
    settings = settings_for(dns_server)
    expected = lint_parallel(settings, files, 1)  # in-process: the marker does nothing here
    reports = lint_parallel(settings, files, 2, work=work)
    assert [r["file"] for r in reports] == [str(f) for f in files]
    position = files.index(marked)
    crashed = reports.pop(position)
    expected.pop(position)
    assert reports == expected
    [item] = crashed["findings"]
    assert (item["code"], item["severity"], crashed["score"], crashed["verdict"]) == (
        "lint.crashed",
        "error",
        10,
        "fail",
    )
    assert "worker failed" in item["message"] and reason in item["message"]


def test_cli_rejects_jobs_0(dns_server: DNSServer) -> None:
    result = CliRunner().invoke(app, ["lint", "--jobs", "0", str(FIXTURES / "missing-date.eml")])
    assert result.exit_code == 2
