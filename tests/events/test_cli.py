"""``deliverwatch ingest``, ``stats`` and ``event`` end to end, on a SQLite store."""

from __future__ import annotations

import gc
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deliverwatch import gcpace
from deliverwatch.cli import app
from deliverwatch.events.reader import FileReading
from tests.events.support import fixture_bytes


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "deliverwatch.yaml"
    path.write_text(f"database_url: sqlite:///{tmp_path / 'dw.db'}\n")
    return path


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[FileReading]:
    """Every FileReading.start of the test, in order (the readers are real)."""
    readings: list[FileReading] = []
    start = FileReading.start

    def recorded(*args: Any, **kwargs: Any) -> FileReading:
        readings.append(start(*args, **kwargs))
        return readings[-1]

    monkeypatch.setattr(FileReading, "start", recorded)
    return readings


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_ingest_is_idempotent_and_each_event_keeps_its_raw_payload(
    config: Path, tmp_path: Path
) -> None:
    body = fixture_bytes("sendgrid", "batch.json")
    path = tmp_path / "batch.json"
    path.write_bytes(body)
    items = json.loads(body)
    args = ("ingest", "--provider", "sendgrid", "--domain", "shop.test", "-c", str(config))
    code, out = run(*args, "--format", "json", str(path))
    assert code == 0, out
    first = json.loads(out)[0]
    assert first["inserted"] > 0 and first["duplicates"] == 0
    code, out = run(*args, "--format", "json", str(path))
    again = json.loads(out)[0]
    assert (again["inserted"], again["duplicates"]) == (0, first["inserted"])

    tracked = next(item for item in items if item.get("event") == "delivered")
    code, out = run("event", "sendgrid", tracked["sg_event_id"], "-c", str(config))
    assert code == 0, out
    shown = json.loads(out)
    assert shown["raw"] == tracked, "the payload as the ESP sent it"
    assert shown["type"] == "delivered" and shown["sending_domain"] == "shop.test"
    assert shown["occurred_at"].endswith("Z")

    code, out = run("event", "sendgrid", "no-such-id", "-c", str(config))
    assert code == 2 and "no stored sendgrid event" in out


def test_a_bad_file_stores_nothing_and_the_others_go_on(config: Path, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(fixture_bytes("sendgrid", "batch.json"))
    items = json.loads(fixture_bytes("sendgrid", "batch.json"))
    del items[1]["email"]
    bad.write_text(json.dumps(items))
    code, out = run(
        "ingest", "--provider", "sendgrid", "-c", str(config), "-f", "json", str(bad), str(good)
    )
    assert code == 1
    results = json.loads(out)
    assert "item 1" in results[0]["error"]
    assert results[1]["inserted"] > 0
    code, out = run("stats", "--window", "2000-01-01..", "-c", str(config), "-f", "json")
    assert code == 0, out
    counts = json.loads(out)["counts"]
    assert sum(counts.values()) >= 1
    stored = results[1]["inserted"]
    code, out = run("event", "sendgrid", items[0]["sg_event_id"], "-c", str(config))
    assert code == 0 and stored > 0


def _big_file(path: Path) -> int:
    """A SendGrid log just over 4 MB (read by two readers); returns its events."""
    template = json.loads(fixture_bytes("sendgrid", "batch.json"))[0]
    lines, n = [], 0
    while sum(map(len, lines)) < 4 << 20:
        items = []
        for _ in range(100):
            items.append(dict(template, event="delivered", sg_event_id=f"big-{n}"))
            n += 1
        lines.append(json.dumps(items) + "\n")
    path.write_text("".join(lines))
    return n


def test_a_big_file_is_read_by_readers_started_before_the_store(
    config: Path, tmp_path: Path, started: list[FileReading]
) -> None:
    """Past 4 MB, readers start before the store is opened (events.reader.start_early), and
    what they read is stored once, with its payloads."""
    path = tmp_path / "big.json"
    n = _big_file(path)
    args = ("ingest", "--provider", "sendgrid", "--domain", "shop.test", "-c", str(config))
    code, out = run(*args, "--format", "json", str(path))
    assert code == 0, out
    assert len(started) == 1 and len(started[0].ranges) == 2 and not started[0].children
    assert json.loads(out) == [{"file": str(path), "inserted": n, "duplicates": 0, "expired": 0}]
    code, out = run("event", "sendgrid", f"big-{n - 1}", "-c", str(config))
    assert code == 0 and json.loads(out)["raw"]["sg_event_id"] == f"big-{n - 1}"


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """``deliverwatch ARGS`` through the console script's ``main`` (not only the typer app)."""
    from deliverwatch.cli import main

    monkeypatch.setattr("sys.argv", ["deliverwatch", *args])
    thresholds = gc.get_threshold()
    try:
        with pytest.raises(SystemExit) as stopped:
            main()
        paced = gc.get_threshold()  # main sets the pace and freezes, for its own process
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert paced == gcpace.THRESHOLDS
    return int(stopped.value.code or 0)


def test_a_command_run_by_main_closes_its_store_before_exiting(
    config: Path, tmp_path: Path
) -> None:
    """main closes the stores before the process exits (it freezes the rest for the exit,
    cli._before_exit): SQLite's last connection checkpoints the WAL and removes it, and
    nothing is left for the next process to recover."""
    path = tmp_path / "big.json"
    n = _big_file(path)
    db = tmp_path / "dw.db"
    command = [sys.executable, "-m", "deliverwatch", "ingest", "--provider", "sendgrid"]
    command += ["--domain", "shop.test", "-c", str(config), "-f", "json", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["inserted"] == n
    assert db.exists() and not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM events").fetchone() == (n,)


def test_main_starts_a_big_files_readers_first_and_the_command_takes_them(
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    started: list[FileReading],
) -> None:
    """``main`` starts the readers from the arguments before the command line is imported
    (cli.prestart); the command, configured, takes them. (Were the guess of the store wrong,
    the store would check the readers' horizon: tests/store/test_bulk.py.)"""
    path = tmp_path / "big.json"
    n = _big_file(path)
    args = ("ingest", "--provider", "sendgrid", "--domain", "Shop.test", f"--config={config}")
    code = _main(monkeypatch, *args, "-f", "json", "--", str(path))
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(started) == 1, "the readers main started were the ones used"
    assert started[0].source.sending_domain == "shop.test" and not started[0].children
    assert json.loads(out) == [{"file": str(path), "inserted": n, "duplicates": 0, "expired": 0}]


def test_readers_main_started_for_other_settings_are_stopped(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What main guessed from the arguments is only used if the command asks for the same:
    readers started for another file are stopped, and the command starts its own."""
    from deliverwatch.events import reader
    from deliverwatch.events.providers.base import file_source

    path, other = tmp_path / "big.json", tmp_path / "other.json"
    n = _big_file(path)
    _big_file(other)
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    reader.prestart(url, "sendgrid", file_source("sendgrid", "shop.test"), other)
    guessed = reader._prestarted
    assert guessed is not None and guessed.children
    args = ("ingest", "--provider", "sendgrid", "--domain", "shop.test", "-c", str(config))
    code, out = run(*args, "--format", "json", str(path))
    assert code == 0, out
    assert not guessed.children and reader._prestarted is None
    assert json.loads(out)[0]["inserted"] == n


def test_readers_main_started_are_stopped_when_the_command_fails_first(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    started: list[FileReading],
) -> None:
    """A configuration error ends the command before it takes the readers: main stops them."""
    from deliverwatch.events import reader

    path = tmp_path / "big.json"
    _big_file(path)
    broken = tmp_path / "deliverwatch.yaml"
    broken.write_text(f"database_url: sqlite:///{tmp_path / 'dw.db'}\nno_such_key: 1\n")
    code = _main(monkeypatch, "ingest", "--provider", "sendgrid", "-c", str(broken), str(path))
    assert code == 2, capsys.readouterr()
    assert len(started) == 1 and not started[0].children and reader._prestarted is None
