"""The HTTP channels against a real local server: what arrives, and how each reply is read."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from deliverwatch.clock import FakeClock
from deliverwatch.notify.channels import PermanentError, TemporaryError
from deliverwatch.notify.channels.webhook import verify_signature
from deliverwatch.notify.delivery import send_now
from deliverwatch.notify.model import sample_notification
from tests.notify.conftest import make_config, make_notification
from tests.servers.recorder import Recorder


async def send(channel: dict[str, Any], clock: FakeClock, **fields: Any) -> None:
    config = make_config(channel)
    channel_config = config.notifications.channels[0]
    await send_now(channel_config, make_notification(**fields), clock)


async def test_slack_posts_block_kit_json(recorder: Recorder, clock: FakeClock) -> None:
    await send({"name": "s", "type": "slack", "url": recorder.url("/services/T/B/x")}, clock)
    [request] = recorder.requests
    assert request.method == "POST" and request.path == "/services/T/B/x"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("deliverwatch/")
    body = request.json()
    assert body["blocks"][0]["type"] == "header" and "Complaint rate" in body["text"]


async def test_webhook_signature_verifies_with_the_shared_secret(
    recorder: Recorder, clock: FakeClock
) -> None:
    channel = {
        "name": "w",
        "type": "webhook",
        "url": recorder.url("/in"),
        "secret": "whsec-test",
        "headers": {"X-Team": "mail"},
    }
    await send(channel, clock)
    [request] = recorder.requests
    timestamp = request.headers["x-deliverwatch-timestamp"]
    assert timestamp == str(int(clock.now().timestamp()))
    signature = request.headers["x-deliverwatch-signature"]
    assert verify_signature(
        "whsec-test", timestamp, signature, request.body, clock.now().timestamp()
    )
    assert not verify_signature(
        "wrong", timestamp, signature, request.body, clock.now().timestamp()
    )
    body = request.json()
    assert request.headers["x-deliverwatch-delivery"] == body["delivery_id"]
    assert body["notification"]["fingerprint"] == "fp-1"
    assert request.headers["x-team"] == "mail"


async def test_webhook_without_secret_is_unsigned(recorder: Recorder, clock: FakeClock) -> None:
    await send({"name": "w", "type": "webhook", "url": recorder.url("/in")}, clock)
    assert "x-deliverwatch-signature" not in recorder.requests[0].headers


async def test_pagerduty_test_message_triggers_then_resolves(
    recorder: Recorder, clock: FakeClock
) -> None:
    recorder.reply_with(202, '{"status":"success","dedup_key":"x"}')
    config = make_config(
        {"name": "pd", "type": "pagerduty", "routing_key": "RK", "url": recorder.url("/v2/enqueue")}
    )
    await send_now(config.notifications.channels[0], sample_notification(clock.now()), clock)
    actions = [r.json()["event_action"] for r in recorder.requests]
    assert actions == ["trigger", "resolve"]
    keys = {r.json()["dedup_key"] for r in recorder.requests}
    assert len(keys) == 1 and keys.pop().startswith("deliverwatch-test-")


async def test_teams_posts_the_card(recorder: Recorder, clock: FakeClock) -> None:
    recorder.reply_with(202)
    await send({"name": "t", "type": "teams", "url": recorder.url("/workflows/1")}, clock)
    card = recorder.requests[0].json()["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"


async def test_alertmanager_gets_the_v2_alerts_list(recorder: Recorder, clock: FakeClock) -> None:
    channel = {"name": "am", "type": "alertmanager", "url": recorder.url("/"), "token": "amtok"}
    await send(channel, clock, kind="resolved")
    [request] = recorder.requests
    assert request.path == "/api/v2/alerts"
    assert request.headers["authorization"] == "Bearer amtok"
    [alert] = request.json()
    assert alert["endsAt"] == clock.now().isoformat()


async def test_alertmanager_one_instance_up_is_enough(recorder: Recorder, clock: FakeClock) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    channel = {"name": "am", "type": "alertmanager", "urls": [down, recorder.url("/")]}
    await send(channel, clock)
    assert len(recorder.accepted) == 1
    recorder.fail_next(1, 503)
    with pytest.raises(TemporaryError, match=r"instance 1: .*instance 2: HTTP 503"):
        await send(channel, clock)


@pytest.mark.parametrize("status", [500, 502, 503, 408])
async def test_server_errors_are_temporary(
    recorder: Recorder, clock: FakeClock, status: int
) -> None:
    recorder.fail_next(1, status, body="upstream broke")
    with pytest.raises(TemporaryError, match=f"HTTP {status}.*upstream broke") as caught:
        await send({"name": "s", "type": "slack", "url": recorder.url("/x")}, clock)
    assert caught.value.retry_after is None


async def test_429_carries_retry_after(recorder: Recorder, clock: FakeClock) -> None:
    recorder.fail_next(1, 429, headers={"Retry-After": "42"})
    with pytest.raises(TemporaryError) as caught:
        await send({"name": "s", "type": "slack", "url": recorder.url("/x")}, clock)
    assert caught.value.retry_after == 42


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301])
async def test_other_client_errors_are_permanent(
    recorder: Recorder, clock: FakeClock, status: int
) -> None:
    recorder.fail_next(1, status, body="invalid_payload", headers={"Location": "http://x/"})
    with pytest.raises(PermanentError, match=f"HTTP {status}"):
        await send({"name": "s", "type": "slack", "url": recorder.url("/x")}, clock)
    assert len(recorder.requests) == 1  # a redirect is not followed


async def test_connection_refused_is_temporary(clock: FakeClock) -> None:
    url = f"http://127.0.0.1:{closed_port()}/x"
    with pytest.raises(TemporaryError, match="ConnectError"):
        await send({"name": "s", "type": "slack", "url": url}, clock)


async def test_error_messages_do_not_contain_the_url(recorder: Recorder, clock: FakeClock) -> None:
    recorder.fail_next(1, 404, body="no_service")
    url = recorder.url("/services/T000/B000/SECRET-TOKEN")
    with pytest.raises(PermanentError) as caught:
        await send({"name": "s", "type": "slack", "url": url}, clock)
    assert "SECRET-TOKEN" not in str(caught.value)
    refused = f"http://127.0.0.1:{closed_port()}/hooks/SECRET-TOKEN"
    with pytest.raises(TemporaryError) as caught_refused:
        await send({"name": "s", "type": "slack", "url": refused}, clock)
    assert "SECRET-TOKEN" not in str(caught_refused.value)


async def test_a_huge_error_body_is_read_only_up_to_the_bound(
    recorder: Recorder, clock: FakeClock
) -> None:
    recorder.fail_next(1, 500, body="E" * 1_000_000)
    with pytest.raises(TemporaryError) as caught:
        await send({"name": "s", "type": "slack", "url": recorder.url("/x")}, clock)
    assert len(str(caught.value)) < 300


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("kind", ["pagerduty", "alertmanager"])
async def test_digests_are_refused_by_incident_channels(
    recorder: Recorder, clock: FakeClock, kind: str
) -> None:
    channel: dict[str, Any] = {"name": "x", "type": kind, "url": recorder.url("/")}
    if kind == "pagerduty":
        channel["routing_key"] = "RK"
    with pytest.raises(PermanentError, match="not a digest"):
        await send(channel, clock, kind="digest")
    assert recorder.requests == []
