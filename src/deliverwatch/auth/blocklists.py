"""DNS blocklists (RFC 5782): sending IPs on IP lists (DNSBL), the domain on domain lists (DBL).

A listing is an A record in 127.0.0.0/8 at the reversed IP (or the domain) under the list's zone;
NXDOMAIN means not listed. Lists also answer 127.x addresses that are NOT listings: Spamhaus
answers 127.255.255.x to queries it refuses (public resolvers, typing errors, over quota) and
URIBL 127.0.0.1. Treating those as listings would cry wolf on every domain checked through
8.8.8.8, so they report the result as unknown. Anything outside 127/8 is not a list's answer at
all (a resolver rewriting NXDOMAIN, or a dead list's domain re-registered) and is unknown too.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from deliverwatch.auth.findings import CATALOGUE, Finding, SectionStatus, dns_failure, finding
from deliverwatch.auth.findings import section_status as _section_status
from deliverwatch.auth.orgdomain import organizational_domain
from deliverwatch.dns import Answer, Resolver, normalize_name

DEFAULT_DNSBL_ZONES: Final[tuple[str, ...]] = (
    "zen.spamhaus.org",
    "bl.spamcop.net",
    "b.barracudacentral.org",
)
DEFAULT_DBL_ZONES: Final[tuple[str, ...]] = ("dbl.spamhaus.org", "multi.surbl.org")

_LOOPBACK_NET: Final = ipaddress.IPv4Network("127.0.0.0/8")
_ERROR_NET: Final = ipaddress.IPv4Network("127.255.255.0/24")

#: Answers that say the query was refused, not that the subject is listed.
_REFUSALS: Final[Mapping[str, str]] = {
    "127.255.255.252": "typing error in the list's name",
    "127.255.255.254": "query through a public or open resolver",
    "127.255.255.255": "too many queries from this resolver",
    # No major list uses 127.0.0.1 for a listing (it is the RFC 5782 §5 test address that must
    # never be listed); URIBL answers it to resolvers it blocks.
    "127.0.0.1": "query refused (resolver blocked or over quota)",
}


@dataclass(frozen=True, slots=True)
class ListInfo:
    """What a well-known list's return codes mean, and where to look a listing up."""

    name: str
    zones: tuple[str, ...]  # the zone or a suffix of it (Spamhaus DQS: <key>.zen.dq.spamhaus.net)
    codes: Mapping[str, str] = field(default_factory=dict)
    bits: Mapping[int, str] = field(default_factory=dict)  # last-octet bitmask lists
    refusals: Mapping[str, str] = field(default_factory=dict)
    lookup: str = ""

    def matches(self, zone: str) -> bool:
        return any(zone == z or zone.endswith("." + z) for z in self.zones)


_DBL_ABUSED = "abused legitimate domain"
KNOWN_LISTS: Final[tuple[ListInfo, ...]] = (
    ListInfo(
        "Spamhaus ZEN",
        ("zen.spamhaus.org", "zen.dq.spamhaus.net"),
        codes={
            "127.0.0.2": "SBL: spam source or spam operation",
            "127.0.0.3": "SBL CSS: snowshoe spam or low-reputation sending",
            "127.0.0.4": "XBL: infected host, exploited or proxy (CBL)",
            "127.0.0.5": "XBL: infected host",
            "127.0.0.6": "XBL: infected host",
            "127.0.0.7": "XBL: infected host",
            "127.0.0.9": "SBL DROP: hijacked or criminal network",
            "127.0.0.10": "PBL (ISP maintained): end-user range, should not send direct to MX",
            "127.0.0.11": "PBL (Spamhaus maintained): end-user range, should not send direct to MX",
        },
        lookup="https://check.spamhaus.org/",
    ),
    ListInfo(
        "Spamhaus DBL",
        ("dbl.spamhaus.org", "dbl.dq.spamhaus.net"),
        codes={
            "127.0.1.2": "spam domain",
            "127.0.1.4": "phishing domain",
            "127.0.1.5": "malware domain",
            "127.0.1.6": "botnet command-and-control domain",
            "127.0.1.102": f"{_DBL_ABUSED} (spam)",
            "127.0.1.103": f"{_DBL_ABUSED} (spammed redirector or URL shortener)",
            "127.0.1.104": f"{_DBL_ABUSED} (phishing)",
            "127.0.1.105": f"{_DBL_ABUSED} (malware)",
            "127.0.1.106": f"{_DBL_ABUSED} (botnet command-and-control)",
        },
        refusals={"127.0.1.255": "IP address queries are not allowed on the DBL"},
        lookup="https://check.spamhaus.org/",
    ),
    ListInfo(
        "SpamCop",
        ("bl.spamcop.net",),
        codes={"127.0.0.2": "reported as a spam source"},
        lookup="https://www.spamcop.net/bl.shtml",
    ),
    ListInfo(
        "Barracuda",
        ("b.barracudacentral.org",),
        codes={"127.0.0.2": "poor sending reputation"},
        lookup="https://www.barracudacentral.org/lookups",
    ),
    ListInfo(
        "SURBL",
        ("multi.surbl.org",),
        bits={8: "phishing", 16: "malware", 64: "abuse (spam)", 128: "cracked site"},
        lookup="https://www.surbl.org/surbl-analysis",
    ),
    ListInfo(
        "URIBL",
        ("multi.uribl.com",),
        bits={2: "black", 4: "grey", 8: "red"},
        lookup="https://admin.uribl.com/",
    ),
)


def list_info(zone: str) -> ListInfo | None:
    zone = normalize_name(zone)
    return next((info for info in KNOWN_LISTS if info.matches(zone)), None)


def refusal(zone: str, code: str) -> str | None:
    """Why ``code`` is a refused query rather than a listing, or None if it is not one."""
    info = list_info(zone)
    if info is not None and code in info.refusals:
        return info.refusals[code]
    if code in _REFUSALS:
        return _REFUSALS[code]
    if _in(code, _ERROR_NET):
        return "query error"
    return None


def code_meaning(zone: str, code: str) -> str:
    """The text for one listing return code; lists we do not know get a generic one."""
    info = list_info(zone)
    if info is None:
        return "listed"
    if code in info.codes:
        return info.codes[code]
    if info.bits:
        last = int(code.rsplit(".", 1)[1])
        parts = [text for bit, text in sorted(info.bits.items()) if last & bit]
        if parts:
            return ", ".join(parts)
    return "listed (unrecognized return code)"


def _in(code: str, net: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.ip_address(code) in net
    except ValueError:
        return False


def ip_query_name(ip: str, zone: str) -> str:
    """RFC 5782 §2.1/§2.4: IPv4 octets or IPv6 nibbles in reverse, then the zone."""
    pointer = ipaddress.ip_address(ip.strip()).reverse_pointer
    return f"{pointer.rsplit('.', 2)[0]}.{normalize_name(zone)}"


@dataclass(slots=True)
class BlocklistEntry:
    zone: str
    kind: Literal["ip", "domain"]
    subject: str
    query: str
    listed: bool | None = None  # None: unknown (lookup failed, refused or bogus answer)
    codes: tuple[str, ...] = ()
    reason: str | None = None  # the list's TXT record, for humans
    meaning: str | None = None
    answer: Answer | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "kind": self.kind,
            "subject": self.subject,
            "listed": self.listed,
            "codes": list(self.codes),
            "reason": self.reason,
            "meaning": self.meaning,
        }


@dataclass
class BlocklistResult:
    domain: str
    entries: list[BlocklistEntry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    status: SectionStatus = "not_checked"

    @property
    def listed(self) -> list[BlocklistEntry]:
        return [e for e in self.entries if e.listed]

    def to_dict(self) -> dict[str, Any]:
        return {"entries": [e.to_dict() for e in self.entries], "status": self.status}


async def _look_up(entry: BlocklistEntry, resolver: Resolver) -> Finding | None:
    answer = entry.answer = await resolver.query(entry.query, "A")
    what = f"{entry.subject} on {entry.zone}"
    if answer.failed:
        return dns_failure(answer, f"blocklist lookup of {what}")
    if not answer.ok:
        entry.listed = False
        return None
    entry.codes = answer.records
    refused = [(c, why) for c in answer.records if (why := refusal(entry.zone, c))]
    if refused:
        code, why = refused[0]
        entry.meaning = why
        return finding(
            "blocklist.query_refused",
            f"{entry.zone} refused the query for {entry.subject} ({code}: {why}); result unknown",
        )
    listing = [c for c in answer.records if _in(c, _LOOPBACK_NET)]
    if not listing:
        return finding(
            "blocklist.bogus_answer",
            f"{entry.zone} answered {', '.join(answer.records)} for {entry.subject}, which is "
            "not a listing code (127.0.0.0/8); result unknown",
        )
    entry.listed = True
    entry.codes = tuple(listing)
    entry.meaning = "; ".join(dict.fromkeys(code_meaning(entry.zone, c) for c in listing))
    txt = await resolver.txt(entry.query)  # only for listings: lists limit query volume
    if txt.ok:
        entry.reason = " ".join(txt.records)
    info = list_info(entry.zone)
    name = f"{info.name} ({entry.zone})" if info else entry.zone
    reason = f"; {entry.reason}" if entry.reason else ""
    fix = CATALOGUE["blocklist.listed"].fix
    if info is not None and info.lookup:
        fix = f"{fix} Look the listing up at {info.lookup}."
    return finding(
        "blocklist.listed",
        f"{entry.subject} is listed on {name}: {', '.join(listing)} = {entry.meaning}{reason}",
        fix=fix,
    )


async def check_blocklists(
    domain: str,
    resolver: Resolver,
    *,
    ips: Sequence[str],
    dnsbl_zones: Sequence[str],
    dbl_zones: Sequence[str],
) -> BlocklistResult:
    """Every IP on every DNSBL and the domain on every DBL, all queried at once.

    Domain lists are also asked about the organizational domain when it differs: SURBL and URIBL
    list registered domains only. Raises ValueError for an entry of ``ips`` that is not an IP.
    """
    domain = normalize_name(domain)
    result = BlocklistResult(domain)
    addresses = list(dict.fromkeys(str(ipaddress.ip_address(ip.strip())) for ip in ips))
    subjects = list(dict.fromkeys((domain, organizational_domain(domain))))
    ip_zones = list(dict.fromkeys(normalize_name(z) for z in dnsbl_zones if normalize_name(z)))
    domain_zones = list(dict.fromkeys(normalize_name(z) for z in dbl_zones if normalize_name(z)))
    for zone in ip_zones:
        result.entries += [
            BlocklistEntry(zone, "ip", ip, ip_query_name(ip, zone)) for ip in addresses
        ]
    for zone in domain_zones:
        result.entries += [BlocklistEntry(zone, "domain", s, f"{s}.{zone}") for s in subjects]
    if not result.entries:
        return result  # nothing configured: "not_checked"
    outcomes = await asyncio.gather(*(_look_up(e, resolver) for e in result.entries))
    result.findings = [f for f in outcomes if f is not None]
    unknown = any(e.listed is None for e in result.entries)
    result.status = _section_status(result.findings, unknown=unknown)
    return result


__all__: Sequence[str] = [
    "DEFAULT_DBL_ZONES",
    "DEFAULT_DNSBL_ZONES",
    "KNOWN_LISTS",
    "BlocklistEntry",
    "BlocklistResult",
    "ListInfo",
    "check_blocklists",
    "code_meaning",
    "ip_query_name",
    "list_info",
    "refusal",
]
