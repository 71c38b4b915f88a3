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
from typing import IO, Any

import orjson

from deliverwatch.events.mailbox import domain_of, mailbox_provider, split_address
from deliverwatch.events.model import (
    BounceClass,
    Event,
    EventType,
    RawItems,
    canonical_json,
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
_WHERE_COUNT = 1024
_WHERE = [f"item {index}" for index in range(_WHERE_COUNT)]


class BatchProvider(Provider):
    """A provider whose request body holds items (a JSON array, or one JSON object)."""

    #: Whether :meth:`items` is this class's own, so the body's text is the items' (set for
    #: each subclass: one that reads its items elsewhere, a form field or an envelope, cannot
    #: give their text as received).
    _items_are_the_body = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._items_are_the_body = cls.items is BatchProvider.items

    def items(self, request: WebhookRequest) -> list[Any]:
        """The items of a request body; by default a JSON array, or one object as one item."""
        return self._body_items(request)[0]

    def _body_items(self, request: WebhookRequest) -> tuple[list[Any], RawItems | None]:
        """:meth:`items` and their text as received, when orjson reads them (what only
        :mod:`json` reads, orjson could not read back from the raw block)."""
        body = request.body.removeprefix(BOM)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = load_json(body)  # the error named, or what orjson is stricter about
            return (data if isinstance(data, list) else [data]), None
        items = data if isinstance(data, list) else [data]
        return items, RawItems.of(body, items)

    @abstractmethod
    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        """The events of one item (``[]`` for kinds not tracked); ``request`` is None in files."""

    def parse(self, request: WebhookRequest, source: SourceSettings) -> Parsed:
        events: list[Event] = []
        item_events = self.item_events
        if self._items_are_the_body:
            items, raws = self._body_items(request)
        else:
            items, raws = self.items(request), None
        for index, item in enumerate(items):
            where = _WHERE[index] if index < _WHERE_COUNT else f"item {index}"
            found = item_events(item, source, where, request)
            if raws is not None:
                point_at(found, item, raws, index)
            events += found
        return Parsed(events)

    def iter_file(self, stream: IO[bytes], source: SourceSettings) -> Iterator[Event]:
        """Items of a file: saved bodies (arrays, JSON lines of arrays) or JSON lines of items."""
        yield from self.line_events(iter_json_lines(iter_chunks(stream)), source)

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
            if len(items) == 1:
                # JSON lines, a value a line: its payload is serialized as before (for one
                # item, pointing at the line's text cost more than it saved).
                where = f"item {first} (line {line})"
                yield from item_events(items[0], source, where, request)
                continue
            raws = RawItems.of(text, items) if text is not None else None
            for index, item in enumerate(items):
                where = f"item {first + index} (line {line})"
                found = item_events(item, source, where, request)
                if raws is not None:
                    for event in found:  # point_at, inline: this runs for every event
                        if event.raw is item:
                            event.raw_at = (raws, index)
                yield from found


def point_at(events: list[Event], item: Any, raws: RawItems, index: int) -> None:
    """Point the events whose payload is ``item`` itself, item ``index`` of ``raws``, at its
    text (``Event.raw_at``), before they are handed out. An event whose payload is a part of
    the item, or something made from it, keeps its payload to be serialized."""
    for event in events:
        if event.raw is item:
            event.raw_at = (raws, index)


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
    configured ``sending_domain`` is used. Without ``event_id`` the id is a hash of ``raw``
    (whose canonical JSON, made for the hash, becomes ``raw_json``).
    """
    split = split_address(recipient) if recipient else None
    if split is None:
        problem = "is not an email address" if recipient else "is missing"
        raise PayloadError(f"{where}: the recipient {problem}")
    address, domain = split
    raw_json = None
    if not event_id:
        raw_json = canonical_json(raw)
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
        # No tag or one: nothing to deduplicate, and the tuple can be kept as it is.
        tags if isinstance(tags, tuple) and len(tags) < 2 else tuple(dict.fromkeys(tags)),
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
