"""Typed reads of payload fields: the batched reads and the timestamp shortcuts agree with the
plain ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverwatch.events.providers.base import PayloadError
from deliverwatch.events.providers.jsonfields import Fields, load_json, mend_surrogates, parse_time

KEYS = ["a", "b", "c", "d"]
VALUES = st.one_of(
    st.none(), st.just(""), st.text(max_size=3), st.integers(), st.booleans(), st.just([])
)


def outcome(read: Any, *args: str) -> Any:
    try:
        return read(*args)
    except PayloadError as exc:
        return ("error", exc.reason)


@given(st.dictionaries(st.sampled_from(KEYS), VALUES))
def test_batched_reads_equal_reads_one_by_one(data: dict[str, Any]) -> None:
    fields = Fields(data, "item 0")

    def one_by_one(read: Any) -> Any:
        try:
            return [read(key) for key in KEYS]
        except PayloadError as exc:
            return ("error", exc.reason)

    assert outcome(fields.opt_texts, *KEYS) == one_by_one(fields.opt_text)
    assert outcome(fields.opt_ids, *KEYS) == one_by_one(fields.opt_id)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("2024-06-10T06:13:20Z", datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)),
        ("2024-06-10T06:13:20.5z", datetime(2024, 6, 10, 6, 13, 20, 500000, tzinfo=UTC)),
        ("2024-06-10T08:13:20+02:00", datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)),
        (" 2024-06-10 06:13:20 ", datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)),
        ("1718000000", datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)),
        ("1718000000500", datetime(2024, 6, 10, 6, 13, 20, 500000, tzinfo=UTC)),
        ("123e-5", datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=123e-5)),
        (1718000000, datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)),
        (1718000000500, datetime(2024, 6, 10, 6, 13, 20, 500000, tzinfo=UTC)),
        (1718000000.25, datetime(2024, 6, 10, 6, 13, 20, 250000, tzinfo=UTC)),
    ],
)
def test_timestamps(value: Any, want: datetime) -> None:
    assert parse_time(value, "t") == want
    assert Fields({"t": value}, "item 0").time("t") == want
    assert Fields({"t": value}, "item 0").time("t").tzinfo is UTC


@given(st.integers(min_value=0, max_value=100_000_000_000))
def test_unix_seconds_read_from_their_minute_equal_fromtimestamp(second: int) -> None:
    read = Fields({"t": second}, "item 0").time("t")
    assert read == datetime.fromtimestamp(second, UTC)
    assert read.tzinfo is UTC
    assert Fields({"t": second}, "item 1").time("t") is read  # kept for the next event


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from(["T", " "]),
    st.sampled_from(["Z", "zZ", "xZ", "0Z", "z", "+00:00", "-05:00", " Z", "Z ", "", "ZZ"]),
    st.sampled_from(["", " "]),
)
def test_iso_times_read_as_parse_time_reads_them(
    moment: datetime, separator: str, zone: str, space: str
) -> None:
    """The shortcut for ISO 8601 times in UTC answers as ``parse_time`` does, errors too."""
    value = space + moment.isoformat(separator) + zone

    def read(parse: Any) -> Any:
        try:
            return parse()
        except PayloadError:
            return "error"

    assert read(lambda: Fields({"t": value}, "item 0").time("t")) == read(
        lambda: parse_time(value, "t")
    )


@given(st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers(), st.booleans())))
def test_strings_read_again_from_the_cache_equal_the_first_read(value: list[Any]) -> None:
    for read in ("strings", "tags"):
        first = outcome(getattr(Fields({"tags": value}, "item 0"), read), "tags")
        again = outcome(getattr(Fields({"tags": list(value)}, "item 0"), read), "tags")
        assert first == again
        if first and first[0] != "error":
            kept = [item for item in value if item]
            assert list(first) == (kept if read == "strings" else list(dict.fromkeys(kept)))


def test_strings_drop_empty_items_tags_repeats_too_and_both_refuse_objects() -> None:
    fields = Fields({"tags": ["a", "", None, "b", "a"], "to": ["x@y.z", "x@y.z"]}, "item 0")
    assert fields.strings("tags") == ("a", "b", "a")
    assert fields.tags("tags") == ("a", "b")
    assert fields.tags("tags") == ("a", "b")  # from the cache
    assert fields.strings("to") == ("x@y.z", "x@y.z")  # recipients: each an event
    with pytest.raises(PayloadError, match="tags must hold strings, got an object"):
        Fields({"tags": ["a", {"b": 1}]}, "item 3").strings("tags")
    with pytest.raises(PayloadError, match="tags must hold strings, got a number"):
        Fields({"tags": ["a", 1]}, "item 3").strings("tags")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-13-01", "t is not a timestamp"),
        ("soon", "t is not a timestamp"),
        (-5, "t is out of range"),
        ("-5", "t is out of range"),
        (True, "t must be a timestamp, got a boolean"),
    ],
)
def test_bad_timestamps(value: Any, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        Fields({"t": value}, "item 0").time("t")


@given(
    st.datetimes(max_value=datetime(9999, 12, 30), timezones=st.just(timezone(timedelta(hours=-5))))
)
def test_iso_times_with_any_offset_become_utc(moment: datetime) -> None:
    parsed = parse_time(moment.isoformat(), "t")
    assert parsed == moment and parsed.tzinfo is UTC


def test_lone_surrogates_become_replacement_characters_and_pairs_stay() -> None:
    """Valid JSON that is not Unicode: json decodes it (orjson refuses), and the strings are
    mended so the event can be stored; a proper pair is one character and stays."""
    body = b'[{"a": "x\\ud800y", "\\udc00k": ["\\ud83d\\ude00", 2, "\\u00e9"]}]'
    assert load_json(body) == [{"a": "x\ufffdy", "\ufffdk": ["\U0001f600", 2, "\u00e9"]}]
    assert mend_surrogates(["\\ud800"], '["\\\\ud800"]') == ["\\ud800"]  # text, not escape
