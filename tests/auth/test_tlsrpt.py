"""TLS-RPT (RFC 8460): the strict parser, and check_tlsrpt against tests/zones/tlsrpt.test.zone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.auth.tlsrpt import (
    TlsRptResult,
    TlsRptSyntaxError,
    check_tlsrpt,
    is_tlsrpt_record,
    parse_tlsrpt,
)
from deliverwatch.dns import Resolver


def codes(result: TlsRptResult) -> list[str]:
    return [f.code for f in result.findings]


# --- parser ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rua"),
    [
        ("v=TLSRPTv1; rua=mailto:tls@x.test", ("mailto:tls@x.test",)),
        ("v=TLSRPTv1;rua=mailto:tls@x.test;", ("mailto:tls@x.test",)),
        ("v=TLSRPTv1 ;\trua=https://r.x.test/v1 ; ", ("https://r.x.test/v1",)),
        (
            "v=TLSRPTv1; rua=mailto:a@x.test , https://r.x.test:8443/tls?k=1",
            ("mailto:a@x.test", "https://r.x.test:8443/tls?k=1"),
        ),
        ("v=TLSRPTv1; rua=https://192.0.2.1/tls", ("https://192.0.2.1/tls",)),
        ("v=TLSRPTv1; rua=https://[2001:db8::1]/tls", ("https://[2001:db8::1]/tls",)),
        ("v=TLSRPTv1; rua=MAILTO:tls@X.test", ("MAILTO:tls@X.test",)),
    ],
)
def test_parse_valid(text: str, rua: tuple[str, ...]) -> None:
    assert parse_tlsrpt(text).rua == rua


def test_extensions_are_kept() -> None:
    record = parse_tlsrpt("v=TLSRPTv1; x-ext.1=value!; rua=mailto:tls@x.test")
    assert record.extensions == {"x-ext.1": "value!"}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "must start with exactly v=TLSRPTv1"),
        ("v=tlsrptv1; rua=mailto:a@x.test", "must start with exactly v=TLSRPTv1"),
        (" v=TLSRPTv1; rua=mailto:a@x.test", "must start with exactly v=TLSRPTv1"),
        ("v=TLSRPTv2; rua=mailto:a@x.test", "must start with exactly v=TLSRPTv1"),
        ("v=TLSRPTv1 rua=mailto:a@x.test", "must start with exactly v=TLSRPTv1"),
        ("v=TLSRPTv1", "rua= field is missing"),
        ("v=TLSRPTv1;", "rua= field is missing"),
        ("v=TLSRPTv1; ext=1", "rua= field is missing"),
        ("v=TLSRPTv1; rua=mailto:a@x.test; rua=mailto:b@x.test", "more than once"),
        ("v=TLSRPTv1; RUA=mailto:a@x.test", "case-sensitive"),
        ("v=TLSRPTv1; rua = mailto:a@x.test", "no spaces are allowed around '='"),
        ("v=TLSRPTv1;; rua=mailto:a@x.test", "empty field"),
        ("v=TLSRPTv1; rua=mailto:a@x.test; junk", "not a name=value field"),
        ("v=TLSRPTv1; rua=", "not a mailto: or https: URI"),
        ("v=TLSRPTv1; rua=ftp://x.test/tls", "not a mailto: or https: URI"),
        ("v=TLSRPTv1; rua=http://x.test/tls", "not a mailto: or https: URI"),
        ("v=TLSRPTv1; rua=mailto:a@x.test,", "not a mailto: or https: URI"),
        ("v=TLSRPTv1; rua=mailto:nobody", "valid mail address"),
        ("v=TLSRPTv1; rua=https://", "not a valid https: URL"),
        ("v=TLSRPTv1; rua=https://bad_host.x.test/", "not a valid https: URL"),
        ("v=TLSRPTv1; rua=https://[::1/", "not a valid https: URL"),
        ("v=TLSRPTv1; rua=mailto:a@x.test; ext=a b", "invalid value"),
    ],
)
def test_parse_invalid(text: str, why: str) -> None:
    with pytest.raises(TlsRptSyntaxError, match=why.replace("(", r"\(")):
        parse_tlsrpt(text)


def test_is_tlsrpt_record() -> None:
    assert is_tlsrpt_record("v=TLSRPTv1; rua=mailto:a@x.test")
    assert is_tlsrpt_record("v=tlsrptv1;")  # near-miss: reported, not ignored
    assert not is_tlsrpt_record("v=TLSRPTv10;")
    assert not is_tlsrpt_record("v=spf1 -all")


@settings(max_examples=300)
@given(st.text())
def test_parser_only_raises_its_syntax_error_on_any_text(text: str) -> None:
    try:
        record = parse_tlsrpt(text)
    except TlsRptSyntaxError as exc:
        assert str(exc)
    else:
        assert record.rua


FIELDS = st.sampled_from(
    ["rua=mailto:a@x.test", "rua=https://x.test/r", "rua=https://[", "rua=", "ext=1", "RUA=x",
     "rua=mailto:a@x.test,https://x.test", "", " ", "=", "rua=mailto:%ZZ@x.test"]
)  # fmt: skip


@settings(max_examples=300)
@given(st.lists(FIELDS | st.text(max_size=15), max_size=5))
def test_parser_only_raises_its_syntax_error_on_record_like_text(fields: list[str]) -> None:
    try:
        record = parse_tlsrpt("; ".join(["v=TLSRPTv1", *fields]))
    except TlsRptSyntaxError:
        return
    assert record.rua


# --- check_tlsrpt ----------------------------------------------------------------------------


async def test_valid_record(resolver: Resolver) -> None:
    result = await check_tlsrpt("good.tlsrpt.test", resolver, mta_sts_published=True)
    assert result.findings == [] and result.status == "ok" and result.published
    assert result.to_dict() == {
        "record": "v=TLSRPTv1; rua=mailto:tls@tlsrpt.test,https://reports.tlsrpt.test/v1",
        "rua": ["mailto:tls@tlsrpt.test", "https://reports.tlsrpt.test/v1"],
        "status": "ok",
    }


async def test_cname_is_followed(resolver: Resolver) -> None:
    result = await check_tlsrpt("alias.tlsrpt.test", resolver, mta_sts_published=False)
    assert result.published and result.rua[0] == "mailto:tls@tlsrpt.test"


async def test_missing_with_mta_sts_is_noted(resolver: Resolver) -> None:
    result = await check_tlsrpt("none.tlsrpt.test", resolver, mta_sts_published=True)
    assert codes(result) == ["tlsrpt.missing_with_mta_sts"]
    assert result.findings[0].severity == "info"
    assert result.status == "ok" and not result.published
    assert result.to_dict() == {"record": None, "rua": [], "status": "ok"}


async def test_missing_without_mta_sts_is_fine(resolver: Resolver) -> None:
    result = await check_tlsrpt("none.tlsrpt.test", resolver, mta_sts_published=False)
    assert result.findings == [] and result.status == "ok"


async def test_other_txt_records_are_not_tlsrpt(resolver: Resolver) -> None:
    result = await check_tlsrpt("other.tlsrpt.test", resolver, mta_sts_published=True)
    assert codes(result) == ["tlsrpt.missing_with_mta_sts"]


async def test_multiple_records_are_a_syntax_error(resolver: Resolver) -> None:
    result = await check_tlsrpt("multi.tlsrpt.test", resolver, mta_sts_published=False)
    assert codes(result) == ["tlsrpt.syntax_error"]
    assert "2 TLS-RPT records" in result.findings[0].message
    assert result.status == "warning" and not result.published
    assert result.to_dict()["record"] is None


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("badrua", "'ftp://files.tlsrpt.test/tls' is not a mailto: or https: URI"),
        ("norua", "rua= field is missing"),
        ("case", "must start with exactly v=TLSRPTv1"),
    ],
)
async def test_invalid_record(resolver: Resolver, domain: str, why: str) -> None:
    result = await check_tlsrpt(f"{domain}.tlsrpt.test", resolver, mta_sts_published=True)
    assert codes(result) == ["tlsrpt.syntax_error"]
    assert why in result.findings[0].message
    assert result.status == "warning"
    assert result.record is not None and result.rua == [] and not result.published


@pytest.mark.parametrize(
    ("domain", "code"),
    [("x.timeout.test", "dns.timeout"), ("x.servfail.test", "dns.servfail")],
)
async def test_failed_lookup_is_unknown_never_missing(
    resolver: Resolver, domain: str, code: str
) -> None:
    result = await check_tlsrpt(domain, resolver, mta_sts_published=True)
    assert codes(result) == [code]
    assert result.status == "unknown"
    assert result.to_dict() == {"record": None, "rua": [], "status": "unknown"}
