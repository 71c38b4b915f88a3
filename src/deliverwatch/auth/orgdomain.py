"""Organizational domains (RFC 7489 §3.2) from the Public Suffix List shipped with
``publicsuffixlist``: no network at run time, so results do not depend on a download."""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from deliverwatch.domainname import normalize_name


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


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
