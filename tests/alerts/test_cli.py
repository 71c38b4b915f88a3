"""``deliverwatch alerts …`` against a real SQLite file and a real local webhook receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from deliverwatch.cli import app
from deliverwatch.store import open_store
from tests.alerts.conftest import complaint_rule, events, store
from tests.servers.recorder import Recorder


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


@pytest.fixture
def config_file(tmp_path: Path, recorder: Recorder) -> Path:
    path = tmp_path / "deliverwatch.yaml"
    data = {
        "database_url": f"sqlite:///{tmp_path / 'dw.db'}",
        "notifications": {
            "dashboard_url": "https://dw.example.com",
            "channels": [{"name": "hook", "type": "webhook", "url": recorder.url("/hook")}],
        },
        "alerting": {
            "default_rules": False,
            "rules": [complaint_rule(**{"for": 0})],
        },
    }
    path.write_text(yaml.safe_dump(data))
    engine = open_store(data["database_url"])
    store(engine, events(datetime.now(UTC) - timedelta(minutes=5), delivered=5000, complaints=40))
    engine.dispose()
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["alerts", *args])
    return result.exit_code, result.output


def test_evaluate_delivers_and_the_commands_work(config_file: Path, recorder: Recorder) -> None:
    code, out = run("evaluate", "-c", str(config_file), "--format", "json")
    assert code == 0, out
    report = json.loads(out)
    assert report["evaluation"]["fired"] == 1
    assert report["delivery"]["delivered"] == 1
    (request,) = recorder.accepted
    body = request.json()
    assert "complaint rate 0.80% on shop.test" in json.dumps(body)

    code, out = run("list", "-c", str(config_file), "--format", "json")
    (alert,) = json.loads(out)
    assert (alert["state"], alert["severity"]) == ("firing", "critical")
    code, out = run("show", str(alert["id"]), "-c", str(config_file))
    assert code == 0 and "95% interval" in out and "history:" in out and "notified" in out

    code, out = run("ack", str(alert["id"]), "--by", "alice", "-c", str(config_file))
    assert code == 0 and "acknowledged" in out
    code, out = run("evaluate", "-c", str(config_file))
    assert code == 0 and "delivery: 1 delivered" in out
    assert len(recorder.accepted) == 2
    code, out = run("ack", "999", "-c", str(config_file))
    assert code == 2


def test_silence_commands(config_file: Path) -> None:
    code, out = run(
        "silence",
        "--match",
        "domain=shop.test",
        "--duration",
        "1h",
        "--comment",
        "deploy",
        "-c",
        str(config_file),
        "--format",
        "json",
    )
    assert code == 0, out
    silence = json.loads(out)
    assert silence["matchers"] == {"domain": "shop.test"}
    code, out = run("silences", "-c", str(config_file))
    assert f"{silence['id']}: domain=shop.test" in out and "(deploy)" in out
    assert run("silence", "--match", "nonsense", "--duration", "1h", "-c", str(config_file))[0] == 2
    assert run("unsilence", str(silence["id"]), "-c", str(config_file))[0] == 0
    assert run("unsilence", str(silence["id"]), "-c", str(config_file))[0] == 2
    code, out = run("evaluate", "--no-deliver", "-c", str(config_file))
    assert code == 0 and "1 fired" in out
