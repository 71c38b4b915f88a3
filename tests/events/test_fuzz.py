"""Malformed payloads never crash a parser: PayloadError or a full result, never a partial list.

Three kinds of input per provider: random bytes, random JSON, and recorded fixtures with one
field somewhere replaced by random JSON or deleted (the likeliest real-world breakage).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverwatch.events.model import EventType
from deliverwatch.events.providers import PROVIDERS
from deliverwatch.events.providers.base import Parsed, PayloadError, WebhookRequest
from tests.events.support import (
    fixture_bytes,
    fixture_names,
    mandrill_form,
    plain_source,
    sns_notification,
)

NAMES = sorted(PROVIDERS)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(
        ["", "ana@gmail.com", "1718000000", "2024-06-10T06:13:20Z", "bounce", "5.1.1"]
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def wrap(provider: str, payload: Any, name: str = "") -> WebhookRequest:
    """Post a decoded payload the way the provider's ESP would."""
    if provider == "mandrill":
        body = mandrill_form(json.dumps(payload))
    elif provider == "ses" and not name.startswith("sns-"):
        body = json.dumps(sns_notification(payload)).encode()
    elif name.endswith(".csv"):
        return WebhookRequest(body=payload.encode(), headers={}, content_type="text/csv")
    else:
        body = json.dumps(payload).encode()
    return WebhookRequest(
        body=body, headers={"svix-id": "msg_fuzz"}, content_type="application/json"
    )


def check(provider: str, request: WebhookRequest) -> Parsed | None:
    try:
        parsed = PROVIDERS[provider].parse(request, plain_source(provider))
    except PayloadError as exc:
        assert exc.status == 400 and exc.reason
        return None
    assert isinstance(parsed, Parsed)
    for event in parsed.events:
        assert event.timestamp.tzinfo is not None
        assert "@" in event.recipient and event.recipient_domain
        assert event.event_id
        if event.type not in (EventType.BOUNCED, EventType.DEFERRED):
            assert event.bounce_class is None
    return parsed


@pytest.mark.parametrize("provider", NAMES)
@FUZZ
@given(body=st.binary(max_size=200), content_type=st.sampled_from(["application/json", "text/csv"]))
def test_random_bytes(provider: str, body: bytes, content_type: str) -> None:
    check(provider, WebhookRequest(body=body, headers={}, content_type=content_type))


@pytest.mark.parametrize("provider", NAMES)
@FUZZ
@given(payload=JSON)
def test_random_json(provider: str, payload: Any) -> None:
    check(provider, wrap(provider, payload))


@st.composite
def mutation(draw: st.DrawFn, provider: str) -> tuple[str, Any]:
    """A fixture with one value somewhere replaced (or its key deleted)."""
    names = [n for n in fixture_names(provider) if not n.endswith(".csv")]
    name = draw(st.sampled_from(names))
    raw = fixture_bytes(provider, name)
    if name.endswith(".jsonl"):
        raw = b"[" + b",".join(line for line in raw.splitlines() if line.strip()) + b"]"
    payload = json.loads(raw)
    node = payload
    while isinstance(node, dict | list) and node and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[key], dict | list) or not node[key]:
            break
        node = node[key]
    if isinstance(node, dict | list) and node:
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(JSON)
    return name, payload


@pytest.mark.parametrize("provider", NAMES)
@FUZZ
@given(data=st.data())
def test_mutated_fixtures(provider: str, data: st.DataObject) -> None:
    name, payload = data.draw(mutation(provider))
    check(provider, wrap(provider, payload, name))


@pytest.mark.parametrize("provider", NAMES)
@FUZZ
@given(data=st.data())
def test_csv_and_form_text_mutations(provider: str, data: st.DataObject) -> None:
    """Character-level damage to the raw body (CSV for generic, the form for Mandrill)."""
    name = data.draw(st.sampled_from(fixture_names(provider)))
    body = bytearray(wrap(provider, *_raw(provider, name)).body)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, max(len(body) - 1, 0)))
        body[position : position + 1] = data.draw(st.binary(max_size=3))
    content_type = "text/csv" if name.endswith(".csv") else "application/json"
    check(provider, WebhookRequest(body=bytes(body), headers={}, content_type=content_type))


def _raw(provider: str, name: str) -> tuple[Any, str]:
    raw = fixture_bytes(provider, name)
    if name.endswith(".csv"):
        return raw.decode(), name
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in raw.splitlines() if line.strip()], name
    return json.loads(raw), name


#: Batch providers, a batch fixture, and where an item keeps its timestamp.
BATCHES = {
    "sendgrid": ("batch.json", ["timestamp"]),
    "sparkpost": ("batch.json", ["msys", "message_event", "timestamp"]),
    "mandrill": ("events.json", ["ts"]),
    "mailjet": ("grouped.json", ["time"]),
    "generic": ("events.jsonl", ["timestamp"]),
}


@pytest.mark.parametrize("provider", sorted(BATCHES))
@FUZZ
@given(data=st.data())
def test_one_bad_item_fails_the_whole_batch(provider: str, data: st.DataObject) -> None:
    name, path = BATCHES[provider]
    items, _ = _raw(provider, name)
    good = PROVIDERS[provider].parse(wrap(provider, items, name), plain_source(provider))
    assert good.events
    bad = copy.deepcopy(data.draw(st.sampled_from(items[:3])))
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(st.sampled_from(["not a time", [], {}, True, -5, 1e300]))
    position = data.draw(st.integers(0, len(items)))
    batch = [*items[:position], bad, *items[position:]]
    with pytest.raises(PayloadError) as caught:
        PROVIDERS[provider].parse(wrap(provider, batch, name), plain_source(provider))
    assert f"item {position}" in caught.value.reason
