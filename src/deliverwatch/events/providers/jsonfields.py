"""Typed reads of untrusted JSON whose errors name the item and field, never the value.

Every provider reads payloads through :class:`Fields`, so a wrong type anywhere becomes a
:class:`PayloadError` such as ``item 3: msg.email must be a string, got a number`` instead of a
``TypeError`` deep in a parser. Values are not echoed: they may hold addresses or tokens.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from deliverwatch.events.providers.base import PayloadError

#: Numeric timestamps above this are milliseconds (1e11 seconds is the year 5138).
MILLISECONDS_ABOVE: Final = 1e11


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


BOM: Final = "\ufeff".encode()


def load_json(data: bytes | str, what: str = "body") -> Any:
    """Decode strict JSON (no NaN/Infinity), or :class:`PayloadError` naming ``what``.

    orjson first (three times faster on a batch body; it reads an integer past 64 bits as
    the nearest float, RFC 8259 §6); what it refuses goes through :mod:`json`, which names
    the error or accepts what orjson is stricter about (lone surrogates)."""
    with contextlib.suppress(orjson.JSONDecodeError):
        return orjson.loads(data.removeprefix(BOM) if isinstance(data, bytes) else data)
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return mend_surrogates(json.loads(text, parse_constant=_refuse_constant), text)
    except UnicodeDecodeError:
        raise PayloadError(f"{what} is not UTF-8") from None
    except RecursionError:
        raise PayloadError(f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, oversized integers, NaN
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid value"
        raise PayloadError(f"{what} is not valid JSON ({reason})") from None


#: A ``\uD800``-``\uDFFF`` escape: the only way JSON text (UTF-8, decoded strictly) can hold
#: a surrogate.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def mend_surrogates(value: Any, text: str) -> Any:
    """``value``, which :mod:`json` decoded from ``text``, with its lone surrogates replaced
    by U+FFFD. ``"\\ud800"`` is valid JSON but not Unicode: neither orjson nor the databases'
    drivers take such a string, and one in an event would fail its whole write (a group of
    webhook requests with it). Replaced, the event is kept, as an ESP that retried would
    send the same bytes again. Only a text holding such an escape is walked."""
    return _mend(value) if _SURROGATE_ESCAPE.search(text) else value


def _mend(value: Any) -> Any:
    if type(value) is str:
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return value
    if type(value) is dict:
        return {_mend(key): _mend(item) for key, item in value.items()}
    if type(value) is list:
        return [_mend(item) for item in value]
    return value


def kind(value: Any) -> str:
    """The JSON type name of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def parse_time(value: Any, where: str) -> datetime:
    """A UTC datetime from Unix seconds or milliseconds (number or numeric string) or ISO 8601.

    ISO times without an offset are taken as UTC.
    """
    if isinstance(value, str):
        text = value.strip()
        # "2024-06-10…" is not a number: skip the failing float() (an exception is slow).
        number = None if text[4:5] == "-" else _number(text)
        if number is None:
            try:
                parsed = datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError:
                number = _number(text)  # "123e-5" has its "-" there too
                if number is None:
                    raise PayloadError(f"{where} is not a timestamp") from None
            else:
                if parsed.tzinfo is UTC:
                    return parsed
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                try:
                    return parsed.astimezone(UTC)
                except (OverflowError, ValueError):
                    raise PayloadError(f"{where} is out of range") from None
        value = number
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{where} must be a timestamp, got {kind(value)}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise PayloadError(f"{where} is out of range")
    if seconds > MILLISECONDS_ABOVE:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadError(f"{where} is out of range") from None


def _utc_second(value: int) -> datetime:
    """The UTC datetime of a Unix second, kept in :data:`_SECONDS`."""
    minute = value - value % 60
    if (start := _MINUTES.get(minute)) is None:
        if len(_MINUTES) >= _MINUTES_KEPT:
            _MINUTES.clear()
        start = _MINUTES[minute] = datetime.fromtimestamp(minute, UTC)
    if len(_SECONDS) >= _SECONDS_KEPT:
        _SECONDS.clear()
    _SECONDS[value] = moment = start + _STEPS[value - minute]
    return moment


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


#: Unix second → its datetime: the events of a batch share a few seconds, and a dict lookup
#: costs a tenth of ``fromtimestamp`` (datetimes are immutable, so sharing one is safe). Few
#: are kept, so memory stays flat whatever the file.
_SECONDS: Final[dict[int, datetime]] = {}
_SECONDS_KEPT: Final = 128
#: Unix minute → its datetime, for the other seconds: the minute's plus a timedelta costs a
#: fifth of ``fromtimestamp`` (0.12 against 0.73 µs), and a file's events spread over seconds
#: more than over minutes (the standard file of bench/ingest_file.py: 42% of its events
#: have a second of their own, against 0.7% a minute).
_MINUTES: Final[dict[int, datetime]] = {}
_MINUTES_KEPT: Final = 4096
_STEPS: Final = [timedelta(seconds=second) for second in range(60)]
#: A list of strings as decoded → the tuple :meth:`Fields.strings` (:meth:`Fields.tags`)
#: makes of it: tags and categories repeat on most events, and checking each item cost more
#: than the lookup.
_STRINGS: Final[dict[tuple[Any, ...], tuple[str, ...]]] = {}
_TAGS: Final[dict[tuple[Any, ...], tuple[str, ...]]] = {}
_STRINGS_KEPT: Final = 4096


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


class Fields:
    """A JSON object of a payload, read by field name with type checks.

    ``where`` locates the item in the request (``item 2``) and ``path`` the object inside it
    (``msg.``), so messages read ``item 2: msg.email is missing``.
    """

    __slots__ = ("data", "path", "where")

    def __init__(self, value: Any, where: str, path: str = "") -> None:
        if not isinstance(value, dict):
            name = path.rstrip(".") or "the item"
            raise PayloadError(f"{where}: {name} must be an object, got {kind(value)}")
        self.data: dict[str, Any] = value
        self.where = where
        self.path = path

    def _at(self, key: str) -> str:
        return f"{self.where}: {self.path}{key}"

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str) -> str:
        """A required, non-empty string."""
        value = self.opt_text(key)
        if value is None:
            raise PayloadError(f"{self._at(key)} is missing")
        return value

    def opt_text(self, key: str) -> str | None:
        """A string, or None when absent, null or empty."""
        value = self.data.get(key)
        if type(value) is str:  # the common case first: every read of every event comes here
            return value or None
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise PayloadError(f"{self._at(key)} must be a string, got {kind(value)}")
        return value

    def opt_texts(self, *keys: str) -> list[str | None]:
        """:meth:`opt_text` of each key, in one call: a parser reading ten fields of every event
        spends more on the calls than on the reads."""
        data = self.data
        values: list[str | None] = []
        for key in keys:
            value = data.get(key)
            if value is None:
                values.append(None)
            else:
                values.append((value or None) if type(value) is str else self.opt_text(key))
        return values

    def opt_ids(self, *keys: str) -> list[str | None]:
        """:meth:`opt_id` of each key, in one call (see :meth:`opt_texts`)."""
        data = self.data
        values: list[str | None] = []
        for key in keys:
            value = data.get(key)
            if value is None:
                values.append(None)
            else:
                values.append((value or None) if type(value) is str else self.opt_id(key))
        return values

    def opt_id(self, key: str) -> str | None:
        """An identifier given as a string or an integer (Mailjet, Postmark use numbers)."""
        value = self.data.get(key)
        if type(value) is str:
            return value or None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.opt_text(key)

    def opt_number(self, key: str) -> float | None:
        """A number given as a number or numeric string, or None when absent."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise PayloadError(f"{self._at(key)} must be a number") from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            raise PayloadError(f"{self._at(key)} must be a number, got {kind(value)}")
        if not math.isfinite(number):
            raise PayloadError(f"{self._at(key)} must be a finite number")
        return number

    def opt_bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise PayloadError(f"{self._at(key)} must be a boolean, got {kind(value)}")

    def obj(self, key: str) -> Fields:
        """A required nested object."""
        if self.data.get(key) is None:
            raise PayloadError(f"{self._at(key)} is missing")
        return Fields(self.data[key], self.where, f"{self.path}{key}.")

    def opt_obj(self, key: str) -> Fields | None:
        return None if self.data.get(key) is None else self.obj(key)

    def array(self, key: str) -> list[Any]:
        """A list, empty when absent or null."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise PayloadError(f"{self._at(key)} must be an array, got {kind(value)}")
        return value

    def objects(self, key: str) -> list[Fields]:
        """A list of objects, empty when absent."""
        return [
            Fields(item, self.where, f"{self.path}{key}[{i}].")
            for i, item in enumerate(self.array(key))
        ]

    def strings(self, key: str) -> tuple[str, ...]:
        """One string or a list of strings (empty strings dropped), ``()`` when absent."""
        return self._strings(key, _STRINGS, tuple)

    def tags(self, key: str) -> tuple[str, ...]:
        """:meth:`strings` without repeats, in order: tags, which ``build_event`` keeps as
        they are."""
        return self._strings(key, _TAGS, _unique)

    def _strings(
        self,
        key: str,
        kept: dict[tuple[Any, ...], tuple[str, ...]],
        make: Callable[[list[str]], tuple[str, ...]],
    ) -> tuple[str, ...]:
        value = self.data.get(key)
        if type(value) is str:
            return (value,) if value else ()
        if type(value) is list:
            try:
                return kept[tuple(value)]
            except (KeyError, TypeError):  # not seen yet, or holding objects: checked below
                pass
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if item is None or item == "":
                continue
            if not isinstance(item, str):
                raise PayloadError(f"{self._at(key)} must hold strings, got {kind(item)}")
            out.append(item)
        strings = make(out)
        if type(value) is list:
            if len(kept) >= _STRINGS_KEPT:
                kept.clear()
            kept[tuple(value)] = strings
        return strings

    def time(self, key: str) -> datetime:
        """A required timestamp (see :func:`parse_time`)."""
        value = self.data.get(key)
        if type(value) is int and 0 <= value <= MILLISECONDS_ABOVE:  # Unix seconds: the usual
            if (moment := _SECONDS.get(value)) is None:
                moment = _utc_second(value)
            return moment
        if type(value) is str and value[-1:] == "Z" and value[4:5] == "-" and "z" not in value:
            # ISO 8601 in UTC, the other usual form: parse_time would read this very text
            # with fromisoformat (nothing to strip, no "z" to replace), so the answer is its.
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                pass  # parse_time names the error
            else:
                if moment.tzinfo is UTC:
                    return moment
        if value is None or value == "":
            raise PayloadError(f"{self._at(key)} is missing")
        return self._parse_time(value, key)

    def opt_time(self, key: str) -> datetime | None:
        value = self.data.get(key)
        return None if value is None or value == "" else self._parse_time(value, key)

    def _parse_time(self, value: Any, key: str) -> datetime:
        """:func:`parse_time`, the field's location formatted only for an error (its messages
        start with the location: an ISO time per event paid an f-string for nothing)."""
        try:
            return parse_time(value, "")
        except PayloadError as exc:
            raise PayloadError(f"{self._at(key)}{exc.reason}") from None
