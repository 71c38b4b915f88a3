"""Events to rows: the part of storing events that needs no database, no SQLAlchemy and no
connection, so a reader process can do it for a file import (``events.reader``) and start fast.

Everything here is plain data: a :class:`Batch` holds tuples of strings and numbers as the
driver takes them, rollup counts and the per-event follow-ups (first opens and clicks,
suppressions) that ``store.events.EventWriter`` stores once it knows which rows were new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from json import JSONEncoder
from json import dumps as json_dumps
from math import floor
from operator import itemgetter
from typing import Any, Final, Literal

import orjson
import zstandard

from deliverwatch.events.model import BounceClass, Event, EventType, RawItems

#: Why an event suppresses its recipient (``store.suppressions`` adds ``manual``).
SuppressionReason = Literal["hard_bounce", "complaint", "unsubscribe"]

MINUTE: Final = 60
#: (sending domain, mailbox provider, provider, event type, bounce class): a rollup series.
Series = tuple[str, str, str, str, str]
#: Events per round of statements: big enough to amortize statement overhead and to collapse
#: rollup increments, small enough to bound memory on a huge file.
BATCH_SIZE: Final = 10_000
ENGAGEMENTS: Final = frozenset({EventType.OPENED, EventType.CLICKED})  # counted once per message
NOTABLE: Final = {
    EventType.OPENED,
    EventType.CLICKED,
    EventType.BOUNCED,
    EventType.COMPLAINED,
    EventType.UNSUBSCRIBED,
}
#: Enum member → plain str for the driver (a dict lookup is cheaper than ``.value``, and
#: psycopg would dump an Enum by its name).
VALUE: Final[dict[EventType | BounceClass, str]] = {
    member: member.value for enum in (EventType, BounceClass) for member in enum
}
_CACHE_LIMIT: Final = 4096  # entries of the tags and minute caches of one ingest
#: A minute's second as its row time spells it ("07."): one format fewer an event.
_SECONDS_TEXT: Final = tuple(f"{second:02d}." for second in range(MINUTE))
#: Below 2**33 seconds from the epoch (the years 1698 to 2242) a float's step is at most
#: 2**-20 s, under a microsecond, so ``floor(at.timestamp())`` is the exact second. Far
#: enough past it a time ending in .999999 rounds up into the next second (from 2514 on;
#: the year 9999's last second into 10000), so there the second is counted exactly.
_FLOAT_EXACT: Final = float(2**33)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND: Final = timedelta(seconds=1)

#: (provider, message key, kind): the key of a first-open (first-click) marker.
MarkerKey = tuple[str, str, str]


def sqlite_time(moment: datetime) -> str:
    """A UTC datetime in SQLAlchemy's SQLite storage format."""
    return moment.isoformat(" ", "microseconds")[:26]


#: Payloads serialized per call: one orjson call for many is a third of the cost of one
#: each (measured: 1 against 3 µs an event), and only this many decoded payloads stay alive
#: until serialized, not a batch's 10,000 for the garbage collector to traverse.
RAW_CHUNK: Final = 256


def encode_items(raws: list[Any]) -> bytes | memoryview:
    """Payloads as JSON texts separated by commas: each an ``Event.raw`` dict, or an
    ``orjson.Fragment`` of its ``raw_json`` (the text as received, put in as it is)."""
    try:
        return memoryview(orjson.dumps(raws))[1:-1]
    except TypeError:  # orjson.JSONEncodeError: a payload only json decodes (see below)
        return b",".join(map(_encode_one, raws))


def _encode_one(raw: Any) -> bytes:
    """One payload, as orjson writes it; by :mod:`json` when it holds what orjson refuses and
    only :mod:`json` reads (integers past 64 bits, lone surrogates: ``jsonfields.load_json``
    accepts them, as valid JSON). ``store.rawblocks.unpack`` reads such a block with it too."""
    try:
        return orjson.dumps(raw)
    except TypeError:
        return _JSON_TEXT(raw).encode()


_JSON_TEXT: Final = JSONEncoder(separators=(",", ":")).encode  # ASCII: surrogates escaped


def join_items(parts: list[bytes | memoryview]) -> bytes:
    """The JSON array of the items of ``parts`` (each comma-separated JSON texts, none
    empty), in order."""
    return b"[" + b",".join(parts) + b"]"


#: The codec of the raw blocks made here (``store.rawblocks`` reads older ones too).
BLOCK_CODEC: Final = "json+zstd"
#: zstd level 1 on a batch of SendGrid payloads (measured): 14% of the size at 0.7 µs an
#: event, where zlib took 3.1 µs for 19% (level 1) or 6.9 µs for 15% (level 6).
BLOCK_LEVEL: Final = 1


def compress_block(array: bytes) -> bytes:
    """A raw block as stored (:data:`BLOCK_CODEC`: a zstd frame that records its size)."""
    # A compressor per block: they are not to be shared between threads, and cost ~10 µs.
    return zstandard.ZstdCompressor(level=BLOCK_LEVEL).compress(array)


@dataclass(slots=True)
class Batch:
    """What one batch of events becomes before it is stored: only flat tuples of strings and
    numbers. The events themselves are dropped as their rows are made, so a batch does not keep
    10,000 events and their payloads alive, which the cyclic garbage collector would traverse
    again and again (that cost more than building the events)."""

    size: int = 0  # events consumed
    expired: int = 0
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: Rollup counts, assuming every row is new: series → minute → events.
    counts: dict[Series, dict[int, int]] = field(default_factory=dict)
    #: Opens and clicks: (provider, event_id) → (marker key, Unix second, that second as the
    #: driver takes it, domain, mailbox provider).
    engagements: dict[tuple[str, str], tuple[MarkerKey, int, Any, str, str]] = field(
        default_factory=dict
    )
    #: Suppressing events: (provider, event_id) → (recipient, domain, reason, time).
    suppressing: dict[tuple[str, str], tuple[str, str, SuppressionReason, datetime]] = field(
        default_factory=dict
    )
    #: The rows' raw payloads (a JSON array: ``join_items``), and the newest row's time.
    raw_block: bytes | None = None
    raw_compressed: bool = False  # raw_block is compress_block()'s already
    raw_items: int = 0
    last_epoch: int = 0

    def to_wire(self) -> tuple[Any, ...]:
        """The batch as plain values ``marshal`` writes, for a reader process to send: marshal
        writes and reads these tuples, strings and numbers in about half the instructions
        pickle takes (3,200 against 6,200 an event to write; the storing side's read is the
        busier one, and gains 600). Both ends are the same interpreter, as marshal needs."""
        suppressing = {
            key: (recipient, domain, reason, at.isoformat())
            for key, (recipient, domain, reason, at) in self.suppressing.items()
        }
        return (
            self.size,
            self.expired,
            self.rows,
            self.counts,
            self.engagements,
            suppressing,
            self.raw_block,
            self.raw_compressed,
            self.raw_items,
            self.last_epoch,
        )

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...]) -> Batch:
        """The batch :meth:`to_wire` gave."""
        size, expired, rows, counts, engagements, suppressing, *raw = wire
        suppressing = {
            key: (recipient, domain, reason, datetime.fromisoformat(at))
            for key, (recipient, domain, reason, at) in suppressing.items()
        }
        return cls(size, expired, rows, counts, engagements, suppressing, *raw)


class RowMaker:
    """Events to batches of rows as the driver takes them: the part of an ingest that needs
    no connection, so it can run in another process (``store.bulk``)."""

    def __init__(
        self,
        events_from: int | None,
        time: Callable[[datetime], Any] = sqlite_time,
        json: Callable[[Any], Any] = json_dumps,
        *,
        compress: bool = False,
    ) -> None:
        """``events_from``: the raw-event horizon (Unix seconds; older events are refused);
        ``time`` and ``json``: what the driver takes for a time and a JSON value (by default
        SQLite's, as SQLAlchemy makes them: a test checks they agree). ``compress``: compress
        the raw block here rather than in the writer (whichever side has time to spare)."""
        self.compress = compress
        self.events_from = events_from
        self.horizon = datetime.fromtimestamp(events_from, UTC) if events_from is not None else None
        self.time = time
        self.json = json
        self.tags: dict[tuple[str, ...], Any] = {}  # serialized tags: most events share a few
        self.minute_texts: dict[int, str] = {}  # minute → its SQLite time text prefix
        #: A whole second's datetime → (Unix second, its minute, its time as the driver takes it).
        self.second_texts: dict[datetime, tuple[int, int, Any]] = {}

    def batches(self, new_events: Iterable[Event], batch_size: int = BATCH_SIZE) -> Iterator[Batch]:
        iterator = iter(new_events)
        while (batch := self.prepare(islice(iterator, batch_size))).size:
            yield batch

    def prepare(self, new_events: Iterable[Event]) -> Batch:
        """Rows, rollup counts and per-event follow-ups of a batch. The loop is flat on
        purpose: at 100,000 events a second every attribute lookup and call per event shows."""
        batch = Batch()
        horizon = self.horizon
        horizon_epoch = self.events_from if self.events_from is not None else -(2**63)
        to_driver, json, tags_json = self.time, self.json, self.tags
        # SQLite text times, made from a per-minute prefix: isoformat() costs more than the
        # rest of the row (see sqlite_time for the format).
        minute_texts = self.minute_texts if to_driver is sqlite_time else None
        second_texts = self.second_texts
        exact_from, exact_to = -_FLOAT_EXACT, _FLOAT_EXACT
        for cache in (tags_json, self.minute_texts, second_texts):
            if len(cache) > _CACHE_LIMIT:  # bounded: a file may tag every message differently
                cache.clear()
        rows, counts = batch.rows, batch.counts
        engagements, suppressing = batch.engagements, batch.suppressing
        parts: list[bytes | memoryview] = []  # the block's items, in comma-separated runs
        raws: list[Any] = []  # payloads not serialized yet
        received: RawItems | None = None  # the last payloads as received put in parts
        first = 0  # the raw index of received's first item
        size = expired = last_epoch = raw_items = 0
        # Duplicates within the batch are left to the database: they make it store fewer rows.
        for event in new_events:
            size += 1
            at = event.timestamp
            if at.tzinfo is not UTC:
                at = _utc(at)
            if not at.microsecond and (known := second_texts.get(at)) is not None:
                # Most ESPs send whole seconds, and parsers share a datetime per second: many
                # events share each one, and its Unix time and text. (Only whole seconds are
                # kept: hashing a time with a fraction, to miss, cost as much as the lookup.)
                epoch, minute, when = known
            else:
                stamp = at.timestamp()  # unix_second(at), inline: a call an event counts here
                exact = exact_from < stamp < exact_to
                epoch = floor(stamp) if exact else (at - _EPOCH) // _SECOND
                minute = epoch - epoch % MINUTE
                if minute_texts is None:
                    when = to_driver(at)
                else:
                    if (prefix := minute_texts.get(minute)) is None:
                        prefix = minute_texts[minute] = sqlite_time(at)[:17]  # "2025-03-10 12:30:"
                    when = f"{prefix}{_SECONDS_TEXT[epoch - minute]}{at.microsecond:06d}"
                if not at.microsecond:
                    second_texts[at] = (epoch, minute, when)
            if epoch < horizon_epoch:  # whole seconds: the horizon is one
                expired += 1
                continue
            provider, event_id, kind = event.provider, event.event_id, event.type
            if epoch > last_epoch:
                last_epoch = epoch
            kind_value = VALUE[kind]
            bounce_class = event.bounce_class
            class_value = VALUE[bounce_class] if bounce_class else None
            tags = event.tags
            tags_value = None
            if tags and (tags_value := tags_json.get(tags)) is None:
                tags_value = tags_json[tags] = json(list(tags))
            raw_index = None
            if event.raw:
                where = event.raw_at  # as received: its array's text, once
                if where is not None and where[0] is not received:
                    if horizon is not None and where[0].oldest < horizon:
                        where = None  # the array holds a payload older than the store keeps
                    else:
                        if raws:
                            parts.append(encode_items(raws))
                            raws.clear()
                        received, first = where[0], raw_items
                        parts.append(received.joined)
                        raw_items += received.count
                if where is not None:
                    raw_index = first + where[1]
                else:
                    raw_index = raw_items
                    raw_items += 1
                    raw_json = event.raw_json
                    raws.append(event.raw if raw_json is None else orjson.Fragment(raw_json))
                    if len(raws) == RAW_CHUNK:
                        parts.append(encode_items(raws))
                        raws.clear()
            sending_domain, mailbox_provider = event.sending_domain, event.mailbox_provider
            rows.append(
                (
                    provider,
                    event_id,
                    kind_value,
                    when,
                    event.recipient,
                    event.recipient_domain,
                    mailbox_provider,
                    sending_domain,
                    event.message_id,
                    class_value,
                    event.smtp_status,
                    event.diagnostic,
                    tags_value,
                    event.campaign,
                    event.ip,
                    raw_index,
                )
            )
            domain = sending_domain or ""
            series = (domain, mailbox_provider, provider, kind_value, class_value or "")
            if (counted := counts.get(series)) is None:
                counted = counts[series] = {}
            counted[minute] = counted.get(minute, 0) + 1
            if kind in NOTABLE:
                key = (provider, event_id)
                if kind in ENGAGEMENTS:
                    if key not in engagements:
                        marker = (provider, event.message_id or _message_key(event), kind_value)
                        if minute_texts is None:
                            second = to_driver(datetime.fromtimestamp(epoch, UTC))
                        else:  # the row's SQLite text, to the whole second
                            second = when if not at.microsecond else f"{when[:19]}.000000"
                        engagements[key] = (marker, epoch, second, domain, mailbox_provider)
                elif (reason := _suppression_reason(event)) and key not in suppressing:
                    suppressing[key] = (event.recipient, domain, reason, at)
        batch.size, batch.expired, batch.last_epoch = size, expired, last_epoch
        # In the order of their event ids. Ids are random, so in arrival order each row lands
        # on another page of the unique index, (provider, event_id); in id order a batch's
        # inserts walk it from one end to the other (measured: 10-15% less time in SQLite's
        # executemany of a 10,000-event batch). A batch nearly always has one provider:
        # sorting by the id alone costs half as much as by the pair. The sort is stable: of
        # two rows with one key, the first given stays first, and is the one stored.
        rows.sort(key=_EVENT_ID)
        if raws:
            parts.append(encode_items(raws))
        if parts:
            block = join_items(parts)
            if self.compress:
                block, batch.raw_compressed = compress_block(block), True
            batch.raw_block, batch.raw_items = block, raw_items
        return batch


_EVENT_ID: Final = itemgetter(1)  # see store.events.EVENT_COLUMNS


def minute_of(when: Any) -> int:
    """The minute bucket (Unix seconds) of a row's time as the driver takes it: SQLite's text
    (``2025-03-10 12:30:15.000000``, UTC) or a timezone-aware datetime (``RowMaker`` makes
    either; a naive one would be read as local time)."""
    moment: datetime = (
        datetime.fromisoformat(when[:16]).replace(tzinfo=UTC) if isinstance(when, str) else when
    )
    epoch = unix_second(moment)
    return epoch - epoch % MINUTE


def unix_second(moment: datetime) -> int:
    """The whole Unix second of an aware datetime, exactly (see :data:`_FLOAT_EXACT`;
    ``RowMaker.prepare`` has this inline)."""
    stamp = moment.timestamp()
    return floor(stamp) if -_FLOAT_EXACT < stamp < _FLOAT_EXACT else (moment - _EPOCH) // _SECOND


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _message_key(event: Event) -> str:
    """What makes an open or click unique: the message, or without a message id (rare) the
    recipient on that UTC day."""
    if event.message_id:
        return event.message_id
    return f"rcpt:{event.recipient.strip().lower()}:{_utc(event.timestamp).date().isoformat()}"


def _suppression_reason(event: Event) -> SuppressionReason | None:
    if event.type is EventType.BOUNCED and event.bounce_class is BounceClass.HARD:
        return "hard_bounce"
    if event.type is EventType.COMPLAINED:
        return "complaint"
    if event.type is EventType.UNSUBSCRIBED:
        return "unsubscribe"
    return None
