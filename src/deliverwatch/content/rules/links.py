"""Link rules that need no network: shorteners, IP hosts, mismatched text, http, domains."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from deliverwatch.auth.orgdomain import is_aligned
from deliverwatch.content.findings import LintFinding, Where, clip, finding
from deliverwatch.content.message import Link, Message, address_domain
from deliverwatch.content.options import LintOptions
from deliverwatch.content.urls import (
    is_ip,
    is_placeholder,
    is_shortener,
    is_tracking_host,
    org,
    scheme,
    shown_host,
    url_host,
)


def web_links(message: Message) -> list[tuple[Link, str]]:
    """Links with an http(s) host, with that host (placeholders and mailto: left out)."""
    return [(link, host) for link in message.links if (host := url_host(link.href))]


def _where(link: Link) -> Where:
    if link.part == "text/plain":
        return Where(link.line, clip(link.href, 70), link.part)
    return Where(link.line, f'<a href="{clip(link.href, 70)}">', link.part)


def _summary(hits: Sequence[Link], describe: str) -> str:
    lines = sorted({x.line for x in hits if x.line is not None})
    # one place: ``where`` already names it
    where = f" (lines {', '.join(map(str, lines[:8]))})" if len(lines) > 1 else ""
    distinct = len({x.href for x in hits})
    more = f" and {distinct - 1} more" if distinct > 1 else ""
    return f"{describe}{more}{where}"


def shortener(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    hits = [x for x, host in web_links(message) if is_shortener(host, options.shorteners)]
    if hits:
        yield finding(
            "link.shortener",
            _summary(hits, f"link through a URL shortener: {clip(hits[0].href, 70)}"),
            _where(hits[0]),
        )


def ip_host(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    hits = [x for x, host in web_links(message) if is_ip(host)]
    if hits:
        yield finding(
            "link.ip_host",
            _summary(hits, f"link to an IP address: {clip(hits[0].href, 70)}"),
            _where(hits[0]),
        )


def text_href_mismatch(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    """The anchor text is a URL or domain whose organizational domain differs from the href's."""
    hits: list[tuple[Link, str, str]] = []
    for link, host in web_links(message):
        shown = shown_host(link.text)
        if shown and org(shown) != org(host):
            hits.append((link, shown, host))
    if hits:
        link, shown, host = hits[0]
        yield finding(
            "link.text_href_mismatch",
            _summary([h[0] for h in hits], f"link text shows {shown} but goes to {host}"),
            _where(link),
        )


def insecure_http(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    hits = [x for x in message.links if scheme(x.href) == "http" and not is_placeholder(x.href)]
    if hits:
        yield finding(
            "link.insecure_http",
            _summary(hits, f"plain http link: {clip(hits[0].href, 70)}"),
            _where(hits[0]),
        )


def too_many_domains(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    domains = sorted({org(host) for _, host in web_links(message)})
    if len(domains) > options.max_link_domains:
        yield finding(
            "link.too_many_domains",
            f"links go to {len(domains)} domains (more than {options.max_link_domains}): "
            + ", ".join(domains[:12])
            + (" …" if len(domains) > 12 else ""),
            Where(None, "links"),
        )


def tracking_domain_not_aligned(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    sender = message.header("From")
    from_domain = address_domain(sender.value) if sender else None
    if not from_domain:
        return
    hits = [
        (x, host)
        for x, host in web_links(message)
        if is_tracking_host(host) and not is_aligned(host, from_domain)
    ]
    if hits:
        hosts = sorted({host for _, host in hits})
        yield finding(
            "link.tracking_domain_not_aligned",
            _summary(
                [x for x, _ in hits],
                f"click tracking through {', '.join(hosts[:4])}, not under {from_domain}",
            ),
            _where(hits[0][0]),
        )


RULES = (
    shortener,
    ip_host,
    text_href_mismatch,
    insecure_http,
    too_many_domains,
    tracking_domain_not_aligned,
)
