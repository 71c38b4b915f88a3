"""URL helpers for the link rules: hosts, template placeholders, shorteners, tracking domains."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

from deliverwatch.auth.orgdomain import _psl, organizational_domain  # one PSL per process

#: Public URL shorteners (a branded short domain of your own is fine and not listed).
SHORTENERS: Final = frozenset(
    {
        "bit.ly",
        "bitly.com",
        "buff.ly",
        "cutt.ly",
        "goo.gl",
        "is.gd",
        "lnkd.in",
        "ow.ly",
        "rb.gy",
        "rebrand.ly",
        "s.id",
        "shorturl.at",
        "t.co",
        "t.ly",
        "tiny.cc",
        "tinyurl.com",
        "tr.im",
        "v.gd",
        "x.co",
        "bit.do",
        "qrco.de",
        "shorte.st",
        "adf.ly",
        "soo.gd",
        "t2m.io",
        "tiny.one",
    }
)
#: Organizational domains of ESPs' shared click-tracking hosts.
TRACKING_DOMAINS: Final = frozenset(
    {
        "sendgrid.net",
        "mailgun.org",
        "list-manage.com",
        "mailchi.mp",
        "rs6.net",
        "hubspotlinks.com",
        "hubspotemail.net",
        "mandrillapp.com",
        "pstmrk.it",
        "exct.net",
        "sparkpostmail.com",
        "spgo.io",
        "mjt.lu",
        "sendibt2.com",
        "sendibt3.com",
        "sendibm1.com",
        "klclick.com",
        "klclick1.com",
        "klclick2.com",
        "klclick3.com",
        "awstrack.me",
        "convertkit-mail.com",
        "convertkit-mail2.com",
        "cmail19.com",
        "cmail20.com",
        "createsend.com",
        "mlsend.com",
        "mailerlite.com",
        "e2ma.net",
        "ccsend.com",
        "rsgsv.net",
        "intercom-clicks.com",
        "customeriomail.com",
        "emltrk.com",
    }
)
#: First labels that mark a host as a click-tracking host on any domain.
TRACKING_LABELS: Final = frozenset({"click", "clicks", "track", "tracking", "trk", "ct", "links"})
_PLACEHOLDER: Final = re.compile(r"\{\{|\{%|\*\||\|\*|%%|\[\[|<%|%[A-Za-z_]+%|\$\{|#\{|@@")
_DOMAIN_TEXT: Final = re.compile(
    r"(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62})"
    r"(?::\d{1,5})?(?:[/?#]\S*)?",
    re.IGNORECASE,
)


def is_placeholder(href: str) -> bool:
    """Template merge tags (``{{unsubscribe}}``, ``*|UNSUB|*``, ``%%url%%`` …): not a URL yet."""
    return bool(_PLACEHOLDER.search(href))


_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def scheme(href: str) -> str:
    head, colon, _ = href.partition(":")
    return head.lower() if colon and _SCHEME.fullmatch(head) else ""


@lru_cache(maxsize=4096)
def url_host(href: str) -> str | None:
    """The host of an absolute http(s) URL, lower-case, IDNA-encoded; None otherwise."""
    if scheme(href) not in ("http", "https") or is_placeholder(href):
        return None
    try:
        host = urlsplit(href.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host.lower()


@lru_cache(maxsize=4096)
def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return bool(re.fullmatch(r"\d+", host))  # http://3232235777/ is an IPv4 address too
    return True


@lru_cache(maxsize=4096)
def org(host: str) -> str:
    return organizational_domain(host)


def known_suffix(host: str) -> bool:
    """Does ``host`` end in a real public suffix (so ``report.pdf`` is not taken for a domain)?"""
    return _psl().publicsuffix(host, accept_unknown=False) is not None and "." in host


def shown_host(text: str) -> str | None:
    """The host a link text displays, when the whole text is a URL or a domain name."""
    text = text.strip().strip("<>()[]\"'").rstrip(".,;:!")
    matched = _DOMAIN_TEXT.fullmatch(text)
    if matched is None:
        return None
    host = matched.group(1).lower()
    return host if known_suffix(host) else None


def is_shortener(host: str, extra: frozenset[str] = frozenset()) -> bool:
    if host in SHORTENERS or host in extra:
        return True
    domain = org(host)
    return domain in SHORTENERS or domain in extra


def is_tracking_host(host: str) -> bool:
    return org(host) in TRACKING_DOMAINS or host.split(".", 1)[0] in TRACKING_LABELS
