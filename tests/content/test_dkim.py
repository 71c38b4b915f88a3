"""DKIM verification with dkimpy, keys fetched through the DNS seam from tests/zones/lint.test."""

from __future__ import annotations

from deliverwatch.content.lint import Network, lint
from deliverwatch.content.message import parse_message
from deliverwatch.content.rules.dkim import signature_tags, signing_domains, verify_dkim
from deliverwatch.dns import Resolver
from tests.content.support import lint_shop_message, sign


async def dkim_codes(raw: bytes, resolver: Resolver) -> list[str]:
    return sorted(f.code for f in await verify_dkim(parse_message(raw), resolver))


async def test_signed_message_verifies_and_aligns(resolver: Resolver) -> None:
    raw = sign(lint_shop_message())
    report = await lint(parse_message(raw), network=Network(resolver))
    assert report.codes == set(), [f.message for f in report.findings]
    assert resolver.stats.queries >= 1  # the key came through our resolver


async def test_changed_body_is_body_modified(resolver: Resolver) -> None:
    raw = sign(lint_shop_message()).replace(b"plant garlic", b"plant onions")
    findings = await verify_dkim(parse_message(raw), resolver)
    assert [f.code for f in findings] == ["dkim.body_modified"]
    assert findings[0].where.line == 1  # the DKIM-Signature header
    assert "d=shop.lint.test s=s2024" in (findings[0].where.element or "")


async def test_changed_signed_header_is_invalid(resolver: Resolver) -> None:
    raw = sign(lint_shop_message()).replace(
        b"Subject: Your October garden guide", b"Subject: Your November garden guide"
    )
    assert await dkim_codes(raw, resolver) == ["dkim.signature_invalid"]


async def test_missing_key_is_invalid(resolver: Resolver) -> None:
    raw = sign(lint_shop_message(), selector=b"nokey")
    findings = await verify_dkim(parse_message(raw), resolver)
    assert [f.code for f in findings] == ["dkim.signature_invalid"]
    assert "no DKIM key published at nokey._domainkey.shop.lint.test" in findings[0].message


async def test_failed_key_lookup_is_unknown_not_invalid(resolver: Resolver) -> None:
    raw = sign(lint_shop_message(), selector=b"slow")
    findings = await verify_dkim(parse_message(raw), resolver)
    assert [f.code for f in findings] == ["dkim.key_unavailable"]
    assert findings[0].points == 0 and "timeout" in findings[0].message


async def test_each_signature_is_checked(resolver: Resolver) -> None:
    raw = sign(sign(lint_shop_message()), selector=b"nokey")
    assert await dkim_codes(raw, resolver) == ["dkim.signature_invalid"]


async def test_unsigned_messages_and_templates_make_no_lookups(resolver: Resolver) -> None:
    assert await dkim_codes(lint_shop_message(), resolver) == []
    assert resolver.stats.queries == 0


async def test_garbled_signature_is_invalid(resolver: Resolver) -> None:
    raw = b"DKIM-Signature: v=1; a=rsa-sha256; d=shop.lint.test; s=s2024; b=!!\n" + (
        lint_shop_message()
    )
    assert await dkim_codes(raw, resolver) == ["dkim.signature_invalid"]
    raw = b"DKIM-Signature: garbage without tags\n" + lint_shop_message()
    assert await dkim_codes(raw, resolver) == ["dkim.signature_invalid"]


async def test_signing_domain_aligns_from(resolver: Resolver) -> None:
    """A foreign return path is fine when DKIM d= aligns (DMARC needs one aligned identifier)."""
    raw = sign(
        lint_shop_message().replace(
            b"bounces+ann=example.org@mail.shop.example.com", b"b@bounce.esp-example.net"
        )
    )
    report = await lint(parse_message(raw), network=Network(resolver))
    assert report.codes == set()
    unaligned = sign(lint_shop_message().replace(b"news@shop.lint.test", b"news@other.example"))
    report = await lint(parse_message(unaligned), network=Network(resolver, verify_dkim=False))
    assert report.codes == {"header.from_not_aligned"}


def test_signature_tags() -> None:
    tags = signature_tags("v=1; a=rsa-sha256; d=Example.COM;\r\n\ts=sel; bh=ab cd=;")
    assert tags["d"] == "Example.COM" and tags["bh"] == "abcd=" and tags["s"] == "sel"
    message = parse_message(b"DKIM-Signature: d=Example.com.; s=x\nFrom: a@b.c\n\nhi\n")
    assert signing_domains(message) == ["example.com"]
