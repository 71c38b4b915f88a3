"""Files: every provider streams saved bodies and exports; big files in bounded memory."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
from pathlib import Path

import pytest

from deliverwatch.events.model import Event
from deliverwatch.events.providers import PROVIDERS, get_provider, iter_events_from_file
from deliverwatch.events.providers.base import PayloadError
from deliverwatch.events.providers.jsonstream import FAST_LINE
from tests.events.support import (
    body_for,
    expected,
    fixture_bytes,
    fixture_names,
    fixture_request,
    plain_source,
)


def parsed(provider: str, name: str) -> list[dict[str, object]]:
    events = (
        PROVIDERS[provider].parse(fixture_request(provider, name), plain_source(provider)).events
    )
    return [strip_id(provider, e) for e in events]


def strip_id(provider: str, event: Event) -> dict[str, object]:
    data = event.to_dict()
    if provider in ("resend", "ses"):
        data.pop("event_id")  # webhook ids come from headers/envelopes a file does not have
    return data


def file_line(provider: str, name: str) -> bytes:
    """One fixture as a file line: what a log of webhook bodies holds."""
    raw = fixture_bytes(provider, name)
    if provider == "mandrill" or name.endswith(".jsonl"):
        return raw.strip() + b"\n"  # the events array itself; JSON lines as they are
    if provider == "ses" and not name.startswith("sns-"):
        body, _ = body_for(provider, raw, name)
        return body + b"\n"  # the SNS envelope
    return json.dumps(json.loads(raw)).encode() + b"\n"


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_log_of_bodies_gives_the_same_events_as_the_webhooks(
    provider: str, tmp_path: Path
) -> None:
    names = [n for n in fixture_names(provider) if not n.endswith(".csv")]
    path = tmp_path / f"{provider}.jsonl"
    path.write_bytes(b"".join(file_line(provider, name) for name in names))
    want = [event for name in names for event in parsed(provider, name)]
    got = [strip_id(provider, e) for e in iter_events_from_file(path, provider)]
    assert got == want
    assert sum(len(v) for k, v in expected(provider).items() if k in names) == len(got)


def test_bare_items_stream_too() -> None:
    mailgun = [
        json.loads(fixture_bytes("mailgun", n))["event-data"]
        for n in ("delivered.json", "opened.json")
    ]
    ses = [json.loads(fixture_bytes("ses", n)) for n in ("send.json", "bounce-permanent.json")]
    source = plain_source("x")
    assert len(list(get_provider("mailgun").iter_file(lines(mailgun), source))) == 2
    assert len(list(get_provider("ses").iter_file(lines(ses), source))) == 3


def lines(values: list[object]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(v).encode() + b"\n" for v in values))


def test_generic_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(fixture_bytes("generic", "events.csv"))
    got = [e.to_dict() for e in iter_events_from_file(path, "generic")]
    assert got == parsed("generic", "events.csv")


def test_a_bad_item_stops_the_file_after_the_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = fixture_bytes("generic", "events.jsonl").splitlines()[0]
    path.write_bytes(good + b"\n" + good + b'\n{"type": "sent"}\n' + good + b"\n")
    seen = []
    with pytest.raises(PayloadError, match=r"item 2 \(line 3\): timestamp is missing"):
        for event in iter_events_from_file(path, "generic"):
            seen.append(event)
    assert len(seen) == 2


def test_unknown_provider() -> None:
    with pytest.raises(KeyError, match="known: brevo"):
        get_provider("nope")


def generate(path: Path, size: int, csv: bool) -> int:
    """A file of about ``size`` bytes of generic events; returns the number of events."""
    count = 0
    with path.open("w") as out:
        if csv:
            out.write("type,timestamp,recipient,smtp_status,diagnostic\n")
        while out.tell() < size:
            recipient = f"user{count}@example{count % 97}.com"
            if csv:
                out.write(
                    f"bounced,{1718000000 + count},{recipient},5.1.1,550 5.1.1 user unknown\n"
                )
            else:
                record = {
                    "type": "bounced",
                    "timestamp": 1718000000 + count,
                    "recipient": recipient,
                    "smtp_status": "5.1.1",
                    "diagnostic": "550 5.1.1 user unknown",
                }
                out.write(json.dumps(record) + "\n")
            count += 1
    return count


def peak_memory(path: Path, provider: str) -> tuple[int, int]:
    """(events read, peak bytes allocated while reading them)."""
    tracemalloc.start()
    try:
        seen = sum(1 for _ in iter_events_from_file(path, provider))
        return seen, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("csv", [False, True], ids=["jsonl", "csv"])
def test_big_files_stream_in_bounded_memory(tmp_path: Path, csv: bool) -> None:
    """Peak memory does not grow with the file: 3x the file, the same peak."""
    peaks = []
    for size in (150_000, 450_000):
        path = tmp_path / f"{size}.{'csv' if csv else 'jsonl'}"
        count = generate(path, size, csv)
        seen, peak = peak_memory(path, "generic")
        assert seen == count
        peaks.append(peak)
    assert peaks[1] < 1_000_000
    assert peaks[1] - peaks[0] < 50_000, peaks


def test_big_json_array_streams_in_bounded_memory(tmp_path: Path) -> None:
    """A saved SendGrid body holding a huge batch (a line longer than FAST_LINE, which would
    be decoded whole) is split item by item."""
    item = json.loads(fixture_bytes("sendgrid", "batch.json"))[3]
    assert len(json.dumps(item)) * 1500 > FAST_LINE
    peaks = []
    for count in (1500, 4500):
        path = tmp_path / f"sendgrid-{count}.json"
        with path.open("w") as out:
            out.write("[")
            for i in range(count):
                out.write(("," if i else "") + json.dumps(dict(item, sg_event_id=f"e{i}")))
            out.write("]")
        seen, peak = peak_memory(path, "sendgrid")
        assert seen == count
        peaks.append(peak)
    assert peaks[1] - peaks[0] < 50_000, peaks


def test_file_events_keep_each_item_as_their_raw_payload() -> None:
    """Pretty-printed and compact items alike: each event's raw payload is its whole item."""
    first = '{ "email": "ana@gmail.com", "timestamp": 1718000000,\n  "event": "delivered",'
    first += ' "sg_event_id": "e1", "category": ["a", "b"] }'
    second = '{"email":"bo@yahoo.com","timestamp":1718000001,"event":"open","sg_event_id":"e2"}'
    data = f"[{first} ,\n {second}]\n{second.replace('e2', 'e3')}\n".encode()
    source = plain_source("sendgrid")
    events = list(get_provider("sendgrid").iter_file(io.BytesIO(data), source))
    assert [e.raw for e in events] == [
        json.loads(first),
        json.loads(second),
        json.loads(second.replace("e2", "e3")),
    ]


def test_generic_events_without_an_id_keep_their_text_and_are_hashed_as_before() -> None:
    line = '{"type": "sent", "timestamp": "2024-06-10T06:13:20Z", "recipient": "ana@gmail.com"}'
    (event,) = get_provider("generic").iter_file(io.BytesIO(line.encode()), plain_source("generic"))
    assert event.raw == json.loads(line)
    canonical = json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    assert event.event_id == f"generic:sha256:{digest}"
