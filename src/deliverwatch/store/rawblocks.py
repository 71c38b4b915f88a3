"""Raw event payloads, kept for audit as one compressed block per stored batch.

An event row points at its payload with ``(raw_block, raw_index)``: item ``raw_index`` of the
JSON array that block ``raw_block`` holds. One block per batch instead of a JSON value per
row: payloads were most of an event row's bytes and half the cost of storing it, and a batch
of them compresses to about a seventh (events of one ESP repeat the same keys and values).
Rows stored before migration 0009 keep their payload in ``events.raw``; :func:`read_event`
reads either.
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
import zstandard
from sqlalchemy.engine import Connection

from deliverwatch.events.rows import BLOCK_CODEC, compress_block
from deliverwatch.store.engine import from_store_time
from deliverwatch.store.schema import event_raw_blocks, events

#: The codec of new blocks: a JSON array in a zstd frame (``events.rows.compress_block``).
#: Blocks stored before it are ``json+zlib``, read as well.
CODEC = BLOCK_CODEC
ZLIB_CODEC = "json+zlib"
#: An integer past 64 bits, maybe, which orjson reads as a float and json exactly: from
#: 2**64 up (twenty digits), and from -2**63 - 1 down (a minus and nineteen). Or digits in a
#: string, or an integer orjson reads well: json reads those as well.
_LONG_DIGITS = re.compile(rb"-[0-9]{19}|[0-9]{20}")
#: A block is refused past this size when read back (a corrupt or hostile row).
MAX_BLOCK_BYTES = 256 << 20


def unpack(codec: str, data: bytes) -> list[Any]:
    """The payloads of a block, decompressed in bounded memory."""
    try:
        if codec == CODEC:
            with zstandard.ZstdDecompressor().stream_reader(data) as reader:
                text = reader.read(MAX_BLOCK_BYTES + 1)
        elif codec == ZLIB_CODEC:
            text = zlib.decompressobj().decompress(data, MAX_BLOCK_BYTES + 1)
        else:
            raise ValueError(f"unknown raw block codec {codec!r}")
    except (zstandard.ZstdError, zlib.error) as exc:
        raise ValueError(f"corrupt raw block ({codec}): {exc}") from None
    if len(text) > MAX_BLOCK_BYTES:
        raise ValueError("raw block larger than MAX_BLOCK_BYTES")
    items = _decode(text)
    if not isinstance(items, list):
        raise ValueError("raw block is not a JSON array")
    return items


def _decode(text: bytes) -> Any:
    """orjson's reading of a block, unless it may hold an integer orjson would read as a
    float, or holds what only json reads (``events.rows._encode_one``): then json's."""
    if not _LONG_DIGITS.search(text):
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(text)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("corrupt raw block: not JSON") from None


def store_block(
    conn: Connection, array: bytes, items: int, last_at: datetime, *, compressed: bool = False
) -> int:
    """Insert a block (``array``: the JSON array of payloads ``events.rows`` makes, or
    ``compress_block`` of it when ``compressed``); its id. ``last_at``: the newest event's
    time (retention deletes the block with it)."""
    data = array if compressed else compress_block(array)
    result = conn.execute(
        sa.insert(event_raw_blocks).values(codec=CODEC, items=items, last_at=last_at, data=data)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the store has it, with its raw payload (None if it had none)."""

    row: dict[str, Any]
    raw: Any

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.row)
        for key in ("occurred_at", "received_at"):
            moment = data.get(key)
            if isinstance(moment, datetime):
                data[key] = from_store_time(moment).isoformat().replace("+00:00", "Z")
        data["raw"] = self.raw
        return data


_SHOWN = [column for column in events.c if column.name not in ("raw", "raw_block", "raw_index")]


def read_event(conn: Connection, provider: str, event_id: str) -> StoredEvent | None:
    """One stored event by its idempotency key, with its payload from whichever place holds
    it."""
    query = sa.select(*_SHOWN, events.c.raw, events.c.raw_block, events.c.raw_index).where(
        events.c.provider == provider, events.c.event_id == event_id
    )
    found = conn.execute(query).mappings().first()
    if found is None:
        return None
    row = {column.name: found[column.name] for column in _SHOWN}
    raw = found["raw"]
    if raw is None and found["raw_block"] is not None and found["raw_index"] is not None:
        block = conn.execute(
            sa.select(event_raw_blocks.c.codec, event_raw_blocks.c.data).where(
                event_raw_blocks.c.id == found["raw_block"]
            )
        ).first()
        if block is not None:
            items = unpack(block.codec, bytes(block.data))
            index = int(found["raw_index"])
            raw = items[index] if 0 <= index < len(items) else None
    return StoredEvent(row=row, raw=raw)
