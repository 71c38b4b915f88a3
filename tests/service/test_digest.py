"""The daily/weekly digest: every domain's state in one notification, through the outbox to
a real HTTP receiver, once per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.notify.outbox import deliver_due, list_outbox
from deliverwatch.scheduler.jobs import JOBS
from deliverwatch.scheduler.runner import Scheduler
from deliverwatch.service.digest import send_digest
from deliverwatch.store import begin_write, insert_events
from tests.servers.recorder import Recorder
from tests.store.factory import event

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def config_for(recorder: Recorder) -> Config:
    return Config.model_validate(
        {
            "domains": [{"name": "shop.test"}, {"name": "quiet.test"}],
            "notifications": {
                "dashboard_url": "https://dw.example/",
                "digest_channels": ["ops"],
                "channels": [{"name": "ops", "type": "webhook", "url": recorder.url("/hook")}],
            },
        }
    )


async def test_digest_reaches_the_channel_once_per_period(engine: Engine) -> None:
    with begin_write(engine) as conn:
        events = [event("delivered", NOW - timedelta(hours=2)) for _ in range(50)]
        events += [event("complained", NOW - timedelta(hours=1)) for _ in range(2)]
        insert_events(conn, events)
    clock = FakeClock(NOW)
    with Recorder() as recorder:
        config = config_for(recorder)
        detail = await send_digest(config, engine, clock, period=timedelta(days=1))
        assert detail["enqueued"] == 1 and detail["channels"] == ["ops"]
        again = await send_digest(config, engine, clock, period=timedelta(days=1))
        assert again["enqueued"] == 1  # the same period's digest: the existing row
        report = await deliver_due(engine, config, clock)
        assert report.delivered == 1
        (received,) = recorder.accepted
    body = received.json()
    text = str(body)
    assert "daily digest" in text and "shop.test" in text and "quiet.test" in text
    assert "shop.test: ok, score no score, 50 sent, bounce 0.00%, complaint 4.00%" in text
    with engine.connect() as conn:
        (row,) = list_outbox(conn)
    assert row.state == "delivered"


async def test_digest_jobs_skip_without_channels(engine: Engine) -> None:
    jobs = {name: JOBS[name] for name in ("digest_daily", "digest_weekly")}
    outcomes = await Scheduler(Config(), engine, FakeClock(NOW), jobs=jobs).run_once()
    assert [(o.job, o.status) for o in outcomes] == [
        ("digest_daily", "skipped"),
        ("digest_weekly", "skipped"),
    ]
