"""Fixtures for the notification tests: real HTTP and SMTP receivers, stores on both
databases, a clock that moves only when told."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.notify.model import Notification
from tests.servers.recorder import Recorder
from tests.servers.smtprecorder import SmtpRecorder

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpRecorder]:
    with SmtpRecorder() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(engine: Engine) -> Engine:
    """A migrated store: a SQLite file, or a fresh schema on the test PostgreSQL server."""
    return engine


def make_config(*channels: dict[str, Any], **delivery: Any) -> Config:
    return Config.model_validate(
        {
            "notifications": {
                "dashboard_url": "https://dw.example.com/",
                "channels": list(channels),
                "delivery": delivery,
            }
        }
    )


def make_notification(
    number: int = 1, *, kind: str = "firing", at: datetime = START, **fields: Any
) -> Notification:
    values: dict[str, Any] = {
        "kind": kind,
        "fingerprint": f"fp-{number}",
        "group_key": "example.com",
        "severity": "critical",
        "title": f"Complaint rate above 0.30% (#{number})",
        "domain": "example.com",
        "summary": "Complaint rate is 0.42% over the last 24 h at gmail.com.",
        "evidence": ["0.42% complaints (95% CI 0.36%-0.49%), 12,000 delivered"],
        "causes": ["a new list segment", "an unexpected campaign"],
        "actions": ["pause the campaign", "check the sign-up source"],
        "link": "https://dw.example.com/domains/example.com",
        "labels": {"alertname": "complaint_rate", "provider": "gmail"},
        "created_at": at,
    }
    values.update(fields)
    return Notification(**values)
