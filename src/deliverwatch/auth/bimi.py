"""BIMI (draft-brand-indicators-for-message-identification): the assertion record and its logo.

Mailbox providers show a BIMI logo only when the record parses, DMARC is at enforcement, the
logo is an SVG Tiny Portable/Secure document served over HTTPS, and (for Gmail and Apple) a
mark certificate is published — each missing piece silently means "no logo".
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from deliverwatch.auth.findings import Finding, SectionStatus, dns_failure, finding, section_status
from deliverwatch.auth.orgdomain import organizational_domain
from deliverwatch.dns import Answer, Resolver, normalize_name
from deliverwatch.http import Fetcher

try:  # defusedxml refuses entity declarations and external references outright
    from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
    from defusedxml import ElementTree as _defused
except ImportError:  # pragma: no cover - exercised by monkeypatching in tests
    _defused = None

    class DefusedXmlException(ValueError):  # type: ignore[no-redef]
        """Stand-in so the except clause below needs no branch."""


LOGO_MAX_BYTES: Final = 32 * 1024  # the BIMI SVG profile's size limit
SVG_NS: Final = "http://www.w3.org/2000/svg"
AVP_VALUES: Final = ("brand", "personal")
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_ENTITIES: Final = "the document declares XML entities or external references; a logo must not"


class BimiSyntaxError(ValueError):
    """The BIMI assertion record does not parse."""


@dataclass(frozen=True)
class BimiRecord:
    logo_url: str  # "" when absent or empty
    authority_url: str
    avp: str | None = None

    @property
    def declined(self) -> bool:
        """``v=BIMI1; l=; a=;``: the domain declines to show a logo."""
        return not self.logo_url and not self.authority_url


def parse_bimi(text: str) -> BimiRecord:
    """Parse ``v=BIMI1; l=<https URL>; a=<https URL>[; avp=brand|personal]``.

    Unknown tags are ignored; a repeated tag is an error (the record would be ambiguous).
    Non-HTTPS URLs parse — :func:`check_bimi` reports them as ``bimi.insecure_uri``.
    """
    parts = [p.strip(" \t") for p in text.strip().split(";")]
    if parts and parts[-1] == "":
        parts.pop()
    tags: dict[str, str] = {}
    for index, part in enumerate(parts):
        name, eq, value = part.partition("=")
        name, value = name.strip(" \t"), value.strip(" \t")
        if not eq or not _TAG.match(name):
            raise BimiSyntaxError(f"{part[:40]!r} is not a tag=value pair")
        name = name.lower()
        if index == 0 and (name != "v" or value != "BIMI1"):
            raise BimiSyntaxError(f"the record must start with v=BIMI1, not {part[:40]!r}")
        if name in tags:
            raise BimiSyntaxError(f"tag {name}= appears more than once")
        tags[name] = value
    if not tags:
        raise BimiSyntaxError("the record is empty")
    avp = tags.get("avp")
    if avp is not None and avp.lower() not in AVP_VALUES:
        raise BimiSyntaxError(f"avp={avp[:20]} must be brand or personal")
    return BimiRecord(
        _uri(tags.get("l", ""), "l"),
        _uri(tags.get("a", ""), "a"),
        avp.lower() if avp is not None else None,
    )


def _uri(value: str, tag: str) -> str:
    if not value:
        return ""
    if "," in value:
        raise BimiSyntaxError(f"{tag}= must be a single URI, not a list")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise BimiSyntaxError(f"{tag}={value[:60]} is not a URI: {exc}") from None
    if not parts.scheme or not parts.netloc or any(c.isspace() for c in value):
        raise BimiSyntaxError(f"{tag}={value[:60]} is not an absolute URI")
    return value


def svg_problem(data: bytes) -> str | None:
    """Why ``data`` is not an acceptable BIMI logo (SVG Tiny PS), or None.

    Checks what breaks display in practice: well-formed XML, an ``<svg>`` root in the SVG
    namespace, ``baseProfile="tiny-ps"``, a ``<title>``, and no ``<script>``.
    """
    try:
        if _defused is not None:
            root = _defused.fromstring(
                data, forbid_dtd=False, forbid_entities=True, forbid_external=True
            )
        else:
            if b"<!ENTITY" in data:  # the stdlib expands entities; refuse them up front
                return _ENTITIES
            root = ET.fromstring(data)  # noqa: S314 - entities refused above, size capped
    except DefusedXmlException:
        return _ENTITIES
    except ET.ParseError as exc:
        return f"not an SVG document: not well-formed XML ({exc})"
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        return f"not an SVG document: {exc.__class__.__name__}: {exc}"
    namespace, local = _qname(root.tag)
    if local != "svg":
        return f"not an SVG document: the root element is <{local[:40]}>, not <svg>"
    if namespace != SVG_NS:
        return f'the <svg> element is not in the SVG namespace (xmlns="{SVG_NS}")'
    profile = root.get("baseProfile")
    if profile is None:
        return 'the <svg> element has no baseProfile="tiny-ps": BIMI requires SVG Tiny PS'
    if profile != "tiny-ps":
        return f'baseProfile="{profile[:20]}", but BIMI requires "tiny-ps" (SVG Tiny PS)'
    if root.find(f"{{{SVG_NS}}}title") is None:
        return "SVG Tiny PS requires a <title> element (the brand name) under <svg>"
    if any(_qname(el.tag)[1] == "script" for el in root.iter()):
        return "the logo contains <script>, which SVG Tiny PS forbids"
    return None


def _qname(tag: object) -> tuple[str, str]:
    """``"{ns}local"`` → ``("ns", "local")``; comments and PIs have non-string tags."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].rpartition("}")
        return namespace, local
    return "", tag


@dataclass
class BimiResult:
    domain: str
    selector: str = "default"
    published: bool = False
    record: str | None = None
    record_name: str | None = None
    parsed: BimiRecord | None = None
    logo_checked: bool = False
    findings: list[Finding] = field(default_factory=list)
    status: SectionStatus = "ok"

    @property
    def logo_url(self) -> str | None:
        return self.parsed.logo_url or None if self.parsed else None

    @property
    def authority_url(self) -> str | None:
        return self.parsed.authority_url or None if self.parsed else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "record": self.record,
            "record_name": self.record_name,
            "declined": bool(self.parsed and self.parsed.declined),
            "logo_url": self.logo_url,
            "authority_url": self.authority_url,
            "logo_checked": self.logo_checked,
            "status": self.status,
        }


async def check_bimi(
    domain: str,
    resolver: Resolver,
    *,
    dmarc_enforcing: bool | None,
    fetcher: Fetcher | None,
    selector: str = "default",
) -> BimiResult:
    """Look up ``<selector>._bimi.<domain>`` (falling back to the organizational domain) and
    check the record, its DMARC prerequisite and, when ``fetcher`` is given, the logo.

    ``dmarc_enforcing`` None means the DMARC result is unknown: no finding is made about it.
    """
    domain = normalize_name(domain)
    result = BimiResult(domain, selector)
    names = [f"{selector}._bimi.{domain}"]
    org = organizational_domain(domain)
    if org != domain:  # the draft's fallback; looked up concurrently because speed matters
        names.append(f"{selector}._bimi.{org}")
    answers: list[Answer] = list(await asyncio.gather(*(resolver.txt(n) for n in names)))
    records: list[str] = []
    for name, answer in zip(names, answers, strict=True):
        if answer.failed:
            result.findings.append(dns_failure(answer, "BIMI record"))
            result.status = section_status(result.findings, unknown=True)
            return result
        records = [r for r in answer.records if r.lstrip().lower().startswith("v=bimi1")]
        if records:
            result.record_name = name
            break
    if not records:
        return result
    result.published = True
    result.record = records[0]
    if len(records) > 1:
        result.findings.append(
            finding(
                "bimi.syntax_error",
                f"{result.record_name} has {len(records)} BIMI records; receivers use none of them",
            )
        )
    else:
        try:
            result.parsed = parse_bimi(records[0])
        except BimiSyntaxError as exc:
            result.findings.append(finding("bimi.syntax_error", f"{result.record_name}: {exc}"))
    if result.parsed is not None and not result.parsed.declined:
        await _check_assertion(result, result.parsed, dmarc_enforcing, fetcher)
    result.status = section_status(result.findings)
    return result


async def _check_assertion(
    result: BimiResult, record: BimiRecord, dmarc_enforcing: bool | None, fetcher: Fetcher | None
) -> None:
    if dmarc_enforcing is False:
        result.findings.append(
            finding(
                "bimi.requires_enforcing_dmarc",
                f"{result.domain} publishes BIMI but its DMARC policy is not at enforcement, so no "
                "logo is shown",
            )
        )
    for tag, url in (("l", record.logo_url), ("a", record.authority_url)):
        if url and urlsplit(url).scheme.lower() != "https":
            result.findings.append(finding("bimi.insecure_uri", f"{tag}={url} is not HTTPS"))
    if not record.authority_url:
        result.findings.append(
            finding(
                "bimi.no_certificate",
                f"{result.record_name} has no a= mark certificate; Gmail and Apple Mail will not "
                "show the logo",
            )
        )
    url = record.logo_url
    if fetcher is None or not url or urlsplit(url).scheme.lower() != "https":
        return
    response = await fetcher.get(url, max_bytes=LOGO_MAX_BYTES, follow_redirects=True)
    result.logo_checked = True
    if response.too_large:
        result.findings.append(
            finding(
                "bimi.logo_invalid",
                f"{url} is larger than {LOGO_MAX_BYTES // 1024} KB, the BIMI limit",
            )
        )
    elif not response.ok:
        result.findings.append(finding("bimi.logo_unreachable", f"{url}: {response.error}"))
    else:
        problem = svg_problem(response.body)
        if problem:
            result.findings.append(finding("bimi.logo_invalid", f"{url}: {problem}"))


__all__ = [
    "LOGO_MAX_BYTES",
    "BimiRecord",
    "BimiResult",
    "BimiSyntaxError",
    "check_bimi",
    "parse_bimi",
    "svg_problem",
]
