"""Which mailbox provider hosts a recipient, from the address's domain alone.

Deliverability differs per mailbox provider (Gmail, Yahoo, Microsoft, …), so events are
grouped by it. This table knows the big consumer domains only; business domains hosted by
Google Workspace or Microsoft 365 read as ``other`` until an MX-based hint exists (later).

>>> mailbox_provider("Hotmail.co.uk")
'microsoft'
>>> domain_of("Jane <jane@Example.COM>")
'example.com'
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from functools import lru_cache
from typing import Final

from deliverwatch.auth.orgdomain import is_organizational_domain

OTHER: Final = "other"
_SPACE: Final = re.compile(r"\s")

#: Exact consumer domains → provider label. AOL, Verizon and AIM mail run on Yahoo's platform.
DOMAINS: Final[dict[str, str]] = {
    **dict.fromkeys(["gmail.com", "googlemail.com"], "gmail"),
    **dict.fromkeys(
        ["ymail.com", "rocketmail.com", "aol.com", "aim.com", "verizon.net"],
        "yahoo",
    ),
    "yahoo.co.jp": "yahoo-japan",  # LY Corporation: not Yahoo Inc.'s platform
    **dict.fromkeys(["msn.com", "passport.com", "windowslive.com"], "microsoft"),
    **dict.fromkeys(["icloud.com", "me.com", "mac.com"], "apple"),
    **dict.fromkeys(["web.de", "mail.com"], "united-internet"),
    **dict.fromkeys(["mail.ru", "bk.ru", "inbox.ru", "list.ru", "internet.ru"], "mailru"),
    **dict.fromkeys(["yandex.ru", "yandex.com", "ya.ru", "yandex.ua", "yandex.by"], "yandex"),
    **dict.fromkeys(["yandex.kz", "narod.ru"], "yandex"),
    "comcast.net": "comcast",
    **dict.fromkeys(
        ["att.net", "sbcglobal.net", "bellsouth.net", "pacbell.net", "flash.net", "prodigy.net"],
        "att",
    ),
    **dict.fromkeys(["swbell.net", "ameritech.net", "snet.net", "nvbell.net", "wans.net"], "att"),
    **dict.fromkeys(["orange.fr", "wanadoo.fr"], "orange"),
    "free.fr": "free",
    "sfr.fr": "sfr",
    "laposte.net": "laposte",
    **dict.fromkeys(["t-online.de", "magenta.de"], "t-online"),
    **dict.fromkeys(["libero.it", "inwind.it", "iol.it", "blu.it", "giallo.it"], "libero"),
    **dict.fromkeys(["qq.com", "foxmail.com"], "qq"),
    **dict.fromkeys(["163.com", "126.com", "yeah.net", "188.com"], "netease"),
    **dict.fromkeys(["proton.me", "protonmail.com", "protonmail.ch", "pm.me"], "proton"),
    **dict.fromkeys(["fastmail.com", "fastmail.fm"], "fastmail"),
    **dict.fromkeys(["zoho.com", "zohomail.com"], "zoho"),
    **dict.fromkeys(["cox.net"], "cox"),
    **dict.fromkeys(["charter.net", "spectrum.net"], "charter"),
    "seznam.cz": "seznam",
    "naver.com": "naver",
    **dict.fromkeys(["hanmail.net", "daum.net"], "daum"),
}

#: Brands registered under many country suffixes: ``yahoo.<any public suffix>`` and so on.
FAMILIES: Final[dict[str, str]] = {
    "yahoo": "yahoo",
    "aol": "yahoo",
    "outlook": "microsoft",
    "hotmail": "microsoft",
    "live": "microsoft",
    "gmx": "united-internet",
}


@lru_cache(maxsize=65536)
def mailbox_provider(domain: str) -> str:
    """The provider label for a recipient domain (``gmail``, ``yahoo``, …) or ``other``."""
    domain = domain.strip().rstrip(".").lower()
    if domain in DOMAINS:
        return DOMAINS[domain]
    brand, dot, rest = domain.partition(".")
    # yahoo.co.uk is its own organizational domain; mail.yahoo.example is not a Yahoo mailbox.
    # A name of two labels always is (the Public Suffix List's rules make every top-level
    # domain a public suffix), so the list is read for longer ones only.
    if dot and brand in FAMILIES and ("." not in rest or is_organizational_domain(domain)):
        return FAMILIES[brand]
    return OTHER


def split_address(value: str) -> tuple[str, str] | None:
    """``(address, domain)`` with the domain lower-cased, or None if it is not an address.

    Accepts ``Name <local@domain>``; the local part keeps its case (RFC 5321 §2.4).
    """
    local, _, domain = value.rpartition("@")
    if (  # already as returned (most addresses in events): string methods, cheaper than a regex
        local
        and domain
        and domain[-1] != "."
        and "<" not in value
        and domain == domain.lower()
        and value.isprintable()  # false for every whitespace character but the space
        and " " not in value
    ):
        return value, domain
    return _split_any(value)


def _split_any(value: str) -> tuple[str, str] | None:
    """:func:`split_address` of any text (a test holds the quick path to this one)."""
    value = value.strip()
    if "<" in value:
        value = parseaddr(value)[1]
    local, at, domain = value.rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    local = local.strip()
    if not at or not local or not domain or _SPACE.search(local) or _SPACE.search(domain):
        return None
    return f"{local}@{domain}", domain


def domain_of(address: str) -> str:
    """The lower-cased domain of an address (``Name <a@b>`` allowed), or ``""`` if none."""
    split = split_address(address)
    return split[1] if split else ""
