"""The durable outbox on SQLite and PostgreSQL against a real HTTP receiver: enqueue in the
caller's transaction, delivery in order, retries with backoff and Retry-After, permanent
failures recorded, outages and restarts that lose and duplicate nothing."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.notify.delivery import deliver_due
from deliverwatch.notify.model import Notification
from deliverwatch.notify.outbox import claim_due, enqueue, list_outbox, mark_delivered
from deliverwatch.store import begin_write, create_engine, open_store
from deliverwatch.store.schema import notification_outbox
from tests.notify.conftest import START, make_config, make_notification
from tests.servers.recorder import Recorder


def hook(recorder: Recorder, name: str = "hook", **keys: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": recorder.url(f"/{name}"), **keys}


def queue(engine: Engine, notifications: list[Notification], channels: list[str]) -> None:
    with begin_write(engine) as conn:
        for n in notifications:
            enqueue(conn, n, channels, n.created_at)


def received_ids(recorder: Recorder, path: str | None = None) -> list[str]:
    return [r.json()["delivery_id"] for r in recorder.accepted if path is None or r.path == path]


async def run_until_drained(
    engine: Engine, config: Config, clock: FakeClock, *, passes: int = 200
) -> int:
    """Delivery passes, moving the clock to each next due time, until nothing waits."""
    for count in range(1, passes + 1):
        report = await deliver_due(engine, config, clock, rng=random.Random(count))
        if report.next_due is None:
            return count
        clock.set(max(report.next_due, clock.now()))
    raise AssertionError("the outbox never drained")


async def test_enqueue_belongs_to_the_callers_transaction(store: Engine) -> None:
    n = make_notification()
    with pytest.raises(RuntimeError), begin_write(store) as conn:
        enqueue(conn, n, ["hook"], START)
        raise RuntimeError("the alert change failed")
    with store.connect() as conn:
        assert list_outbox(conn) == []
    with begin_write(store) as conn:
        first = enqueue(conn, n, ["hook", "mail", "hook"], START)
    with begin_write(store) as conn:
        again = enqueue(conn, n, ["mail", "hook"], START)
    assert len(first) == 2 and again == [first[1], first[0]]
    with store.connect() as conn:
        items = list_outbox(conn)
    assert sorted(i.channel for i in items) == ["hook", "mail"]
    assert {i.state for i in items} == {"pending"} and {i.attempts for i in items} == {0}
    assert items[0].title == n.title and items[0].kind == "firing"


async def test_due_rows_are_delivered_once_in_creation_order(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    config = make_config(hook(recorder, "a"), hook(recorder, "b"))
    notifications = [make_notification(i, at=START + timedelta(seconds=i)) for i in range(5)]
    queue(store, notifications, ["a", "b"])
    clock.set(START + timedelta(minutes=1))
    report = await deliver_due(store, config, clock)
    assert report.delivered == 10 and report.ok and report.next_due is None
    expected = [n.id for n in notifications]
    assert received_ids(recorder, "/a") == expected
    assert received_ids(recorder, "/b") == expected
    again = await deliver_due(store, config, clock)
    assert again.claimed == 0 and len(recorder.requests) == 10
    with store.connect() as conn:
        items = list_outbox(conn)
    assert {i.state for i in items} == {"delivered"}
    assert {i.delivered_at for i in items} == {clock.now()}


async def test_rows_not_due_yet_wait(store: Engine, recorder: Recorder, clock: FakeClock) -> None:
    config = make_config(hook(recorder))
    queue(store, [make_notification(at=START + timedelta(minutes=10))], ["hook"])
    report = await deliver_due(store, config, clock)
    assert report.claimed == 0 and recorder.requests == []
    assert report.next_due == START + timedelta(minutes=10)


async def test_an_hour_long_outage_then_every_notification_exactly_once(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    """The channel fails for an hour while notifications keep coming; once it recovers each
    arrives exactly once, in order, and the dead channel saw one request per backoff step."""
    config = make_config(hook(recorder), base_backoff_seconds=10, max_backoff_seconds=300)
    recorder.reply_with(503, "maintenance")
    sent: list[Notification] = []
    outage_ends = START + timedelta(hours=1)
    while clock.now() < outage_ends:
        n = make_notification(len(sent), at=clock.now())
        sent.append(n)
        queue(store, [n], ["hook"])
        report = await deliver_due(store, config, clock, rng=random.Random(len(sent)))
        assert report.delivered == 0
        clock.advance(timedelta(minutes=7))
    # one request per pass (the backoff stays under the 7 minutes between passes), not one
    # per queued row: the rest wait behind the failing head row
    assert len(recorder.requests) == len(sent) == 9
    recorder.reply_with(200)
    await run_until_drained(store, config, clock)
    assert received_ids(recorder) == [n.id for n in sent]
    with store.connect() as conn:
        items = list_outbox(conn)
    assert {i.state for i in items} == {"delivered"} and len(items) == len(sent)
    assert items[-1].attempts > 1  # the head row carried the retries


async def test_retry_after_of_a_429_is_respected(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    config = make_config(hook(recorder))
    queue(store, [make_notification(1), make_notification(2)], ["hook"])
    recorder.fail_next(1, 429, headers={"Retry-After": "120"}, body="slow down")
    report = await deliver_due(store, config, clock)
    assert report.retrying == 1 and report.released == 1 and report.delivered == 0
    [failure] = report.failures
    assert failure.retry_at == START + timedelta(seconds=120) and "HTTP 429" in failure.error
    assert report.next_due == START + timedelta(seconds=120)
    clock.advance(timedelta(seconds=119))
    assert (await deliver_due(store, config, clock)).claimed == 0
    clock.advance(timedelta(seconds=1))
    report = await deliver_due(store, config, clock)
    assert report.delivered == 2
    assert [r.status for r in recorder.requests] == [429, 200, 200]


async def test_backoff_grows_exponentially_with_jitter(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    config = make_config(hook(recorder), base_backoff_seconds=10, max_backoff_seconds=60)
    queue(store, [make_notification()], ["hook"])
    recorder.reply_with(500)
    waits = []
    for attempt in range(6):
        report = await deliver_due(store, config, clock, rng=random.Random(attempt))
        assert report.next_due is not None
        waits.append((report.next_due - clock.now()).total_seconds())
        clock.set(report.next_due)
    ceilings = [10, 20, 40, 60, 60, 60]
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling


async def test_permanent_errors_are_recorded_and_never_retried(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    config = make_config(hook(recorder))
    queue(store, [make_notification(1), make_notification(2)], ["hook"])
    recorder.fail_next(1, 400, body="invalid_payload")
    report = await deliver_due(store, config, clock)
    assert report.failed == 1 and report.delivered == 2 - 1
    assert report.failures[0].permanent and "HTTP 400" in report.failures[0].error
    clock.advance(timedelta(days=2))
    assert (await deliver_due(store, config, clock)).claimed == 0
    assert len(recorder.requests) == 2
    with store.connect() as conn:
        [failed] = list_outbox(conn, "failed")
    assert failed.attempts == 1 and failed.last_error is not None
    assert "invalid_payload" in failed.last_error


async def test_attempt_and_age_limits_end_retries(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    config = make_config(hook(recorder), max_attempts=3)
    queue(store, [make_notification()], ["hook"])
    recorder.reply_with(500)
    await run_until_drained(store, config, clock)
    assert len(recorder.requests) == 3
    with store.connect() as conn:
        [item] = list_outbox(conn)
    assert item.state == "failed" and item.attempts == 3
    assert item.last_error is not None and item.last_error.startswith("gave up after 3 attempts")

    aged = make_config(hook(recorder), max_age_seconds=3600, max_backoff_seconds=600)
    queue(store, [make_notification(2, at=clock.now())], ["hook"])
    await run_until_drained(store, aged, clock)
    with store.connect() as conn:
        latest = list_outbox(conn)[0]
    assert latest.state == "failed" and "over" in (latest.last_error or "")
    assert latest.last_attempt_at is not None
    assert latest.last_attempt_at - latest.created_at >= timedelta(hours=1)


async def test_a_restart_mid_delivery_loses_and_duplicates_nothing(
    recorder: Recorder, clock: FakeClock, tmp_path: Any
) -> None:
    """A sender claims six rows, gets two delivered and recorded, then dies. A new process (a
    new engine on the same SQLite file) leaves the other four alone while the lease lives,
    then delivers each of them exactly once, and never the two already delivered."""
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    first = open_store(url)
    config = make_config(hook(recorder), lease_seconds=60)
    sent = [make_notification(i, at=START + timedelta(seconds=i)) for i in range(6)]
    queue(first, sent, ["hook"])
    clock.set(START + timedelta(minutes=1))
    claimed = claim_due(first, clock.now(), "crashed", lease_seconds=60, batch_size=100)["hook"]
    assert [r.notification_id for r in claimed] == [n.id for n in sent]
    for row in claimed[:2]:
        assert mark_delivered(first, row.id, "crashed", clock.now())
    first.dispose()  # the process is gone; its lease on the other four stays in the file

    second = create_engine(url)
    clock.advance(timedelta(seconds=30))
    report = await deliver_due(second, config, clock)
    assert report.claimed == 0 and recorder.requests == []  # the lease still holds
    clock.advance(timedelta(seconds=31))
    report = await deliver_due(second, config, clock)
    assert report.delivered == 4
    assert received_ids(recorder) == [n.id for n in sent[2:]]
    with second.connect() as conn:
        items = sorted(list_outbox(conn), key=lambda i: i.id)
    assert [i.state for i in items] == ["delivered"] * 6
    assert [i.attempts for i in items] == [1, 1, 2, 2, 2, 2]  # the lost attempt counts
    assert (await deliver_due(second, config, clock)).claimed == 0
    second.dispose()


async def test_an_outcome_after_the_lease_was_taken_over_is_dropped(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    config = make_config(hook(recorder), lease_seconds=10)
    queue(store, [make_notification()], ["hook"])
    claim_due(store, clock.now(), "slow-sender", lease_seconds=10, batch_size=10)
    clock.advance(timedelta(seconds=11))
    assert (await deliver_due(store, config, clock)).delivered == 1
    from deliverwatch.notify.outbox import mark_retry

    row_id = list_outbox_ids(store)[0]
    assert not mark_retry(store, row_id, "slow-sender", "late", clock.now())
    with store.connect() as conn:
        assert list_outbox(conn)[0].state == "delivered"


async def test_two_senders_at_once_never_send_a_row_twice(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    config = make_config(hook(recorder, "a"), hook(recorder, "b"))
    sent = [make_notification(i, at=START + timedelta(seconds=i)) for i in range(20)]
    queue(store, sent, ["a", "b"])
    clock.set(START + timedelta(minutes=1))
    reports = await asyncio.gather(
        *(deliver_due(store, config, clock, owner=f"sender-{i}") for i in range(3))
    )
    assert sum(r.delivered for r in reports) == 40
    assert received_ids(recorder, "/a") == [n.id for n in sent]
    assert received_ids(recorder, "/b") == [n.id for n in sent]


async def test_a_failing_channel_does_not_hold_up_the_others(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    down = {"name": "down", "type": "slack", "url": "http://127.0.0.1:9/x", "timeout": 2}
    config = make_config(hook(recorder), down)
    queue(store, [make_notification(1), make_notification(2)], ["hook", "down"])
    report = await deliver_due(store, config, clock)
    assert report.delivered == 2 and report.retrying == 1 and report.released == 1
    assert len(recorder.accepted) == 2
    with store.connect() as conn:
        waiting = list_outbox(conn, "pending")
    assert {i.channel for i in waiting} == {"down"} and len(waiting) == 2


async def test_rows_of_an_unconfigured_channel_fail_visibly(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    queue(store, [make_notification()], ["removed"])
    report = await deliver_due(store, make_config(hook(recorder)), clock)
    assert report.failed == 1 and "not configured" in report.failures[0].error
    only = await deliver_due(store, make_config(hook(recorder)), clock, channels=["hook"])
    assert only.claimed == 0


async def test_channels_filter_leaves_other_channels_waiting(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    config = make_config(hook(recorder, "a"), hook(recorder, "b"))
    queue(store, [make_notification()], ["a", "b"])
    report = await deliver_due(store, config, clock, channels=["b"])
    assert report.delivered == 1 and [r.path for r in recorder.requests] == ["/b"]
    with store.connect() as conn:
        assert [i.channel for i in list_outbox(conn, "pending")] == ["a"]


async def test_secrets_never_reach_logs_or_the_outbox(
    store: Engine, recorder: Recorder, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = {
        "name": "hook",
        "type": "webhook",
        "url": recorder.url("/in/URL-TOKEN-123"),
        "secret": "SIGNING-SECRET-456",
        "headers": {"Authorization": "Bearer HEADER-TOKEN-789"},
    }
    slack = {"name": "slack", "type": "slack", "url": recorder.url("/services/SLACK-TOKEN")}
    config = make_config(channel, slack)
    queue(store, [make_notification(1), make_notification(2)], ["hook", "slack"])
    recorder.fail_next(1, 500)
    recorder.fail_next(1, 404, body="no_service")
    await deliver_due(store, config, clock)
    clock.advance(timedelta(hours=1))
    await deliver_due(store, config, clock)
    with store.connect() as conn:
        stored = " ".join(str(row) for row in conn.execute(sa.select(notification_outbox)).all())
    shown = caplog.text + stored
    assert "failed" in caplog.text  # failures were logged ...
    for secret in ("URL-TOKEN-123", "SIGNING-SECRET-456", "HEADER-TOKEN-789", "SLACK-TOKEN"):
        assert secret not in shown  # ... without the secrets


def list_outbox_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [i.id for i in list_outbox(conn)]


async def test_no_send_starts_when_the_lease_is_about_to_end(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    """A sender that fell behind its lease hands the rows back instead of sending rows
    another sender may already have claimed."""
    import time

    from deliverwatch.notify.channels import ChannelContext, build_channel
    from deliverwatch.notify.channels.http import HttpPoster
    from deliverwatch.notify.delivery import DeliveryReport, _Pass

    config = make_config(hook(recorder))
    queue(store, [make_notification(1), make_notification(2)], ["hook"])
    claimed = claim_due(store, clock.now(), "me", lease_seconds=60, batch_size=10)
    report = DeliveryReport()
    settings = config.notifications.delivery
    late = _Pass(store, "me", clock, settings, report, None, lease_ends=time.monotonic() - 1)
    async with HttpPoster() as poster:
        channel = build_channel(config.notifications.channels[0], ChannelContext(poster, clock))
        await late.run_channel("hook", channel, claimed["hook"])
    assert report.released == 2 and recorder.requests == []
    with store.connect() as conn:
        items = list_outbox(conn)
    assert {(i.state, i.attempts) for i in items} == {("pending", 0)}
    assert (await deliver_due(store, config, clock)).delivered == 2


async def test_finished_rows_are_purged_after_keep_days(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    from deliverwatch.notify.outbox import purge_finished

    config = make_config(hook(recorder))
    queue(store, [make_notification(1), make_notification(2)], ["hook"])
    recorder.fail_next(1, 400)
    await deliver_due(store, config, clock)  # one failed, one delivered
    queue(store, [make_notification(3, at=START + timedelta(days=40))], ["hook"])
    assert purge_finished(store, START) == 0
    assert purge_finished(store, START + timedelta(days=30)) == 2
    with store.connect() as conn:
        assert [i.state for i in list_outbox(conn)] == ["pending"]  # unfinished rows stay


async def test_a_notification_without_a_link_gets_the_dashboard(
    store: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    queue(store, [make_notification(link=None)], ["hook"])
    await deliver_due(store, make_config(hook(recorder)), clock)
    assert recorder.requests[0].json()["notification"]["link"] == "https://dw.example.com/"
