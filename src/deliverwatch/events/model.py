"""The normalized sending event every ESP's payload becomes.

:class:`Event` is a slots dataclass that is *not* frozen: a frozen dataclass sets each of its
17 fields through ``object.__setattr__``, which made building one cost as much as parsing its
JSON, a fifth of a file ingest's time. Its ``__init__`` is written out for the compiler (see
the class). Treat events as immutable all the same: a producer
(a provider's parser) may fill ``raw_json`` or ``raw_at`` before it hands an event out, and
nothing changes an event after that. Events hash and compare by value, as frozen ones did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import orjson


class EventType(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"


class BounceClass(StrEnum):
    """Why a bounce happened, which decides what to do about the recipient.

    ``hard``: the address does not exist (suppress); ``soft``: a temporary failure;
    ``block``: a policy, spam or reputation rejection (fix the sending, not the list);
    ``mailbox_full``: over quota; ``undetermined``: not enough information.
    """

    HARD = "hard"
    SOFT = "soft"
    BLOCK = "block"
    MAILBOX_FULL = "mailbox_full"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True, slots=True, eq=False)
class RawItems:
    """Events' raw payloads as they were received, in an array: ``joined`` is their JSON texts
    separated by commas (the inside of the array), ``count`` how many there are, ``oldest``
    the time of the oldest of their events (an array with a payload older than the store
    keeps is not stored)."""

    joined: bytes | memoryview
    count: int
    oldest: datetime

    @classmethod
    def of(cls, text: bytes, values: list[Any], oldest: datetime) -> RawItems | None:
        """The items of ``text``, a JSON array whose decoded items are ``values``, whitespace
        around it allowed; None for anything else, or an empty array."""
        if not values:
            return None
        text = text.strip(b" \t\r\n")  # the same object when there is nothing to strip
        if text[:1] == b"[" and text[-1:] == b"]":
            return cls(memoryview(text)[1:-1], len(values), oldest)
        return None


@dataclass(slots=True, unsafe_hash=True, init=False)  # unsafe_hash: immutable by convention
class Event:
    event_id: str
    provider: str
    type: EventType
    timestamp: datetime  # timezone-aware, UTC
    recipient: str
    recipient_domain: str
    mailbox_provider: str
    sending_domain: str | None
    message_id: str | None
    bounce_class: BounceClass | None
    smtp_status: str | None
    diagnostic: str | None
    tags: tuple[str, ...]
    campaign: str | None
    ip: str | None
    raw: dict[str, Any] = field(compare=False)
    #: ``raw`` as JSON text when the producer has it already (the canonical form hashed for an
    #: id): the store's raw block takes it instead of serializing ``raw`` again.
    raw_json: str | bytes | None = field(compare=False, repr=False)
    #: Where ``raw`` is in the text the producer read: item N of the items of a file's line or
    #: a request's body, as received. The raw block takes their text as it is, a copy, where
    #: serializing ``raw`` again cost ~5,000 instructions an event.
    raw_at: tuple[RawItems, int] | None = field(compare=False, repr=False)

    # Written out rather than generated (init=False): compiled (setup.py), this one runs as
    # native code, where the dataclass's own stays interpreted Python, 6,000 instructions.
    def __init__(
        self,
        event_id: str,
        provider: str,
        type: EventType,
        timestamp: datetime,
        recipient: str,
        recipient_domain: str,
        mailbox_provider: str,
        sending_domain: str | None = None,
        message_id: str | None = None,
        bounce_class: BounceClass | None = None,
        smtp_status: str | None = None,
        diagnostic: str | None = None,
        tags: tuple[str, ...] = (),
        campaign: str | None = None,
        ip: str | None = None,
        raw: dict[str, Any] | None = None,
        raw_json: str | bytes | None = None,
        raw_at: tuple[RawItems, int] | None = None,
    ) -> None:
        self.event_id = event_id
        self.provider = provider
        self.type = type
        self.timestamp = timestamp
        self.recipient = recipient
        self.recipient_domain = recipient_domain
        self.mailbox_provider = mailbox_provider
        self.sending_domain = sending_domain
        self.message_id = message_id
        self.bounce_class = bounce_class
        self.smtp_status = smtp_status
        self.diagnostic = diagnostic
        self.tags = tags
        self.campaign = campaign
        self.ip = ip
        self.raw = {} if raw is None else raw
        self.raw_json = raw_json
        self.raw_at = raw_at

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # pickle and copy rebuild an event through __init__: a compiled class (setup.py) has
        # no other way to fill its fields.
        return (
            Event,
            (
                self.event_id,
                self.provider,
                self.type,
                self.timestamp,
                self.recipient,
                self.recipient_domain,
                self.mailbox_provider,
                self.sending_domain,
                self.message_id,
                self.bounce_class,
                self.smtp_status,
                self.diagnostic,
                self.tags,
                self.campaign,
                self.ip,
                self.raw,
                self.raw_json,
                self.raw_at,
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "provider": self.provider,
            "type": self.type.value,
            "timestamp": self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "recipient": self.recipient,
            "recipient_domain": self.recipient_domain,
            "mailbox_provider": self.mailbox_provider,
            "sending_domain": self.sending_domain,
            "message_id": self.message_id,
            "bounce_class": self.bounce_class.value if self.bounce_class else None,
            "smtp_status": self.smtp_status,
            "diagnostic": self.diagnostic,
            "tags": list(self.tags),
            "campaign": self.campaign,
            "ip": self.ip,
        }


def stable_event_id(provider: str, payload: dict[str, Any]) -> str:
    """An id for ESPs that give none: the same payload retried gets the same id."""
    return hashed_event_id(provider, canonical_json_bytes(payload))


def canonical_json(payload: dict[str, Any]) -> str:
    """The payload's JSON text with sorted keys and no spaces: what :func:`stable_event_id`
    hashes, and a faithful ``raw_json`` for the payload.

    The text is :data:`_CANONICAL`'s to the byte, always: stored ids were made from it, and an
    id that changed would store a re-imported event twice. orjson makes the same text eight
    times faster when the payload holds no float (Python writes ``1e+16``, orjson ``1e16``)
    and the text is printable ASCII (Python escapes the rest as ``\\uXXXX``); anything else
    goes to :mod:`json`. A property test holds the two to the same bytes."""
    return canonical_json_bytes(payload).decode()


def canonical_json_bytes(payload: dict[str, Any]) -> bytes:
    """:func:`canonical_json` as bytes (ASCII), which is what is hashed and stored: a file
    of ids made by hash spent a decode and an encode an event on the text as ``str``."""
    if not _has_float(payload):
        try:
            text = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError: past 64-bit integers, keys not strings
            pass
        else:
            if text.isascii() and b"\x7f" not in text:
                return text
    return _CANONICAL(payload).encode()


# What json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str) does, without
# building an encoder per call.
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


#: The types of the JSON values that are not a float or a container.
_PLAIN: Final = frozenset({str, int, bool, type(None)})


def _has_float(payload: Any) -> bool:
    """Whether ``payload`` holds a float, or anything else a JSON decoder does not make.

    A payload is mostly strings and numbers at its top level: a plain loop over them costs
    half the instructions of the walk below (6.3k against 11.3k for a generic JSON line);
    nested containers are walked without recursion, however deep."""
    for value in payload.values() if type(payload) is dict else (payload,):
        kind = type(value)
        if kind is str or kind is int or value is None or kind is bool:
            continue
        if kind is list and _PLAIN.issuperset(map(type, value)):
            continue  # tags and the like: a list of strings, checked in C
        if (kind is dict or kind is list) and not _walk_has_float(value):
            continue
        return True
    return False


def _walk_has_float(payload: Any) -> bool:
    """:func:`_has_float` of any value, with a stack of its own: no recursion, however deep."""
    pending: list[Any] = [payload]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            pending.extend(value.values())
        elif kind is list:
            pending.extend(value)
        elif not (kind is str or kind is int or kind is bool or value is None):
            return True
    return False


def hashed_event_id(provider: str, canonical: str | bytes) -> str:
    """:func:`stable_event_id` from the payload's :func:`canonical_json` (or its bytes),
    already made."""
    digest = _SHA256.copy()
    digest.update(canonical.encode() if isinstance(canonical, str) else canonical)
    return f"{provider}:sha256:{digest.hexdigest()[:32]}"


# Copied for each id: OpenSSL 3 looks the algorithm up again for every new hash object,
# which cost as much as hashing a payload (0.7 against 1.2 µs an id, measured).
_SHA256: Final = hashlib.sha256()
