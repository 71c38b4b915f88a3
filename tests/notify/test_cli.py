"""``deliverwatch notify test|outbox|deliver`` against a real receiver and a real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from deliverwatch.cli import app
from deliverwatch.notify.outbox import enqueue
from deliverwatch.store import begin_write, open_store
from tests.notify.conftest import make_notification
from tests.servers.recorder import Recorder

runner = CliRunner()


def config_file(tmp_path: Path, recorder: Recorder) -> Path:
    data = {
        "database_url": f"sqlite:///{tmp_path / 'dw.db'}",
        "notifications": {
            "dashboard_url": "https://dw.example.com/",
            "channels": [
                {"name": "hook", "type": "webhook", "url": recorder.url("/hook"), "secret": "s"},
                {"name": "slack", "type": "slack", "url": recorder.url("/services/SECRET")},
            ],
        },
    }
    path = tmp_path / "deliverwatch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_notify_test_sends_directly_and_reports_success(tmp_path: Path, recorder: Recorder) -> None:
    result = runner.invoke(
        app, ["notify", "test", "hook", "-c", str(config_file(tmp_path, recorder))]
    )
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "hook" in result.output
    [request] = recorder.requests
    body = request.json()
    assert body["notification"]["kind"] == "test"
    assert body["notification"]["link"] == "https://dw.example.com/"


def test_notify_test_failure_exits_1_with_the_reason(tmp_path: Path, recorder: Recorder) -> None:
    recorder.fail_next(1, 404, body="no_service")
    result = runner.invoke(
        app, ["notify", "test", "slack", "-c", str(config_file(tmp_path, recorder))]
    )
    assert result.exit_code == 1
    assert "HTTP 404" in result.output and "no_service" in result.output
    assert "permanent" in result.output and "SECRET" not in result.output


def test_notify_test_unknown_channel_is_a_usage_error(tmp_path: Path, recorder: Recorder) -> None:
    result = runner.invoke(
        app, ["notify", "test", "nope", "-c", str(config_file(tmp_path, recorder))]
    )
    assert result.exit_code == 2
    assert "unknown channel 'nope'" in result.output and "hook, slack" in result.output


def test_outbox_and_deliver(tmp_path: Path, recorder: Recorder) -> None:
    path = config_file(tmp_path, recorder)
    engine = open_store(f"sqlite:///{tmp_path / 'dw.db'}")
    now = datetime.now(UTC)
    with begin_write(engine) as conn:
        enqueue(conn, make_notification(1, at=now), ["hook", "slack"], now)
    engine.dispose()
    listed = runner.invoke(app, ["notify", "outbox", "-c", str(path), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert sorted(row["state"] for row in json.loads(listed.output)) == ["pending", "pending"]

    recorder.fail_next(1, 500)  # the first channel to send is refused once
    delivered = runner.invoke(app, ["notify", "deliver", "-c", str(path)])
    assert delivered.exit_code == 1
    assert "delivered 1, retrying 1" in delivered.output

    pending = runner.invoke(
        app, ["notify", "outbox", "-c", str(path), "--state", "pending", "--format", "json"]
    )
    assert pending.exit_code == 0
    [waiting] = json.loads(pending.output)
    assert waiting["attempts"] == 1 and waiting["last_error"].startswith("HTTP 500")
    table = runner.invoke(app, ["notify", "outbox", "-c", str(path)])
    assert table.exit_code == 0 and "pending" in table.output and "delivered" in table.output
    done = runner.invoke(
        app, ["notify", "outbox", "-c", str(path), "--state", "delivered", "--format", "json"]
    )
    assert len(json.loads(done.output)) == 1
