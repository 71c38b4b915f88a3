"""Link rules that go to the network (``--check-links``): broken links, URI blocklists.

Fetches go through the project's :class:`~deliverwatch.http.Fetcher` (bounded size and time,
redirects re-vetted, private addresses refused unless ``http.allow_private``) and lookups
through the DNS seam. What could not be decided (timeouts, failed lookups, sites refusing
robots) is reported as unknown with a 0-point code, never as broken or listed.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from deliverwatch.auth.blocklists import code_meaning, list_info, refusal
from deliverwatch.content.findings import LintFinding, Where, clip, finding
from deliverwatch.content.message import Link, Message
from deliverwatch.content.rules.links import web_links
from deliverwatch.content.urls import is_ip, org
from deliverwatch.dns import Resolver, normalize_name

if TYPE_CHECKING:
    from deliverwatch.http import Fetcher

#: Links checked per message at most (each distinct URL once per run).
MAX_CHECKED_LINKS: Final = 50
PROBE_BYTES: Final = 16_384  # enough to see the response; a larger body still proves the link
_REFUSING_ROBOTS: Final = frozenset({401, 403, 405, 429})
_LOOPBACK: Final = ipaddress.IPv4Network("127.0.0.0/8")

Verdict = Literal["ok", "broken", "unknown"]


@dataclass(frozen=True, slots=True)
class Probe:
    verdict: Verdict
    reason: str = ""


class LinkChecker:
    """Probes URLs for one run; each distinct URL is fetched once, concurrently."""

    def __init__(self, fetcher: Fetcher, *, max_links: int = MAX_CHECKED_LINKS) -> None:
        self.fetcher = fetcher
        self.max_links = max_links
        self._probes: dict[str, asyncio.Task[Probe]] = {}

    def probe(self, url: str) -> asyncio.Task[Probe]:
        task = self._probes.get(url)
        if task is None:
            task = self._probes[url] = asyncio.ensure_future(self._probe(url))
        return task

    async def _probe(self, url: str) -> Probe:
        result = await self.fetcher.get(url, max_bytes=PROBE_BYTES, follow_redirects=True)
        status = result.status_code
        if status is not None and 200 <= status < 300:
            return Probe("ok")  # a too-large or oddly encoded body still proves the link works
        if status in _REFUSING_ROBOTS:
            return Probe("unknown", f"{result.error} (the site may refuse robots)")
        error = result.error
        unknown = ("timed out", "DNS lookup of", "redirect", "HTTPS to HTTP")
        if status is None and any(marker in error for marker in unknown):
            return Probe("unknown", error)
        if status is not None and 300 <= status < 400:
            return Probe("unknown", error)
        return Probe("broken", error or f"HTTP {status}")

    async def check(self, message: Message) -> list[LintFinding]:
        """``link.broken`` / ``link.unverified`` for the message's distinct http(s) links."""
        first: dict[str, Link] = {}
        for link, _host in web_links(message):
            first.setdefault(link.href, link)
        targets = list(first.items())[: self.max_links]
        probes = await asyncio.gather(*(self.probe(url) for url, _ in targets))
        broken = [
            (link, p) for (_, link), p in zip(targets, probes, strict=True) if p.verdict == "broken"
        ]
        unknown = [
            (link, p)
            for (_, link), p in zip(targets, probes, strict=True)
            if p.verdict == "unknown"
        ]
        skipped = len(first) - len(targets)
        note = f" ({skipped} more links not checked)" if skipped else ""
        findings = []
        if broken:
            findings.append(_grouped("link.broken", "broken", broken, note))
        if unknown:
            findings.append(_grouped("link.unverified", "could not be checked", unknown, note))
        return findings


def _grouped(code: str, what: str, hits: Sequence[tuple[Link, Probe]], note: str) -> LintFinding:
    shown = "; ".join(f"{clip(x.href, 60)}: {clip(p.reason, 120)}" for x, p in hits[:5])
    more = f" and {len(hits) - 5} more" if len(hits) > 5 else ""
    link = hits[0][0]
    return finding(
        code,
        f"{len(hits)} link(s) {what}: {shown}{more}{note}",
        Where(link.line, f'<a href="{clip(link.href, 70)}">', link.part),
    )


async def check_uri_blocklists(
    message: Message, resolver: Resolver, zones: Sequence[str]
) -> list[LintFinding]:
    """Each linked host and its organizational domain on each URI blocklist zone (RFC 5782 §2.3)."""
    zones = list(dict.fromkeys(normalize_name(z) for z in zones if normalize_name(z)))
    first: dict[str, Link] = {}
    for link, host in web_links(message):
        if not is_ip(host):
            for subject in (host, org(host)):
                first.setdefault(subject, link)
    queries = [(subject, zone) for subject in first for zone in zones]
    answers = await asyncio.gather(*(resolver.query(f"{s}.{z}", "A") for s, z in queries))
    listed: list[tuple[Link, str]] = []
    unknown: list[tuple[Link, str]] = []
    for (subject, zone), answer in zip(queries, answers, strict=True):
        link = first[subject]
        if answer.failed:
            unknown.append((link, f"{subject} on {zone}: {answer.describe()}"))
            continue
        if not answer.ok:
            continue
        refused = [(c, why) for c in answer.records if (why := refusal(zone, c))]
        codes = [c for c in answer.records if _loopback(c)]
        if refused:
            unknown.append((link, f"{zone} refused the query for {subject} ({refused[0][1]})"))
        elif not codes:
            unknown.append((link, f"{zone} answered {', '.join(answer.records)} for {subject}"))
        else:
            info = list_info(zone)
            name = info.name if info else zone
            meaning = "; ".join(dict.fromkeys(code_meaning(zone, c) for c in codes))
            listed.append((link, f"{subject} on {name} ({', '.join(codes)}: {meaning})"))
    findings = []
    for code, hits in (("link.blocklisted", listed), ("link.blocklist_unknown", unknown)):
        if hits:
            link = hits[0][0]
            shown = "; ".join(text for _, text in hits[:6])
            more = f" and {len(hits) - 6} more" if len(hits) > 6 else ""
            findings.append(
                finding(
                    code,
                    shown + more,
                    Where(link.line, f'<a href="{clip(link.href, 70)}">', link.part),
                )
            )
    return findings


def _loopback(code: str) -> bool:
    try:
        return ipaddress.ip_address(code) in _LOOPBACK
    except ValueError:
        return False
