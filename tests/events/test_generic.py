"""The generic JSON lines / CSV format: what it accepts and how errors read."""

from __future__ import annotations

import pytest

from deliverwatch.events.model import BounceClass, EventType
from deliverwatch.events.providers import PROVIDERS
from deliverwatch.events.providers.base import PayloadError, WebhookRequest
from deliverwatch.events.providers.generic import iter_lines
from tests.events.support import plain_source

GENERIC = PROVIDERS["generic"]
SOURCE = plain_source("generic", sending_domain="default.example.com")


def parse(body: str, content_type: str = "application/json") -> list[object]:
    request = WebhookRequest(body=body.encode(), headers={}, content_type=content_type)
    return list(GENERIC.parse(request, SOURCE).events)


def test_one_object_an_array_or_lines() -> None:
    record = '{"type": "opened", "timestamp": 1718000000, "recipient": "a@gmail.com"}'
    assert len(parse(record)) == 1
    assert len(parse(f"[{record}, {record}]")) == 2
    assert len(parse(f"{record}\n{record}\n")) == 2
    event = parse(record)[0]
    assert event.type is EventType.OPENED  # type: ignore[attr-defined]
    assert event.sending_domain == "default.example.com"  # type: ignore[attr-defined]
    assert event.event_id.startswith("generic:sha256:")  # type: ignore[attr-defined]


def test_csv_over_http_and_classification() -> None:
    events = parse(
        "type,timestamp,recipient,diagnostic\r\n"
        "bounced,1718000000,a@b.example,552 mailbox full\r\n",
        "text/csv; charset=utf-8",
    )
    assert events[0].bounce_class is BounceClass.MAILBOX_FULL  # type: ignore[attr-defined]


SENT = '"type": "sent", "timestamp": 1'
ERRORS = [
    ('{"timestamp": 1, "recipient": "a@b.c"}', "json", "item 0 (line 1): type is missing"),
    (
        f'{{{SENT}, "recipient": "a@b.c"}}\n{{"type": "shipped", "timestamp": 1}}',
        "json",
        "item 1 (line 2): type is not an event type",
    ),
    (
        '{"type": "bounced", "timestamp": 1, "recipient": "a@b.c", "bounce_class": "medium"}',
        "json",
        "bounce_class is not a bounce class",
    ),
    (
        '{"type": "sent", "timestamp": "yesterday", "recipient": "a@b.c"}',
        "json",
        "timestamp is not a timestamp",
    ),
    (f'{{{SENT}, "recipient": "nobody"}}', "json", "recipient is not an email address"),
    (f'{{{SENT}, "recipient": ["a@b.c"]}}', "json", "recipient must be a string"),
    (f'{{{SENT}, "recipient": "a@b.c", "tags": [1]}}', "json", "tags must hold strings"),
    ("[1]", "json", "item 0 (line 1): the item must be an object, got a number"),
    ("type,recipient\nsent,a@b.c\n", "text/csv", "CSV header: missing column(s) timestamp"),
    ("type,timestamp,recipient\nsent,1,a@b.c,x\n", "text/csv", "line 2: more cells than header"),
    ('type,timestamp,recipient\nsent,1,"a@b.c\n', "text/csv", "malformed CSV"),
    ("type,timestamp,recipient\nsent,1,\n", "text/csv", "line 2: recipient is missing"),
]


@pytest.mark.parametrize(("body", "content_type", "message"), ERRORS)
def test_errors_name_the_record_and_field(body: str, content_type: str, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(body, content_type)
    assert message in caught.value.reason


def test_iter_lines_splits_on_newlines_only() -> None:
    text = ["a,\u2028b\r\n", "c", "d\n", "e"]
    assert list(iter_lines(text)) == ["a,\u2028b\r\n", "cd\n", "e"]
    with pytest.raises(PayloadError, match="longer than 4"):
        list(iter_lines(["abcdef"], max_line=4))
