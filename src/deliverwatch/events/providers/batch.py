"""The common shape of most ESP payloads: a batch of independent items, each 0..n events.

:class:`BatchProvider` turns that shape into the :class:`Provider` interface once: ``parse()``
is all-or-nothing over the items of a request, ``iter_file()`` streams the items of a saved
file. A provider module then only says how one item becomes events (``item_events``), and
builds them with :func:`build_event`, which derives the recipient domain, mailbox provider,
sending domain and a stable id the same way for every ESP.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from itertools import chain
from operator import attrgetter, is_
from typing import IO, Any, ClassVar, Final

import orjson
from mypy_extensions import mypyc_attr

from deliverwatch.events.mailbox import domain_of, mailbox_provider, split_address
from deliverwatch.events.model import (
    BounceClass,
    Event,
    EventType,
    RawItems,
    canonical_json_bytes,
    hashed_event_id,
)
from deliverwatch.events.providers.base import (
    Parsed,
    PayloadError,
    Provider,
    SourceSettings,
    WebhookRequest,
)
from deliverwatch.events.providers.jsonfields import BOM, load_json
from deliverwatch.events.providers.jsonstream import iter_chunks, iter_json_lines

#: "item 0", "item 1", …: the locations of a request's items, made once (a batch of 500
#: would otherwise format 500 strings that only an error message reads).
_WHERE_COUNT: Final = 1024
_WHERE: Final = [f"item {index}" for index in range(_WHERE_COUNT)]


# Compiled (setup.py); providers that stay plain Python derive from it too.
@mypyc_attr(allow_interpreted_subclasses=True)
class BatchProvider(Provider):
    """A provider whose request body holds items (a JSON array, or one JSON object)."""

    #: Whether :meth:`items` is this class's own, so the body's text is the items' (set for
    #: each subclass: one that reads its items elsewhere, a form field or an envelope, cannot
    #: give their text as received).
    _items_are_the_body: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._items_are_the_body = cls.items is BatchProvider.items

    def items(self, request: WebhookRequest) -> list[Any]:
        """The items of a request body; by default a JSON array, or one object as one item."""
        return self._body_items(request)[0]

    def _body_items(self, request: WebhookRequest) -> tuple[list[Any], bytes | None]:
        """:meth:`items` and the body's text, when orjson read it (a text only :mod:`json`
        reads may hold lone surrogates, mended in the items but not in the text)."""
        body = request.body.removeprefix(BOM)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = load_json(body)  # the error named, or what orjson is stricter about
            return (data if isinstance(data, list) else [data]), None
        return (data if isinstance(data, list) else [data]), body

    @abstractmethod
    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        """The events of one item (``[]`` for kinds not tracked); ``request`` is None in files."""

    def parse(self, request: WebhookRequest, source: SourceSettings) -> Parsed:
        item_events = self.item_events
        if self._items_are_the_body:
            items, text = self._body_items(request)
        else:
            items, text = self.items(request), None
        found = [  # "item N" inline: a call per item costs more than the parse's own work
            item_events(item, source, _WHERE[n] if n < _WHERE_COUNT else f"item {n}", request)
            for n, item in enumerate(items)
        ]
        if text is not None:
            point_at_text(text, items, found)
        return Parsed([event for events in found for event in events])

    def iter_file(self, stream: IO[bytes], source: SourceSettings) -> Iterator[Event]:
        """Items of a file: saved bodies (arrays, JSON lines of arrays) or JSON lines of items."""
        # The generator itself, not ``yield from`` it: a generator a level less per event.
        return self.line_events(iter_json_lines(iter_chunks(stream)), source)

    def line_events(
        self,
        lines: Iterable[tuple[int, int, list[Any], bytes | None]],
        source: SourceSettings,
        request: WebhookRequest | None = None,
    ) -> Iterator[Event]:
        """The events of lines of JSON as ``iter_json_lines`` reads them (a file's, or a
        request's of JSON lines)."""
        item_events = self.item_events
        for first, line, items, text in lines:
            # No locations: formatting one an item cost more than reading its fields.
            if len(items) == 1:  # JSON lines: a value a line, its payload serialized as before
                try:
                    events = item_events(items[0], source, "", request)
                except PayloadError:
                    events = self._located_events(items, first, line, source, request)[0]
                yield from events
                continue
            try:
                found = [item_events(item, source, "", request) for item in items]
            except PayloadError:
                found = self._located_events(items, first, line, source, request)
            if text is not None:
                point_at_text(text, items, found)
            yield from chain.from_iterable(found)

    def _located_events(
        self,
        items: list[Any],
        first: int,
        line: int,
        source: SourceSettings,
        request: WebhookRequest | None,
    ) -> list[list[Event]]:
        """The events of a line's items read again, each with its location ("item 7 (line
        3)"): parsing is deterministic, so the error that stopped the first reading is raised
        again, now naming its item."""
        return [
            self.item_events(item, source, f"item {first + index} (line {line})", request)
            for index, item in enumerate(items)
        ]


def point_at_text(text: bytes, items: list[Any], found: list[list[Event]]) -> None:
    """Point events at their payloads' text as received (``Event.raw_at``) when ``text`` is
    the JSON array of ``items`` and every item is the payload itself of one of its events
    (``found[i]``: the events of item ``i``).

    Otherwise the events keep their payloads to be serialized: a raw block holding the array
    would hold what no row points at (a kind not tracked, an item whose event's payload is
    only a part of it), as much of it as a line may hold. Payloads older than the store's
    raw-event horizon are refused where the rows are made (``RawItems.oldest``)."""
    if not items:
        return
    events = list(chain.from_iterable(found))
    if len(events) == len(items) and all(map(is_, map(_RAW, events), items)):
        indexes: Iterable[int] = range(len(items))  # an event an item: the usual case, in C
    else:
        events, indexes = _payload_events(items, found)
        if not events:
            return
    try:
        oldest = min(map(_TIMESTAMP, events))
    except TypeError:  # naive and aware times: a producer's bug, not ours to resolve here
        return
    raws = RawItems.of(text, items, oldest)
    if raws is not None:
        for event, index in zip(events, indexes, strict=True):
            event.raw_at = (raws, index)


def _payload_events(items: list[Any], found: list[list[Event]]) -> tuple[list[Event], list[int]]:
    """The events whose payload is their item itself, with the item's index; none unless
    every item has at least one."""
    events: list[Event] = []
    indexes: list[int] = []
    for index, item in enumerate(items):
        count = len(events)
        for event in found[index]:
            if event.raw is item:
                events.append(event)
                indexes.append(index)
        if len(events) == count:
            return [], []
    return events, indexes


_TIMESTAMP: Final = attrgetter("timestamp")
_RAW: Final = attrgetter("raw")


def build_event(
    provider: str,
    source: SourceSettings,
    *,
    where: str,
    raw: dict[str, Any],
    type: EventType,
    timestamp: datetime,
    recipient: str | None,
    event_id: str | None = None,
    sender: str | None = None,
    message_id: str | None = None,
    bounce_class: BounceClass | None = None,
    smtp_status: str | None = None,
    diagnostic: str | None = None,
    tags: Iterable[str] = (),
    campaign: str | None = None,
    ip: str | None = None,
) -> Event:
    """An :class:`Event` with the derived fields filled in the same way for every ESP.

    ``sender`` is the From address or domain when the payload has one; otherwise the source's
    configured ``sending_domain`` is used. ``tags``: a tuple is kept as it is, so it must hold
    no repeats (``Fields.tags`` makes such tuples); repeats are dropped from any other
    iterable. Without ``event_id`` the id is a hash of ``raw``
    (whose canonical JSON, made for the hash, becomes ``raw_json``).
    """
    split = split_address(recipient) if recipient else None
    if split is None:
        problem = "is not an email address" if recipient else "is missing"
        raise PayloadError(f"{where}: the recipient {problem}")
    address, domain = split
    raw_json = None
    if not event_id:
        raw_json = canonical_json_bytes(raw)
        event_id = hashed_event_id(provider, raw_json)
    return Event(  # positionally, in field order: keywords cost a dict per event
        event_id,
        provider,
        type,
        timestamp,
        address,
        domain,
        mailbox_provider(domain),
        (sender and sending_domain_of(sender)) or source.sending_domain,
        message_id,
        bounce_class,
        smtp_status,
        diagnostic,
        tags if isinstance(tags, tuple) else tuple(dict.fromkeys(tags)),
        campaign,
        ip,
        raw,
        raw_json,
    )


@lru_cache(maxsize=4096)  # a file or a source has a few senders, repeated on every event
def sending_domain_of(sender: str) -> str | None:
    """The domain of a From address, or a bare domain name; None when it is neither."""
    return domain_of(sender) or _bare_domain(sender)


def _bare_domain(value: str) -> str | None:
    value = value.strip().rstrip(".").lower()
    if value and "@" not in value and "." in value and not any(c.isspace() for c in value):
        return value
    return None
