"""The suppression list: fed by hard bounces, complaints and unsubscribes; scoped; editable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Connection, Engine

from deliverwatch.store import (
    add_suppression,
    begin_write,
    insert_events,
    is_suppressed,
    list_suppressions,
    remove_suppressions,
    suppressions_for,
)
from tests.store.factory import T0, event

ANN = "Ann@Gmail.example"


def test_hard_bounces_complaints_and_unsubscribes_are_suppressed(conn: Connection) -> None:
    insert_events(
        conn,
        [
            event("bounced", T0, recipient="hard@x.example", bounce_class="hard"),
            event("bounced", T0, recipient="soft@x.example", bounce_class="soft"),
            event("bounced", T0, recipient="block@x.example", bounce_class="block"),
            event("complained", T0, recipient="angry@x.example"),
            event("unsubscribed", T0, recipient="bye@x.example", domain="news.test"),
            event("delivered", T0, recipient="fine@x.example"),
        ],
    )
    listed = {(s.recipient, s.sending_domain, s.reason) for s in list_suppressions(conn)}
    assert listed == {
        ("hard@x.example", "shop.test", "hard_bounce"),
        ("angry@x.example", "shop.test", "complaint"),
        ("bye@x.example", "news.test", "unsubscribe"),
    }


def test_scope_hard_bounces_everywhere_complaints_per_domain(conn: Connection) -> None:
    insert_events(
        conn,
        [
            event("bounced", T0, recipient="gone@x.example", bounce_class="hard"),
            event("complained", T0, recipient=ANN),
            event("unsubscribed", T0, recipient="all@x.example", domain=None),
        ],
    )
    assert is_suppressed(conn, "gone@x.example", sending_domain="news.test")
    assert is_suppressed(conn, "ann@gmail.example", sending_domain="shop.test")
    assert not is_suppressed(conn, ANN, sending_domain="news.test")
    assert is_suppressed(conn, ANN)
    assert is_suppressed(conn, "all@x.example", sending_domain="anything.test")
    assert not is_suppressed(conn, "nobody@x.example")


def test_repeats_are_counted_once_per_event_and_widen_the_times(engine: Engine) -> None:
    first = event("complained", T0 + timedelta(hours=5), recipient=ANN)
    with begin_write(engine) as conn:
        insert_events(conn, [first])
    with begin_write(engine) as conn:
        insert_events(conn, [first])  # a webhook retry: no change
        insert_events(
            conn,
            [
                event("complained", T0 + timedelta(hours=9), recipient=ANN.lower()),
                event("complained", T0 + timedelta(hours=1), recipient=ANN),
            ],
        )
        (entry,) = suppressions_for(conn, ANN)
    assert entry.recipient == "ann@gmail.example"
    assert entry.events == 3
    assert entry.first_at == T0 + timedelta(hours=1)
    assert entry.last_at == T0 + timedelta(hours=9)
    assert entry.to_dict()["first_at"] == "2025-03-10T01:00:00Z"


def test_manual_entries_removal_and_paging(conn: Connection) -> None:
    for name in ("c", "a", "b", "d"):
        add_suppression(conn, f"{name}@x.example", sending_domain="Shop.Test", at=T0)
    add_suppression(conn, "a@x.example", reason="complaint", at=T0)
    page = list_suppressions(conn, sending_domain="shop.test", limit=2)
    assert [s.recipient for s in page] == ["a@x.example", "b@x.example"]
    rest = list_suppressions(conn, sending_domain="shop.test", after=page[-1].recipient)
    assert [s.recipient for s in rest] == ["c@x.example", "d@x.example"]
    assert len(list_suppressions(conn, reason="complaint")) == 1
    assert remove_suppressions(conn, "A@x.example", reason="manual") == 1
    assert is_suppressed(conn, "a@x.example", sending_domain="other.test")  # the global one
    assert remove_suppressions(conn, "a@x.example") == 1
    assert not is_suppressed(conn, "a@x.example")
    with pytest.raises(ValueError, match="unknown suppression reason"):
        add_suppression(conn, "e@x.example", reason="bored")  # type: ignore[arg-type]
