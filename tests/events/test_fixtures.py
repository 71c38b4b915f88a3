"""Recorded payloads of every provider and event type parse to the events in expected.json.

Each ``tests/fixtures/events/<provider>/expected.json`` maps a fixture file to the list of
events it must give, each as a subset of ``Event.to_dict()``. Files are posted the way the
ESP posts them (Mandrill form-encoded, SES inside an SNS envelope, CSV as text/csv).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest

from deliverwatch.events.model import BounceClass, EventType
from deliverwatch.events.providers import PROVIDERS
from deliverwatch.events.providers.batch import BatchProvider
from deliverwatch.events.rows import RowMaker
from tests.events.support import FIXTURES, expected, fixture_names, fixture_request, plain_source

CASES = [(provider, name) for provider in sorted(PROVIDERS) for name in fixture_names(provider)]


def test_every_provider_has_fixtures_and_expectations() -> None:
    for provider in PROVIDERS:
        assert (FIXTURES / provider).is_dir(), provider
        names = fixture_names(provider)
        assert names, provider
        assert sorted(expected(provider)) == names, provider


#: Event types an ESP does not report at all (docs/providers.md lists them too).
NOT_REPORTED = {
    "mailjet": {"sent", "deferred"},  # its "sent" is a delivery; no deferral events
    "mandrill": {"sent"},  # its "send" is a delivery
    "postmark": {"sent"},
    "resend": {"unsubscribed"},
}


def test_fixtures_cover_every_event_type_the_provider_reports() -> None:
    for provider in PROVIDERS:
        seen = {event["type"] for events in expected(provider).values() for event in events}
        want = {t.value for t in EventType} - NOT_REPORTED.get(provider, set())
        assert seen == want, (provider, want - seen)


@pytest.mark.parametrize(("provider", "name"), CASES, ids=[f"{p}/{n}" for p, n in CASES])
def test_fixture_parses_to_expected_events(provider: str, name: str) -> None:
    parsed = PROVIDERS[provider].parse(fixture_request(provider, name), plain_source(provider))
    want = expected(provider)[name]
    got = [event.to_dict() for event in parsed.events]
    assert len(got) == len(want), [g["type"] for g in got]
    for event, subset in zip(got, want, strict=True):
        assert {k: event[k] for k in subset} == subset
        check_invariants(provider, event)
    for event in parsed.events:
        assert event.raw, "the raw payload is kept"


@pytest.mark.parametrize(("provider", "name"), CASES, ids=[f"{p}/{n}" for p, n in CASES])
def test_each_event_reads_back_its_own_payload_from_the_raw_block(provider: str, name: str) -> None:
    """Payloads go into a batch's raw block as received (``Event.raw_at``: an item of the body
    as the ESP spelled it) or serialized again; either way each row's index finds its own."""
    events = PROVIDERS[provider].parse(fixture_request(provider, name), plain_source(provider))
    batch = RowMaker(None).prepare(events.events)
    if not events.events:  # a kind not tracked: nothing to keep
        assert batch.raw_block is None
        return
    assert batch.raw_block is not None
    items = orjson.loads(batch.raw_block)
    assert batch.raw_items == len(items)
    for row in batch.rows:
        assert items[row[-1]] in [e.raw for e in events.events if e.event_id == row[1]]
    # The body is the items' text only where the provider's items are the body's own.
    if type(PROVIDERS[provider]).items is not BatchProvider.items:
        assert all(event.raw_at is None for event in events.events)


def check_invariants(provider: str, event: dict[str, Any]) -> None:
    assert event["provider"] in (provider, "myesp")
    assert event["event_id"]
    assert event["timestamp"].endswith("Z")
    datetime.fromisoformat(event["timestamp"])
    assert event["recipient_domain"] == event["recipient"].rpartition("@")[2]
    assert event["recipient_domain"] == event["recipient_domain"].lower()
    if event["type"] in ("bounced", "deferred"):
        assert event["bounce_class"] in {c.value for c in BounceClass}
    else:
        assert event["bounce_class"] is None


def test_source_default_sending_domain_applies_when_payload_has_no_from() -> None:
    source = plain_source("sendgrid", sending_domain="news.example.com")
    parsed = PROVIDERS["sendgrid"].parse(fixture_request("sendgrid", "batch.json"), source)
    assert {e.sending_domain for e in parsed.events} == {"news.example.com"}
    source = plain_source("mailgun", sending_domain="other.example.com")
    parsed = PROVIDERS["mailgun"].parse(fixture_request("mailgun", "delivered.json"), source)
    assert parsed.events[0].sending_domain == "mg.example.com"  # the From header wins


def test_event_ids_are_unique_within_each_fixture() -> None:
    for provider in PROVIDERS:
        for name in fixture_names(provider):
            request = fixture_request(provider, name)
            events = PROVIDERS[provider].parse(request, plain_source(provider)).events
            ids = [event.event_id for event in events]
            assert len(ids) == len(set(ids)), (provider, name)


def test_parsing_twice_gives_the_same_ids() -> None:
    """Retried deliveries must dedupe: ids without a provider id are content hashes."""
    for provider in PROVIDERS:
        for name in fixture_names(provider):
            request, source = fixture_request(provider, name), plain_source(provider)
            first = [e.event_id for e in PROVIDERS[provider].parse(request, source).events]
            again = [e.event_id for e in PROVIDERS[provider].parse(request, source).events]
            assert first == again
