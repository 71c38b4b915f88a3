"""Records of aggregate reports: read by string searches when plain (the fast path) or from
an expat element, then normalized and validated by the same code (see ``aggregate.py``)."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from deliverwatch.dmarc.model import DkimResult, PolicyOverride, Record, SpfResult

#: A count above this is not a real message count (and would not fit the database).
MAX_COUNT = 10**12

_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
)

UPPER_CASE = "lower-cased result words written in upper case"
NO_SELECTOR = "DKIM result without a selector"
NO_SCOPE = "SPF result without a scope (mfrom assumed)"
BAD_IP = "dropped a record without a valid source_ip"
BAD_COUNT = "dropped a record without a valid count"
BAD_UTF8 = "replaced invalid UTF-8"
_CACHE_SIZE = 4096

# A record before normalization: every value as written (None when absent).
_Reason = tuple[str | None, str | None]
_Auth = tuple[str | None, str | None, str | None, str | None]
_Raw = tuple[
    str | None,  # source_ip
    str | None,  # count
    str | None,  # disposition
    str | None,  # policy-evaluated dkim
    str | None,  # policy-evaluated spf
    list[_Reason],
    str | None,  # header_from
    str | None,  # envelope_from
    str | None,  # envelope_to
    list[_Auth],  # dkim: domain, selector, result, human_result
    list[_Auth],  # spf: domain, scope, result, human_result
]


# -- the fast path ----------------------------------------------------------------------------


class NotSimple(Exception):
    """The record is not in the plain shape: expat reads it instead."""


def _inner(text: str, tag: str, start: int = 0, end: int = -1) -> str | None:
    """The text of the first ``tag`` element in ``text[start:end]`` (None when absent): the
    text before its first child, as expat would give (plain records have no entities)."""
    i = text.find(tag, start, end if end >= 0 else len(text))
    if i < 0:
        return None
    i += len(tag)
    return text[i : text.find("<", i)]


def fast_record(text: str, norm: Normalizer) -> Record | None:
    """A plain record read with string searches (None: dropped as invalid); raises NotSimple
    when its shape is unusual, for expat to read.

    This runs for every record of every report, so it is straight-line code, and the three
    blocks that repeat from record to record (``policy_evaluated``, ``identifiers``,
    ``auth_results``) are looked up in caches by their text before being read.
    """
    find = text.find
    row = find("<row>")
    row_end = find("</row>", row)
    evaluated = find("<policy_evaluated>", row, row_end)
    evaluated_end = find("</policy_evaluated>", evaluated, row_end)
    ids = find("<identifiers>")
    ids_end = find("</identifiers>", ids)
    if row < 0 or evaluated < 0 or evaluated_end < 0 or ids < 0 or ids_end < 0:
        raise NotSimple
    i = find("<source_ip>", row, row_end)
    ip = text[i + 11 : find("<", i + 11)] if i >= 0 else None
    i = find("<count>", row, row_end)
    count = text[i + 7 : find("<", i + 7)] if i >= 0 else None
    block = text[evaluated:evaluated_end]
    cached = norm.evaluated_cache.get(block)
    if cached is None:
        cached = norm.cache_evaluated(block)
    disposition, dkim, spf, repairs = cached
    block = text[ids:ids_end]
    identifiers = norm.identifiers_cache.get(block)
    if identifiers is None:
        identifiers = norm.cache_identifiers(block)
    auth = find("<auth_results>")
    if auth >= 0:
        auth_end = find("</auth_results>", auth)
        if auth_end < 0:
            raise NotSimple
        block = text[auth:auth_end]
        results = norm.auth_cache.get(block)
        if results is None:
            results = norm.cache_auth(block)
    else:
        results = _NO_AUTH
    source_ip = _ip(ip)
    number = _count(count)
    if source_ip is None or number is None:
        norm.repairs[BAD_IP if source_ip is None else BAD_COUNT] += 1
        return None
    if repairs or results[2]:
        counted = norm.repairs
        for repair in repairs + results[2]:  # Counter.update costs more for a word or two
            counted[repair] += 1
    return Record(
        source_ip,
        number,
        disposition,
        dkim,
        spf,
        identifiers[0],
        identifiers[1],
        identifiers[2],
        (),
        results[0],
        results[1],
    )


def _blocks(text: str, open_tag: str, close_tag: str) -> Iterator[str]:
    start = 0
    while (begin := text.find(open_tag, start)) >= 0:
        start = text.find(close_tag, begin)
        if start < 0:
            raise NotSimple
        yield text[begin:start]


# -- the expat path ---------------------------------------------------------------------------


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def child(element: Element | None, name: str) -> Element | None:
    if element is not None:
        for child in element:
            if local_name(child.tag) == name:
                return child
    return None


def children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    return [item for item in element if local_name(item.tag) == name]


def child_text(element: Element | None, name: str) -> str | None:
    found = child(element, name)
    return None if found is None else (found.text or "")


def element_raw(record: Element) -> _Raw:
    row = child(record, "row")
    evaluated = child(row, "policy_evaluated")
    identifiers = child(record, "identifiers")
    if identifiers is None:
        identifiers = child(record, "identities")
    auth = child(record, "auth_results")
    return (
        child_text(row, "source_ip"),
        child_text(row, "count"),
        child_text(evaluated, "disposition"),
        child_text(evaluated, "dkim"),
        child_text(evaluated, "spf"),
        [(child_text(r, "type"), child_text(r, "comment")) for r in children(evaluated, "reason")],
        child_text(identifiers, "header_from"),
        child_text(identifiers, "envelope_from"),
        child_text(identifiers, "envelope_to"),
        [_auth_raw(d, "selector") for d in children(auth, "dkim")],
        [_auth_raw(s, "scope") for s in children(auth, "spf")],
    )


def _auth_raw(element: Element, qualifier: str) -> _Auth:
    return (
        child_text(element, "domain"),
        child_text(element, qualifier),
        child_text(element, "result"),
        child_text(element, "human_result"),
    )


# -- normalization ----------------------------------------------------------------------------


def strip_text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _word(value: str | None, default: str, repairs: Counter[str]) -> str:
    """A result or disposition word, lower-case (RFC 7489 appendix C spells them so)."""
    if not value:
        return default
    word = value.strip()
    if not word:
        return default
    lowered = word.lower()
    if lowered != word:
        repairs[UPPER_CASE] += 1
    return lowered


def normalize_domain(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip(".").lower()
    return value or None


def _ip(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if _IPV4.fullmatch(value):
        return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)  # int() ignores surrounding whitespace
    except ValueError:
        try:
            as_float = float(value)
        except ValueError:
            return None
        if not as_float.is_integer():
            return None
        number = int(as_float)
    return number if 0 <= number <= MAX_COUNT else None


_Evaluated = tuple[str, str, str, tuple[str, ...]]
_Identifiers = tuple[str, str | None, str | None]
_AuthResults = tuple[tuple[DkimResult, ...], tuple[SpfResult, ...], tuple[str, ...]]
_NO_AUTH: _AuthResults = ((), (), ())


class Normalizer:
    """Normalization and validation of record values, the same for both paths; and the fast
    path's caches of parsed blocks (with the repairs each needed, counted at every use)."""

    def __init__(self, repairs: Counter[str]) -> None:
        self.repairs = repairs
        self.evaluated_cache: dict[str, _Evaluated] = {}
        self.identifiers_cache: dict[str, _Identifiers] = {}
        self.auth_cache: dict[str, _AuthResults] = {}

    def word(self, value: str | None, default: str) -> str:
        return _word(value, default, self.repairs)

    def dkim(
        self, domain: str | None, selector: str | None, result: str | None, human: str | None
    ) -> DkimResult | None:
        name = normalize_domain(domain)
        if not name:
            return None  # a result without a domain says nothing (some reporters send these)
        return DkimResult(
            name, _selector(selector, self.repairs), self.word(result, "none"), strip_text(human)
        )

    def spf(
        self, domain: str | None, scope: str | None, result: str | None, human: str | None
    ) -> SpfResult | None:
        name = normalize_domain(domain)
        if not name:
            return None
        return SpfResult(
            name, _scope(scope, self.repairs), self.word(result, "none"), strip_text(human)
        )

    def build(self, raw: _Raw) -> Record | None:
        """A record from the values the expat path read."""
        source_ip, number = _ip(raw[0]), _count(raw[1])
        if source_ip is None or number is None:
            self.repairs[BAD_IP if source_ip is None else BAD_COUNT] += 1
            return None
        return Record(
            source_ip,
            number,
            self.word(raw[2], "none"),
            self.word(raw[3], "fail"),
            self.word(raw[4], "fail"),
            normalize_domain(raw[6]) or "",
            normalize_domain(raw[7]),
            normalize_domain(raw[8]),
            tuple(
                PolicyOverride(self.word(kind, "other"), strip_text(comment))
                for kind, comment in raw[5]
                if strip_text(kind) or strip_text(comment)
            ),
            tuple(r for auth in raw[9] if (r := self.dkim(*auth)) is not None),
            tuple(s for auth in raw[10] if (s := self.spf(*auth)) is not None),
        )

    # The fast path's blocks: parsed with a scratch repair counter, cached with its keys.
    def cache_evaluated(self, block: str) -> _Evaluated:
        scratch = Normalizer(Counter())
        value = (
            scratch.word(_inner(block, "<disposition>"), "none"),
            scratch.word(_inner(block, "<dkim>"), "fail"),
            scratch.word(_inner(block, "<spf>"), "fail"),
            tuple(scratch.repairs.elements()),
        )
        if len(self.evaluated_cache) < _CACHE_SIZE:
            self.evaluated_cache[block] = value
        return value

    def cache_identifiers(self, block: str) -> _Identifiers:
        value = (
            normalize_domain(_inner(block, "<header_from>")) or "",
            normalize_domain(_inner(block, "<envelope_from>")),
            normalize_domain(_inner(block, "<envelope_to>")),
        )
        if len(self.identifiers_cache) < _CACHE_SIZE:
            self.identifiers_cache[block] = value
        return value

    def cache_auth(self, block: str) -> _AuthResults:
        scratch = Normalizer(Counter())
        dkim = tuple(
            result
            for part in _blocks(block, "<dkim>", "</dkim>")
            if (
                result := scratch.dkim(
                    _inner(part, "<domain>"),
                    _inner(part, "<selector>"),
                    _inner(part, "<result>"),
                    _inner(part, "<human_result>"),
                )
            )
            is not None
        )
        spf = tuple(
            spf_result
            for part in _blocks(block, "<spf>", "</spf>")
            if (
                spf_result := scratch.spf(
                    _inner(part, "<domain>"),
                    _inner(part, "<scope>"),
                    _inner(part, "<result>"),
                    _inner(part, "<human_result>"),
                )
            )
            is not None
        )
        value = (dkim, spf, tuple(scratch.repairs.elements()))
        if len(self.auth_cache) < _CACHE_SIZE:
            self.auth_cache[block] = value
        return value


def _selector(value: str | None, repairs: Counter[str]) -> str | None:
    selector = strip_text(value)
    if selector is None:
        repairs[NO_SELECTOR] += 1
    return selector


def _scope(value: str | None, repairs: Counter[str]) -> str:
    scope = strip_text(value)
    if scope is None:
        repairs[NO_SCOPE] += 1
        return "mfrom"
    return scope.lower()
