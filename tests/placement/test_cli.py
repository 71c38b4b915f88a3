"""``deliverwatch placement run`` against the test bed: JSON, the gate's exit codes, storing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from deliverwatch.placement.store import latest_placement
from deliverwatch.store import create_engine
from tests.placement.conftest import PASSWORD, placement_settings, seed_entry
from tests.placement.test_run import CLEAN, SPAMMY
from tests.servers.dovecot import DovecotServer
from tests.servers.seedbed import SeedBed


def _config(
    tmp_path: Path, dovecot: DovecotServer, receiver: SeedBed, seeds: list[str], **extra: Any
) -> Path:
    settings = placement_settings(dovecot, receiver, [seed_entry(dovecot, s) for s in seeds])
    data = settings.model_dump(mode="json", by_alias=True, exclude_none=True)
    del data["interval"]  # dumped as ISO 8601, which config durations do not take
    for seed in data["seeds"]:
        secret = tmp_path / f"{seed['address']}.pw"
        secret.write_text(PASSWORD + "\n")
        seed["imap"]["password_file"] = str(secret)
    path = tmp_path / "deliverwatch.yaml"
    path.write_text(yaml.safe_dump({"placement": data, **extra}))
    return path


def _invoke(*args: str) -> Any:
    from deliverwatch.cli import app

    return CliRunner().invoke(app, ["placement", "run", *args])


def test_gate_passes_and_run_is_stored(
    tmp_path: Path,
    dovecot: DovecotServer,
    bed: Callable[..., SeedBed],
    seeds: Callable[..., list[str]],
) -> None:
    database = tmp_path / "dw.db"
    config = _config(tmp_path, dovecot, bed(), seeds(2), database_url=f"sqlite:///{database}")
    message = tmp_path / "news.eml"
    message.write_bytes(CLEAN)
    result = _invoke(
        "--config", str(config), "--message", str(message), "--format", "json",
        "--fail-under-inbox", "1.0", "--timeout", "20",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    data = json.loads(result.stdout)
    assert data["overall"]["inbox_rate"] == 1.0 and data["id"] is not None
    assert [s["placement"] for s in data["seeds"]] == ["inbox", "inbox"]
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        stored = latest_placement(conn)
    engine.dispose()
    assert stored is not None and stored.token == data["token"]


def test_gate_fails_with_exit_1_and_text_output(
    tmp_path: Path,
    dovecot: DovecotServer,
    bed: Callable[..., SeedBed],
    seeds: Callable[..., list[str]],
) -> None:
    config = _config(tmp_path, dovecot, bed(), seeds(1))
    message = tmp_path / "offer.eml"
    message.write_bytes(SPAMMY)
    result = _invoke(
        "--config", str(config), "--message", str(message), "--fail-under-inbox", "0.5"
    )
    assert result.exit_code == 1, result.output
    assert "spam" in result.stdout and "Junk" in result.stdout
    assert "inbox ratio 0% is under 50%" in result.stderr
    assert PASSWORD not in result.output


def test_config_and_usage_errors_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("placement: {}\n")
    result = _invoke("--config", str(empty))
    assert result.exit_code == 2 and "placement.smtp is not set" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("placement: {timeout: -1}\n")
    assert _invoke("--config", str(bad)).exit_code == 2
    result = _invoke("--config", str(empty), "--message", str(tmp_path / "nope.eml"))
    assert result.exit_code == 2 and "cannot read" in result.stderr
    assert _invoke("--config", str(empty), "--timeout", "0").exit_code == 2
    assert _invoke("--config", str(empty), "--fail-under-inbox", "2").exit_code == 2
