"""Alert tests: a real SQLite store file (and PostgreSQL for the store tests), events stored
through ``insert_events``, and the outbox read back from its table."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.config import Config
from deliverwatch.events.model import BounceClass, Event, EventType
from deliverwatch.store import begin_write, create_engine, insert_events, upgrade_to_head
from deliverwatch.store.schema import notification_outbox

#: Wednesday 2026-03-04 10:00 UTC
T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "deliverwatch.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Engine]:
    """A migrated SQLite store in a real file."""
    engine = create_engine(f"sqlite:///{db_path}")
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def any_db(engine: Engine) -> Engine:
    """A migrated store on SQLite, then on PostgreSQL."""
    return engine


def make_config(
    *,
    rules: list[dict[str, Any]] | None = None,
    routes: list[dict[str, Any]] | None = None,
    channels: tuple[str, ...] = ("ops",),
    default_rules: bool = False,
    **alerting: Any,
) -> Config:
    return Config.model_validate(
        {
            "notifications": {
                "dashboard_url": "https://dw.example.com/",
                "channels": [
                    {"name": name, "type": "webhook", "url": f"http://127.0.0.1:9/{name}"}
                    for name in channels
                ],
            },
            "alerting": {
                "default_rules": default_rules,
                "rules": rules or [],
                "routes": routes or [],
                **alerting,
            },
        }
    )


def complaint_rule(**overrides: Any) -> dict[str, Any]:
    rule = {
        "name": "complaints",
        "kind": "rate",
        "metric": "complaint_rate",
        "thresholds": {"warning": 0.001, "critical": 0.003},
        "window": "1h",
        "min_volume": 100,
        "for": "10m",
        "repeat_interval": "4h",
        "clear_after": 2,
    }
    rule.update(overrides)
    return rule


def events(
    at: datetime,
    *,
    domain: str = "shop.test",
    delivered: int = 0,
    complaints: int = 0,
    hard_bounces: int = 0,
    mailbox_provider: str = "gmail",
) -> list[Event]:
    """Delivered mail, complaints and hard bounces at ``at``."""
    out = []
    kinds = (
        [(EventType.DELIVERED, None)] * delivered
        + [(EventType.COMPLAINED, None)] * complaints
        + [(EventType.BOUNCED, BounceClass.HARD)] * hard_bounces
    )
    for kind, bounce in kinds:
        n = next(_ids)
        recipient = f"u{n}@{mailbox_provider}.example"
        out.append(
            Event(
                event_id=f"a-{n}",
                provider="sendgrid",
                type=kind,
                timestamp=at,
                recipient=recipient,
                recipient_domain=recipient.rsplit("@", 1)[1],
                mailbox_provider=mailbox_provider,
                sending_domain=domain,
                message_id=f"m-{n}",
                bounce_class=bounce,
            )
        )
    return out


def store(engine: Engine, items: list[Event]) -> None:
    with begin_write(engine) as conn:
        insert_events(conn, items)


def outbox(engine: Engine) -> list[dict[str, Any]]:
    """Every outbox row (payload plus channel), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(notification_outbox).order_by(notification_outbox.c.id))
        return [{**dict(row.payload), "channel": row.channel} for row in rows]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
