"""classify(): the evidence order of docs/bounces.md, case by case, and robustness."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.events import classify as rules
from deliverwatch.events.classify import classify, enhanced_code, reply_code
from deliverwatch.events.model import BounceClass

H, S, B = BounceClass.HARD, BounceClass.SOFT, BounceClass.BLOCK
F, U = BounceClass.MAILBOX_FULL, BounceClass.UNDETERMINED

ENHANCED_ONLY = [
    ("5.1.1", H), ("5.1.0", H), ("5.1.2", H), ("5.1.3", H), ("5.1.6", H), ("5.1.10", H),
    ("5.1.7", B), ("5.1.8", B),
    ("5.2.1", H), ("5.2.2", F), ("4.2.2", F), ("5.2.3", S), ("5.2.0", S),
    ("5.3.4", S), ("5.3.0", S),
    ("5.4.1", H), ("5.4.4", H), ("5.4.310", H), ("5.4.7", S), ("5.4.6", S), ("5.4.0", S),
    ("5.5.0", U), ("5.5.2", U), ("5.0.0", U),
    ("5.6.0", B), ("5.6.1", B),
    ("5.7.1", B), ("5.7.26", B), ("5.7.13", H),
    ("4.7.0", S), ("4.4.7", S), ("4.0.0", S), ("4.1.1", S),
    ("2.0.0", U),
]  # fmt: skip


@pytest.mark.parametrize(("status", "want"), ENHANCED_ONLY)
def test_enhanced_code_alone(status: str, want: BounceClass) -> None:
    assert classify(status, None) is want


@pytest.mark.parametrize(
    ("status", "want"),
    [("550", H), ("551", H), ("553", H), ("552", F), ("554", B), ("421", S), ("450", S),
     ("451", S), ("452", S), ("500", U), ("555", U), ("250", U)],
)  # fmt: skip
def test_basic_reply_code_alone(status: str, want: BounceClass) -> None:
    assert classify(status, None) is want


@pytest.mark.parametrize(
    ("status", "diagnostic", "hint", "want"),
    [
        (None, None, "hard", H),
        (None, None, "mailbox_full", F),
        (None, None, "undetermined", U),
        (None, None, "nonsense", U),
        (None, None, None, U),
        ("5.0.0", None, "soft", S),  # nothing decisive: the provider's word
        ("550", None, "soft", S),  # a hint beats a bare reply code
        ("5.1.1", None, "soft", H),  # an enhanced code beats a hint
        ("552", "552 5.3.4 message too big", "hard", S),
        (None, "mailbox unavailable", "block", H),  # the weak text still beats the hint
    ],
)
def test_hints(
    status: str | None, diagnostic: str | None, hint: str | None, want: BounceClass
) -> None:
    assert classify(status, diagnostic, hint) is want


@pytest.mark.parametrize(
    ("diagnostic", "want"),
    [
        ("smtp; 550 5.7.1 <x@example.com>: Recipient address rejected: user unknown", H),
        ("Host or domain name not found. Name service error for type=MX: Host not found", H),
        ("451 4.4.3 Host or domain name not found. Name service error: Host not found, retry", S),
        ("553 5.1.8 <news@example.com>: Sender address rejected: Domain not found", B),
        ("550 5.7.606 Access denied, banned sending IP [192.0.2.1]", B),
        ("553 5.7.1 [BL21] Connections not accepted from 192.0.2.1, ip in Spamhaus's list", B),
        ("554 5.7.1 Relay access denied", B),
        ("421 4.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail", B),
        ("554 delivery error: dd Sorry your message cannot be delivered. Mailbox is disabled", H),
        ("552-5.2.2 The email account that you tried to reach is over quota.", F),
        ("452 4.2.2 The email account that you tried to reach is over quota", F),
        ("421 4.4.2 Connection timed out", S),
        ("552 Message size exceeds maximum permitted", S),
        ("550 Message rejected because of DMARC policy", B),
        ("host mx.example.com[198.51.100.1] said: 550 5.1.1 <a@example.com>... User unknown", H),
        ("connect to mx.example.com[192.0.2.5]:25: Connection refused", S),
    ],
)  # fmt: skip
def test_receiver_texts(diagnostic: str, want: BounceClass) -> None:
    assert classify(None, diagnostic) is want


def test_codes_are_not_read_from_ip_addresses() -> None:
    assert enhanced_code("relay [192.0.2.5] refused") is None
    assert enhanced_code("5.1.1.") == (5, 1, 1)
    assert enhanced_code("code 5.7.1, see") == (5, 7, 1)
    assert reply_code("host [209.85.220.41] said: 550 nope") == 550
    assert reply_code("AS(201806281) mta1234") is None
    assert reply_code("(554.30)") is None
    assert enhanced_code(None, "", "x 4.7.0 y") == (4, 7, 0)


@given(st.text(), st.text(), st.one_of(st.none(), st.text()))
def test_classify_never_fails(status: str, diagnostic: str, hint: str | None) -> None:
    assert isinstance(classify(status, diagnostic, hint), BounceClass)


PHRASES = [
    "_FULL_TEXT",
    "_SENDER_TEXT",
    "_HARD_TEXT",
    "_BLOCK_TEXT",
    "_SOFT_TEXT",
    "_WEAK_HARD_TEXT",
]
PATTERNS = [pattern for name in PHRASES for pattern in getattr(rules, name).patterns]
WORDS = sorted({word for pattern in PATTERNS for word in re.findall(r"[a-z']+", pattern)})
# Texts made of the phrases themselves (drawn from every category's patterns, so each table
# also meets the others' phrases), receiver-like filler and the words the patterns use.
PIECE = (
    st.sampled_from(PATTERNS).flatmap(lambda p: st.from_regex(p, fullmatch=True))
    | st.sampled_from(WORDS)
    | st.sampled_from(["550", "5.1.1", "[192.0.2.1]", "sending ", "the ", "ts04", "x", ""])
)
CASES = st.sampled_from([str.lower, str.upper, str.title, str.swapcase])


@pytest.mark.parametrize("name", PHRASES)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(PIECE, st.sampled_from(["", " ", ". ", "-", "\t"]), CASES), max_size=6))
def test_fast_phrase_search_matches_the_patterns_as_written(
    name: str, parts: list[tuple[str, str, Callable[[str], str]]]
) -> None:
    """The phrase tables are compiled for speed (see _Texts); they match the same texts as the
    plain case-insensitive alternation of their patterns."""
    phrases = getattr(rules, name)
    plain = re.compile("|".join(f"(?:{p})" for p in phrases.patterns), re.IGNORECASE)
    text = "".join(case(piece) + sep for piece, sep, case in parts)
    assert phrases.search(text.lower()) == bool(plain.search(text)), text
