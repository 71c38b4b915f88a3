"""The incremental JSON splitter: same values as json.loads, any chunking, bounded items."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.events.model import RawItems
from deliverwatch.events.providers.base import PayloadError
from deliverwatch.events.providers.jsonstream import (
    iter_json_items,
    iter_json_lines,
    iter_json_texts,
)

T0 = datetime(2025, 3, 10, tzinfo=UTC)
JSON = st.recursive(
    st.none()
    | st.booleans()
    # orjson reads an integer past 64 bits as the nearest float (see the test below)
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def items(data: bytes, size: int = 7, **kw: Any) -> list[Any]:
    return [value for _, _, value in iter_json_items(chunked(data, size), **kw)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), JSON, max_size=4), max_size=6), st.integers(1, 40)
)
def test_json_lines_in_any_chunking(values: list[dict[str, Any]], size: int) -> None:
    data = "\n".join(json.dumps(v) for v in values).encode()
    assert items(data, size) == values


@settings(max_examples=60, deadline=None)
@given(st.lists(JSON, max_size=6), st.integers(1, 40), st.sampled_from(["", " ", "\n  "]))
def test_arrays_are_split_into_items(values: list[Any], size: int, space: str) -> None:
    data = (
        space + "[" + space + f",{space}".join(json.dumps(v) for v in values) + space + "]"
    ).encode()
    assert items(data, size) == values


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.integers(1, 16))
def test_garbage_raises_only_payload_error(data: bytes, size: int) -> None:
    with contextlib.suppress(PayloadError):
        items(data, size)


def test_integers_past_64_bits_are_read_as_floats_not_refused() -> None:
    """RFC 8259 §6: such numbers are not interoperable; orjson, which reads the lines of a
    file, takes them as the nearest float, as most JSON readers do."""
    data = b'{"n": -9223372036854775809}\n[{"n": 18446744073709551616}, {"n": 1}]\n'
    assert items(data, 7) == [{"n": -9223372036854775809.0}, {"n": 2.0**64}, {"n": 1}]


def test_numbers_cut_by_a_chunk_boundary_are_whole() -> None:
    data = b"12345678901234567890.5e3\n[1234567, 2]"
    for size in range(1, len(data) + 1):
        assert items(data, size) == [12345678901234567890.5e3, 1234567, 2]


def test_mixed_lines_of_arrays_and_objects_with_line_numbers() -> None:
    data = b'\xef\xbb\xbf[{"a": 1}, {"a": 2}]\n\n{"a": 3}\n[]\n[{"a": 4}]\n'
    got = list(iter_json_items(chunked(data, 3)))
    assert got == [(0, 1, {"a": 1}), (1, 1, {"a": 2}), (2, 3, {"a": 3}), (3, 5, {"a": 4})]


def test_lines_come_with_their_text_until_the_character_reader_takes_over() -> None:
    data = b' [{"a": 1}, {"a": 2}] \r\n{"a": 3}\n\n[]\n[\n{"a": 4}]\n{"a": 5}\n'
    assert list(iter_json_lines(chunked(data, 4))) == [
        (0, 1, [{"a": 1}, {"a": 2}], b' [{"a": 1}, {"a": 2}] \r'),
        (2, 2, [{"a": 3}], b'{"a": 3}'),
        (3, 4, [], b"[]"),
        (3, 6, [{"a": 4}], None),  # one item at a time from here: no line's text
        (4, 7, [{"a": 5}], None),
    ]


def test_a_last_line_without_a_line_break_comes_with_its_text() -> None:
    data = b'{"a": 0}\n [{"a": 1}, {"a": 2}] '
    assert list(iter_json_lines(chunked(data, 5))) == [
        (0, 1, [{"a": 0}], b'{"a": 0}'),
        (1, 2, [{"a": 1}, {"a": 2}], b' [{"a": 1}, {"a": 2}] '),
    ]


def test_the_character_reader_mends_lone_surrogates() -> None:
    data = b'[\n {"a": "\\ud800"},\n {"a": "\\ud83d\\ude00"}\n]\n'
    assert items(data, 5) == [{"a": "\ufffd"}, {"a": "\U0001f600"}]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=4), max_size=3)),
    st.sampled_from(["array", "object"]),
    st.text(" \t\r\n", max_size=3),
    st.text(" \t\r\n", max_size=3),
)
def test_raw_items_of_a_line_are_its_values_texts(
    values: list[dict[str, Any]], shape: str, before: str, after: str
) -> None:
    """``RawItems.of`` an array's text holds exactly its values, whatever the spacing, so an
    array made of it reads back each value at its index; one value is nobody's array."""
    value: Any = values if shape == "array" else {"one": values}
    text = (before + json.dumps(value, ensure_ascii=False) + after).encode()
    decoded = json.loads(text)
    found = RawItems.of(text, decoded if shape == "array" else [decoded], T0)
    if shape == "object" or not values:
        assert found is None
    else:
        assert found is not None and found.count == len(values)
        assert json.loads(b"[" + bytes(found.joined) + b"]") == values


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1}\n{"a": }', "item 1 (line 2): invalid JSON"),
        (b"[1, 2", "ends inside an array"),
        (b"[1 2]", "expected ',' or ']'"),
        (b"[1,]", "item 1 (line 1): invalid JSON"),
        (b"[,1]", "item 0 (line 1): invalid JSON"),
        (b'{"a": NaN}', "invalid JSON value"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b"1" * 5000, "invalid JSON value"),
    ],
)
def test_errors_name_the_item_and_line(data: bytes, message: str) -> None:
    with pytest.raises(
        PayloadError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        items(data, 64)


def test_an_invalid_item_fails_fast_without_reading_the_rest() -> None:
    def endless() -> Iterator[bytes]:
        yield b'{"ok": 1}\n{"bad": ] , "padding": "'
        while True:
            yield b"x" * 65536

    with pytest.raises(PayloadError, match="item 1"):
        list(iter_json_items(endless()))


def test_an_oversized_item_is_refused_in_bounded_memory() -> None:
    def endless() -> Iterator[bytes]:
        yield b'{"huge": "'
        while True:
            yield b"x" * 65536

    with pytest.raises(PayloadError, match="larger than 100000"):
        list(iter_json_items(endless(), max_item=100_000))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), JSON, max_size=4), min_size=1, max_size=6),
    st.integers(1, 40),
    st.sampled_from([None, 1]),
    st.booleans(),
)
def test_item_texts_are_spelled_as_in_the_input(
    values: list[dict[str, Any]], size: int, indent: int | None, array: bool
) -> None:
    texts = [json.dumps(v, indent=indent, ensure_ascii=False) for v in values]
    data = ("[" + " ,\n".join(texts) + "]" if array else "\n".join(texts)).encode()
    found = list(iter_json_texts(chunked(data, size)))
    assert [text for _, _, _, text in found] == texts
    assert [value for _, _, value, _ in found] == values


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(JSON, max_size=3), st.sampled_from(["line", "array", "pretty", "blank"])
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 40),
    st.booleans(),
)
def test_the_line_fast_path_and_the_character_reader_agree(
    lines: list[tuple[list[Any], str]], size: int, bom: bool
) -> None:
    """Whole-line decoding (orjson) and the character-level reader give the same items, with
    the same indexes and line numbers, however lines, arrays and pretty-printed values mix;
    the fast path hands over to the reader at the first line that is not a whole value."""
    parts = []
    for values, shape in lines:
        if shape == "blank":
            parts.append("  ")
        elif shape == "array":
            parts.append(json.dumps(values, ensure_ascii=False))
        elif shape == "pretty":
            parts.append(json.dumps(values, indent=1))
        else:
            parts.extend(json.dumps(value, ensure_ascii=False) for value in values)
    data = ("\ufeff" if bom else "") + "\n".join(parts) + "\n"
    fast = list(iter_json_items(chunked(data.encode(), size)))
    slow = [(i, line, v) for i, line, v, _ in iter_json_texts(chunked(data.encode(), size))]
    assert fast == slow
