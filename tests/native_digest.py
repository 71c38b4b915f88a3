"""What ``tests/test_native.py`` compares between the compiled and the plain modules, run
in a process of its own for each (``python -m tests.native_digest``): a digest of the events
and rows made from every provider's fixtures and from generated files, and the names of the
modules that ran compiled, as JSON."""

from __future__ import annotations

import hashlib
import io
import json
import random
from typing import Any

from deliverwatch.events.providers import PROVIDERS, get_provider
from deliverwatch.events.providers.base import PayloadError, SourceSettings
from deliverwatch.events.rows import RowMaker
from deliverwatch.native import compiled_modules
from tests.events.support import fixture_names, fixture_request, plain_source

REPLIES = [
    None,
    "550 5.1.1 <x@y>: Recipient address rejected: User unknown",
    "421 4.7.0 [TSS04] Messages temporarily deferred",
    "452 4.2.2 Over quota",
    "554 5.7.1 Service unavailable; Client host blocked using Spamhaus",
    "451 greylisted, try again later",
    "250 ok \u00e9t\u00e9",
]


def generic_item(rng: random.Random, i: int) -> dict[str, Any]:
    """A generic line touching every path: time forms, case, floats, big integers, tags."""
    kinds = ["sent", "delivered", "bounced", "deferred", "opened", "clicked", "complained"]
    item: dict[str, Any] = {
        "type": rng.choice([*kinds, "unsubscribed", "dropped", "Bounced "]),
        "timestamp": rng.choice(
            [
                1741000000 + i,
                (1741000000 + i) * 1000 + 5,
                f"2025-03-03T10:00:{i % 60:02d}.{i % 1000:03d}Z",
                "2025-03-03T10:00:00+02:00",
                "2025-03-03 10:00:00",
            ]
        ),
        "recipient": rng.choice(
            [
                f"a{i}@gmail.com",
                f"B{i}@Outlook.COM",
                "c@\u00fcber.example",
                f"d@biz{i % 50}.example",
            ]
        ),
    }
    optional: dict[str, list[Any]] = {
        "diagnostic": REPLIES,
        "smtp_status": [None, "5.1.1", "4.2.2"],
        "tags": [None, "a, b,a", ["x", "y", "x"], []],
        "campaign": [None, "c1", 7],
        "message_id": [None, f"<m{i // 3}@x>"],
        "ip": [None, "192.0.2.1"],
        "score": [None, 0.1, 1e-05, 1e16, -0.0, 2**70],
        "nested": [None, {"k": [1.5, {"z": None}]}],
        "sending_domain": [None, "News.Example.com", "a@b.example"],
        "event_id": [None, None, f"id-{i}"],
    }
    for key, values in optional.items():
        if (value := rng.choice(values)) is not None:
            item[key] = value
    return item


def sendgrid_body(rng: random.Random, first: int) -> list[dict[str, Any]]:
    return [
        {
            "email": f"u{i}@gmail.com",
            "timestamp": 1741000000 + i,
            "event": rng.choice(["processed", "delivered", "open", "bounce", "click"]),
            "sg_event_id": f"e{i}",
            "reason": rng.choice(REPLIES),
            "category": ["n"],
            "smtp-id": f"<s{i}@x>",
        }
        for i in range(first, first + 50)
    ]


def main() -> None:
    digest = hashlib.sha256()
    for provider in sorted(PROVIDERS):
        for name in fixture_names(provider):
            request, source = fixture_request(provider, name), plain_source(provider)
            events = PROVIDERS[provider].parse(request, source).events
            digest.update(json.dumps([e.to_dict() for e in events], sort_keys=True).encode())
            digest.update(repr(RowMaker(None).prepare(events).to_wire()).encode())
    rng = random.Random(7)
    generic = "\n".join(
        json.dumps(generic_item(rng, i), ensure_ascii=rng.random() < 0.5) for i in range(3000)
    )
    sendgrid = "\n".join(json.dumps(sendgrid_body(rng, k * 50)) for k in range(40))
    for provider, text in (("generic", generic), ("sendgrid", sendgrid)):
        source = SourceSettings(name="t", provider=provider, sending_domain="mail.example")
        events = get_provider(provider).iter_file(io.BytesIO(text.encode()), source)
        for batch in RowMaker(None, compress=True).batches(events, 700):
            digest.update(repr(batch.to_wire()).encode())  # values: see test_native
    source = SourceSettings(name="t", provider="generic")
    try:
        list(get_provider("generic").iter_file(io.BytesIO(b'{"type": "sent"}\n'), source))
    except PayloadError as exc:
        digest.update(exc.reason.encode())
    print(json.dumps({"digest": digest.hexdigest(), "compiled": compiled_modules()}))


if __name__ == "__main__":
    main()
