"""The Alertmanager channel against a real Alertmanager: it takes our alerts, keeps their
labels and annotations, and a resolved notification resolves the same alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deliverwatch.clock import FakeClock
from deliverwatch.notify.delivery import send_now
from tests.notify.conftest import make_config, make_notification
from tests.servers.alertmanager import AlertmanagerServer, alertmanager_server  # noqa: F401


async def test_firing_then_resolved(alertmanager_server: AlertmanagerServer) -> None:  # noqa: F811
    clock = FakeClock(datetime.now(UTC))
    config = make_config({"name": "am", "type": "alertmanager", "url": alertmanager_server.url})
    channel = config.notifications.channels[0]
    fingerprint = f"fp-real-{clock.now().timestamp()}"
    firing = make_notification(fingerprint=fingerprint, at=clock.now())
    await send_now(channel, firing, clock)

    [alert] = [
        a for a in alertmanager_server.alerts() if a["labels"].get("dw_fingerprint") == fingerprint
    ]
    assert alert["status"]["state"] == "active"
    assert alert["labels"]["alertname"] == "complaint_rate"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["domain"] == "example.com"
    assert "pause the campaign" in alert["annotations"]["recommended_actions"]
    assert alert["generatorURL"] == firing.link
    ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
    assert ends > clock.now() + timedelta(hours=23)

    resolved_at = datetime.now(UTC)
    clock.set(resolved_at + timedelta(minutes=5))  # delivered a while after it resolved
    resolved = make_notification(kind="resolved", fingerprint=fingerprint, at=resolved_at)
    await send_now(channel, resolved, clock)
    still_active = [
        a
        for a in alertmanager_server.alerts(active="true")
        if a["labels"].get("dw_fingerprint") == fingerprint
    ]
    assert still_active == []
