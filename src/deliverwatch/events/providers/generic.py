"""Events from any source, as JSON lines or CSV whose fields are named like :class:`Event`'s.

For ESPs without a module, exports, and tests. Both formats stream: a 1 GB file is read
with one line (or JSON item) in memory at a time. Fields (docs/providers.md has the table):

* required: ``type`` (an event type name), ``timestamp`` (ISO 8601 or Unix seconds/ms),
  ``recipient``;
* optional: ``event_id`` (else a hash of the record), ``provider`` (else ``generic``),
  ``sending_domain``, ``message_id``, ``bounce_class`` (else classified from ``smtp_status``
  and ``diagnostic`` for bounces and deferrals), ``smtp_status``, ``diagnostic``, ``tags``
  (a JSON array, or one string split on commas), ``campaign``, ``ip``;
* ``recipient_domain`` and ``mailbox_provider`` are always derived; other fields are kept in
  ``raw`` only. Empty CSV cells count as absent.

Over HTTP the body is JSON (an array, one object, or JSON lines) or CSV when the content
type says ``text/csv``; credentials are Basic or bearer, as for the other providers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import IO, Any, Final

from deliverwatch.events.classify import classify
from deliverwatch.events.model import BounceClass, Event, EventType
from deliverwatch.events.providers.base import (
    Parsed,
    PayloadError,
    SourceSettings,
    VerifyContext,
    WebhookRequest,
)
from deliverwatch.events.providers.batch import BatchProvider, build_event
from deliverwatch.events.providers.credentials import check_authorization
from deliverwatch.events.providers.jsonfields import Fields
from deliverwatch.events.providers.jsonstream import (
    CHUNK,
    MAX_ITEM,
    iter_chunks,
    iter_json_lines,
    iter_text,
)

FIELDS: Final = (
    "event_id",
    "provider",
    "type",
    "timestamp",
    "recipient",
    "sending_domain",
    "message_id",
    "bounce_class",
    "smtp_status",
    "diagnostic",
    "tags",
    "campaign",
    "ip",
)
REQUIRED: Final = ("type", "timestamp", "recipient")
# Value → member by a dict lookup: calling an Enum by value is several times slower.
_TYPES: Final = {member.value: member for member in EventType}
_CLASSES: Final = {member.value: member for member in BounceClass}
_CLASSIFIED: Final = (EventType.BOUNCED, EventType.DEFERRED)


def iter_lines(texts: Iterable[str], max_line: int = MAX_ITEM) -> Iterator[str]:
    """Lines ending in ``\\n`` (kept, as :mod:`csv` wants) of streamed text, each bounded.

    Only ``\\n`` ends a line: ``str.splitlines`` would also split on characters such as
    U+2028 that are ordinary data inside a CSV cell.
    """
    pending = ""
    for text in texts:
        pending += text
        start = 0
        while (end := pending.find("\n", start)) != -1:
            yield pending[start : end + 1]
            start = end + 1
        pending = pending[start:]
        if len(pending) > max_line:
            raise PayloadError(f"a line is longer than {max_line} characters")
    if pending:
        yield pending


class Generic(BatchProvider):
    name = "generic"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        check_authorization(request, source)

    def parse(self, request: WebhookRequest, source: SourceSettings) -> Parsed:
        chunks = [request.body]
        if "csv" in request.content_type.lower():
            return Parsed(list(self._csv(chunks, source)))
        return Parsed(list(self.line_events(iter_json_lines(chunks), source, request)))

    def iter_file(self, stream: IO[bytes], source: SourceSettings) -> Iterator[Event]:
        """JSON (lines or arrays) when the first non-blank byte is ``{`` or ``[``, else CSV."""
        chunks = iter_chunks(stream)
        head = b""
        for chunk in chunks:
            head += chunk
            if head.lstrip(b"\xef\xbb\xbf \t\r\n") or len(head) > CHUNK:
                break
        rest = chain([head], chunks)
        if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
            yield from self.line_events(iter_json_lines(rest), source)
        else:
            yield from self._csv(rest, source)

    def _csv(self, chunks: Iterable[bytes], source: SourceSettings) -> Iterator[Event]:
        reader = csv.reader(iter_lines(iter_text(chunks)), strict=True)
        try:
            header = [name.strip().lower() for name in next(reader, [])]
            if missing := [name for name in REQUIRED if name not in header]:
                raise PayloadError(f"CSV header: missing column(s) {', '.join(missing)}")
            for row in reader:
                where = f"line {reader.line_num}"
                if len(row) > len(header):
                    raise PayloadError(f"{where}: more cells than header columns")
                if any(cell.strip() for cell in row):
                    record = {name: cell for name, cell in zip(header, row, strict=False) if cell}
                    yield self._event(Fields(record, where), source)
        except csv.Error as exc:
            raise PayloadError(f"line {reader.line_num}: malformed CSV ({exc})") from None

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        return [self._event(Fields(item, where), source)]

    def _event(self, fields: Fields, source: SourceSettings) -> Event:
        # Every field in two calls: this runs for every line of a file.
        name, label, diagnostic, provider, recipient, sender, ip = fields.opt_texts(
            "type", "bounce_class", "diagnostic", "provider", "recipient", "sending_domain", "ip"
        )
        status, event_id, message_id, campaign = fields.opt_ids(
            "smtp_status", "event_id", "message_id", "campaign"
        )
        name = name or fields.text("type")
        kind = _TYPES.get(name) or _TYPES.get(name.strip().lower())
        if kind is None:
            raise PayloadError(f"{fields.where}: type is not an event type")
        bounce_class = None
        if label:
            bounce_class = _CLASSES.get(label) or _CLASSES.get(label.strip().lower())
            if bounce_class is None:
                raise PayloadError(f"{fields.where}: bounce_class is not a bounce class")
        if bounce_class is None and kind in _CLASSIFIED:
            bounce_class = classify(status, diagnostic)
        tags = fields.get("tags")
        if isinstance(tags, str):
            tag_list: Iterable[str] = [tag.strip() for tag in tags.split(",") if tag.strip()]
        else:
            tag_list = fields.tags("tags")
        return build_event(
            provider or self.name,
            source,
            where=fields.where,
            raw=fields.data,
            type=kind,
            timestamp=fields.time("timestamp"),
            recipient=recipient or fields.text("recipient"),
            event_id=event_id,
            sender=sender,
            message_id=message_id,
            bounce_class=bounce_class,
            smtp_status=status,
            diagnostic=diagnostic,
            tags=tag_list,
            campaign=campaign,
            ip=ip,
        )


PROVIDER = Generic()
