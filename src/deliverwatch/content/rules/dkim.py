"""DKIM-Signature checks: verify with dkimpy, the key fetched through our DNS seam.

dkimpy looks keys up itself through a ``dnsfunc(name, timeout=…)`` callback; we look every
``<s>._domainkey.<d>`` up first with the :class:`~deliverwatch.dns.Resolver` (concurrently,
cached, failures told apart from missing records) and hand dkimpy a callback that only returns
those answers. A failed lookup is reported as unknown (``dkim.key_unavailable``), never as an
invalid signature.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Final

from deliverwatch.content.findings import LintFinding, Where, clip, finding
from deliverwatch.content.message import Message
from deliverwatch.dns import Answer, Resolver

_QUIET = logging.getLogger("deliverwatch.content.dkimpy")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False  # dkimpy logs every failure at error level; we report findings instead
_NAME: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?\Z")


def signature_tags(value: str) -> dict[str, str]:
    """RFC 6376 §3.2 tag-list: ``tag=value`` pairs split on ``;``, whitespace removed."""
    tags: dict[str, str] = {}
    for item in value.split(";"):
        name, equals, text = item.partition("=")
        if equals:
            tags.setdefault(name.strip().lower(), re.sub(r"\s+", "", text))
    return tags


def signing_domains(message: Message) -> list[str]:
    """The ``d=`` domains of the message's DKIM signatures, lower-case."""
    domains = []
    for header in message.all_headers("DKIM-Signature"):
        domain = signature_tags(header.value).get("d", "").strip(".").lower()
        if domain:
            domains.append(domain)
    return domains


def key_name(tags: Mapping[str, str]) -> str | None:
    selector, domain = tags.get("s", "").lower(), tags.get("d", "").strip(".").lower()
    name = f"{selector}._domainkey.{domain}"
    return name if selector and domain and _NAME.match(name) else None


async def verify_dkim(message: Message, resolver: Resolver) -> list[LintFinding]:
    """Verify every DKIM-Signature of a full message; one finding per failing signature."""
    if message.kind != "message" or message.error:
        return []
    headers = message.all_headers("DKIM-Signature")
    if not headers:
        return []
    tags = [signature_tags(h.value) for h in headers]
    names = sorted({n for t in tags if (n := key_name(t))})
    answers = dict(zip(names, await asyncio.gather(*(resolver.txt(n) for n in names)), strict=True))
    findings = []
    for index, (header, tag) in enumerate(zip(headers, tags, strict=True)):
        where = Where(header.line, f"DKIM-Signature d={tag.get('d', '?')} s={tag.get('s', '?')}")
        name = key_name(tag)
        answer = answers.get(name) if name else None
        found = _check_one(message.raw, index, name, answer, where)
        if found is not None:
            findings.append(found)
    return findings


def _key_record(answer: Answer) -> bytes | None:
    records = [r for r in answer.records if "p=" in r]
    return records[0].encode("utf-8") if records else None


def _check_one(
    raw: bytes, index: int, name: str | None, answer: Answer | None, where: Where
) -> LintFinding | None:
    label = f"DKIM signature {where.element}"
    if name is None or answer is None:
        return finding("dkim.signature_invalid", f"{label}: no valid d= and s= tags", where)
    if answer.failed:
        return finding(
            "dkim.key_unavailable", f"{label}: key lookup {answer.describe()}; not verified", where
        )
    record = _key_record(answer)
    if record is None:
        return finding("dkim.signature_invalid", f"{label}: no DKIM key published at {name}", where)

    def dnsfunc(query: bytes | str, timeout: float = 5) -> bytes | None:
        asked = query.decode("ascii", "replace") if isinstance(query, bytes) else query
        return record if asked.rstrip(".").lower() == name else None

    import dkim  # here, not at the top: only signed messages need dkimpy (CLI start-up)

    try:
        valid = dkim.DKIM(raw, logger=_QUIET).verify(idx=index, dnsfunc=dnsfunc)
    except dkim.NaClNotFoundError:
        return finding(
            "dkim.key_unavailable", f"{label}: ed25519 needs PyNaCl to verify; not verified", where
        )
    except dkim.DKIMException as exc:
        text = str(exc)
        if "body hash mismatch" in text:
            return finding(
                "dkim.body_modified",
                f"{label}: the body hash does not match (the body changed after signing)",
                where,
            )
        return finding("dkim.signature_invalid", f"{label}: {clip(text, 160)}", where)
    if valid:
        return None
    return finding(
        "dkim.signature_invalid",
        f"{label}: the signature does not verify with the key at {name} (signed headers changed, "
        "or the key does not match)",
        where,
    )
