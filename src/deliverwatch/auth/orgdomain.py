"""Organizational domains (RFC 7489 §3.2) from the Public Suffix List shipped with
``publicsuffixlist``: no network at run time, so results do not depend on a download."""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PSLFILE, PublicSuffixList

from deliverwatch.domainname import normalize_name


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def is_organizational_domain(name: str) -> bool:
    """Whether ``name`` is its own organizational domain (``yahoo.co.uk`` is, ``mail.yahoo.com``
    is not), as :func:`organizational_domain` answers.

    Read from the rules under the name's top-level domain only: every rule that can match a
    name ends in its top-level domain, so they give the whole list's answer. Loading the whole
    list takes ~0.12 s; the rules of one top-level domain, a few milliseconds. That is what a
    file reader process paid for its first ``yahoo.co.uk`` recipient (``events.mailbox``)."""
    name = normalize_name(name)
    tld = name.rpartition(".")[2]
    # The whole list once it is loaded, and for a name in punycode (the file spells those
    # top-level domains in Unicode).
    whole = _psl.cache_info().currsize or not tld.isascii() or tld.startswith("xn--") or not tld
    rules = _psl() if whole else _rules_under(tld)
    return str(rules.privatesuffix(name) or name) == name


@lru_cache(maxsize=256)
def _rules_under(tld: str) -> PublicSuffixList:
    """A list of the rules under ``tld``, an ASCII top-level domain, alone."""
    with open(PSLFILE, encoding="utf-8", errors="surrogateescape") as rules:
        return PublicSuffixList([line for line in rules if _under(line, tld)])


def _under(line: str, tld: str) -> bool:
    """Whether a line of the list is a rule for ``tld`` or a name under it, read as
    ``publicsuffixlist`` reads it (its first word, lower-cased; comments skipped)."""
    if tld not in line:  # most lines: one C search
        return False
    rule = line.lower().split(" ")[0].rstrip()
    return rule.rpartition(".")[2] == tld and not rule.startswith("//")


@lru_cache(maxsize=65536)
def organizational_domain(name: str) -> str:
    """``mail.news.example.co.uk`` → ``example.co.uk``; a public suffix itself maps to itself."""
    name = normalize_name(name)
    return str(_psl().privatesuffix(name) or name)


def is_aligned(a: str, b: str, *, strict: bool = False) -> bool:
    """DMARC identifier alignment: same name (strict) or same organizational domain (relaxed)."""
    a, b = normalize_name(a), normalize_name(b)
    if strict:
        return a == b
    return organizational_domain(a) == organizational_domain(b)
