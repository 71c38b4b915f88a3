"""The Notification record: a lossless JSON round trip and refusal of impossible values."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest

from deliverwatch.notify.model import Notification, sample_notification
from tests.notify.conftest import START, make_notification


def test_round_trip_through_json_is_lossless() -> None:
    original = make_notification(
        alerts=[{"fingerprint": "a", "severity": "warning", "summary": "x"}]
    )
    text = json.dumps(original.to_dict())
    again = Notification.from_dict(json.loads(text))
    assert again == original
    assert again.created_at.tzinfo is not None


def test_ids_are_unique_and_stable_through_a_round_trip() -> None:
    a, b = make_notification(), make_notification()
    assert a.id != b.id
    assert Notification.from_dict(a.to_dict()).id == a.id


def test_from_dict_ignores_unknown_keys_and_fills_defaults() -> None:
    data = {
        "id": "n1",
        "kind": "resolved",
        "fingerprint": "f",
        "severity": "warning",
        "title": "t",
        "created_at": "2026-03-02T09:00:00+00:00",
        "added_in_a_later_version": True,
    }
    n = Notification.from_dict(data)
    assert n.kind == "resolved" and n.evidence == [] and n.labels == {} and n.link is None


@pytest.mark.parametrize(
    "change",
    [{"kind": "exploded"}, {"severity": "apocalyptic"}, {"created_at": datetime(2026, 1, 1)}],
)
def test_impossible_values_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(make_notification(), **change)  # type: ignore[arg-type]


def test_sample_notification_is_a_labelled_test() -> None:
    n = sample_notification(START, link="https://dw.example.com/")
    assert n.kind == "test" and n.severity == "info" and n.link == "https://dw.example.com/"
