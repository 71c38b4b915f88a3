"""DKIM key records: the pure parser, and check_dkim against the real test DNS server."""

from __future__ import annotations

import base64
import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from deliverwatch.auth.dkim import (
    COMMON_SELECTORS,
    WILDCARD_PROBE,
    DkimKeySyntaxError,
    DkimResult,
    check_dkim,
    looks_like_dkim,
    parse_dkim_key,
)
from deliverwatch.auth.findings import CATALOGUE, Severity
from deliverwatch.dns import Resolver
from tests.servers.dnsserver import DNSServer


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def rsa1024_spki() -> str:
    key = rsa.generate_private_key(65537, 1024).public_key()
    return _b64(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _ed25519(fmt: PublicFormat = PublicFormat.Raw) -> bytes:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.Raw if fmt == PublicFormat.Raw else Encoding.DER, fmt)


def codes(result: DkimResult) -> list[str]:
    return [f.code for f in result.findings]


def by_selector(result: DkimResult) -> dict[str, dict[str, object]]:
    return {s["selector"]: s for s in result.to_dict()["selectors"]}


# --- the parser ----------------------------------------------------------------------------------


def test_parse_rsa_key(rsa1024_spki: str) -> None:
    key = parse_dkim_key(f"v=DKIM1; k=rsa; h=sha256; t=y:s; n=hello there; p={rsa1024_spki};")
    assert (key.key_type, key.key_bits, key.version) == ("rsa", 1024, "DKIM1")
    assert key.testing and key.strict and not key.revoked
    assert key.hash_algorithms == ("sha256",) and key.allows_sha256
    assert key.notes == "hello there" and key.for_email


def test_defaults_without_v_and_k(rsa1024_spki: str) -> None:
    key = parse_dkim_key(f"p={rsa1024_spki}")
    assert (key.key_type, key.key_bits, key.version, key.flags) == ("rsa", 1024, None, ())
    assert key.hash_algorithms is None and key.service_types == ("*",)


def test_whitespace_inside_p_is_allowed(rsa1024_spki: str) -> None:
    wrapped = " \t".join(rsa1024_spki[i : i + 60] for i in range(0, len(rsa1024_spki), 60))
    assert parse_dkim_key(f"v=DKIM1;\r\n p= {wrapped} ").key_bits == 1024


def test_pkcs1_rsa_public_key_accepted() -> None:
    key = rsa.generate_private_key(65537, 2048).public_key()
    p = _b64(key.public_bytes(Encoding.DER, PublicFormat.PKCS1))
    assert parse_dkim_key(f"k=rsa; p={p}").key_bits == 2048


def test_ed25519_raw_key() -> None:
    key = parse_dkim_key(f"v=DKIM1; k=ed25519; p={_b64(_ed25519())}")
    assert (key.key_type, key.key_bits) == ("ed25519", 256)


def test_ed25519_spki_rejected_with_hint() -> None:
    with pytest.raises(DkimKeySyntaxError, match=r"raw 32-byte key.*SubjectPublicKeyInfo"):
        parse_dkim_key(f"v=DKIM1; k=ed25519; p={_b64(_ed25519(PublicFormat.SubjectPublicKeyInfo))}")


def test_ed25519_key_without_k_hints() -> None:
    with pytest.raises(DkimKeySyntaxError, match="k=ed25519"):
        parse_dkim_key(f"v=DKIM1; p={_b64(_ed25519())}")


def test_rsa_type_with_ec_key_rejected() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    p = _b64(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(DkimKeySyntaxError, match="k=rsa but p= holds a"):
        parse_dkim_key(f"k=rsa; p={p}")


def test_parse_revoked_key() -> None:
    key = parse_dkim_key("v=DKIM1; k=rsa; p=")
    assert key.revoked and key.key_bits is None and key.key_type == "rsa"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k=rsa; v=DKIM1; p=", "v= must be the first tag"),
        ("v=DKIM2; p=", "only version is DKIM1"),
        ("v=DKIM1; p=; p=", "more than once"),
        ("v=DKIM1; k=rsa", "no p= tag"),
        ("v=DKIM1; k=dsa; p=", "unknown key type"),
        ("v=DKIM1; p=not base64!", "not valid base64"),
        ("v=DKIM1; p=QUJD", "does not decode to an RSA public key"),
        ("v=DKIM1; p=QUJ", "not valid base64"),
        ("v=DKIM1; garbage; p=", "not a tag=value pair"),
        ("v=DKIM1; 1x=2; p=", "not a valid tag name"),
        ("v=DKIM1; n=café; p=", "invalid character"),
        ("", "no p= tag"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(DkimKeySyntaxError, match=message):
        parse_dkim_key(text)


def test_looks_like_dkim() -> None:
    assert looks_like_dkim("v=DKIM1; k=rsa")
    assert looks_like_dkim("k=rsa; p=abc")
    assert looks_like_dkim("p=")
    assert not looks_like_dkim("v=spf1 -all")
    assert not looks_like_dkim("google-site-verification=abc")
    assert not looks_like_dkim("v=DMARC1; p=none")  # another v=: discarded (RFC 6376 §3.6.1)
    assert looks_like_dkim("v=DKIM2; p=abc")  # a broken key: reported, not ignored
    assert looks_like_dkim(" v = dkim1")


_FRAGMENTS = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=300).map(_b64),
    st.sampled_from(["DKIM1", "rsa", "ed25519", "y:s", "sha1:sha256", "email", "*", " ", ""]),
)


@given(st.text(max_size=400))
def test_parser_only_raises_its_own_error_on_any_text(text: str) -> None:
    with contextlib.suppress(DkimKeySyntaxError):
        parse_dkim_key(text)


@given(
    st.lists(
        st.tuples(st.sampled_from(["v", "k", "p", "t", "h", "s", "n", "x", "P"]), _FRAGMENTS),
        max_size=8,
    )
)
def test_parser_only_raises_its_own_error_on_tag_lists(tags: list[tuple[str, str]]) -> None:
    with contextlib.suppress(DkimKeySyntaxError):
        parse_dkim_key("; ".join(f"{name}={value}" for name, value in tags))


@given(st.binary(max_size=600), st.sampled_from(["rsa", "ed25519"]))
def test_parser_only_raises_its_own_error_on_any_key_bytes(data: bytes, k: str) -> None:
    with contextlib.suppress(DkimKeySyntaxError):
        parse_dkim_key(f"v=DKIM1; k={k}; p={_b64(data)}")


_REAL_SPKI = (
    rsa.generate_private_key(65537, 1024)
    .public_key()
    .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
)


@given(st.integers(0, len(_REAL_SPKI) - 1), st.integers(0, 255), st.integers(1, len(_REAL_SPKI)))
def test_parser_only_raises_its_own_error_on_damaged_der(at: int, byte: int, cut: int) -> None:
    damaged = (_REAL_SPKI[:at] + bytes([byte]) + _REAL_SPKI[at + 1 :])[:cut]
    with contextlib.suppress(DkimKeySyntaxError):
        parse_dkim_key(f"p={_b64(damaged)}")


# --- the selector list ---------------------------------------------------------------------------


def test_common_selectors() -> None:
    assert 25 <= len(COMMON_SELECTORS) <= 40
    assert len(set(COMMON_SELECTORS)) == len(COMMON_SELECTORS)
    assert all(s == s.lower() and s.strip() == s for s in COMMON_SELECTORS)
    for name in ("s1", "s2", "selector1", "selector2", "google", "default", "k1", "k2", "k3",
                 "mail", "dkim", "mandrill", "mxvault", "smtp", "everlytickey1", "everlytickey2",
                 "dk", "mailjet", "pm", "sig1", "scph0920"):  # fmt: skip
        assert name in COMMON_SELECTORS
    assert WILDCARD_PROBE not in COMMON_SELECTORS


def test_new_codes_are_catalogued() -> None:
    assert CATALOGUE["dkim.selector_missing"].severity == Severity.WARNING


# --- check_dkim against the DNS server -----------------------------------------------------------


async def test_cname_selector_to_esp(resolver: Resolver) -> None:
    result = await check_dkim("dkim.test", resolver)
    s1 = by_selector(result)["s1"]
    assert s1["found"] and s1["cname"] == "s1.domainkey.esp-dkim.test"
    assert (s1["key_type"], s1["key_bits"], s1["usable"]) == ("rsa", 2048, True)
    assert result.findings == [] and result.status == "ok"
    assert result.to_dict()["checked"] == len(COMMON_SELECTORS)


async def test_4096_bit_key_split_across_strings(resolver: Resolver) -> None:
    result = await check_dkim("strong.dkim.test", resolver)
    google = by_selector(result)["google"]
    assert (google["found"], google["key_bits"], google["cname"]) == (True, 4096, None)
    assert str(google["record"]).startswith("v=DKIM1; k=rsa; p=MII")
    assert result.status == "ok" and result.findings == []


async def test_to_dict_lists_only_found_and_configured_selectors(resolver: Resolver) -> None:
    result = await check_dkim("strong.dkim.test", resolver, ["Google", "extra"])
    data = result.to_dict()
    assert [s["selector"] for s in data["selectors"]] == ["google", "extra"]
    assert data["checked"] == len(COMMON_SELECTORS) + 1  # google deduplicated, configured first
    assert set(data["selectors"][0]) == {
        "selector",
        "found",
        "key_type",
        "key_bits",
        "testing",
        "record",
        "cname",
        "usable",
    }
    assert data["status"] == "warning"  # the configured "extra" is missing
    assert codes(result) == ["dkim.selector_missing"]


async def test_1024_bit_key_is_a_warning(resolver: Resolver) -> None:
    result = await check_dkim("rsa1024.dkim.test", resolver)
    [f] = result.findings
    assert f.code == "dkim.key_too_short" and f.severity == Severity.WARNING
    assert "1024-bit" in f.message and "selector1._domainkey.rsa1024.dkim.test" in f.message
    assert result.status == "warning"


async def test_512_bit_key_is_an_error(resolver: Resolver) -> None:
    result = await check_dkim("rsa512.dkim.test", resolver)
    [f] = result.findings
    assert f.code == "dkim.key_too_short" and f.severity == Severity.ERROR
    assert by_selector(result)["default"]["usable"] is False
    assert result.status == "error"


async def test_ed25519_at_configured_selector(resolver: Resolver) -> None:
    result = await check_dkim("ed.dkim.test", resolver, ["ed"])
    sels = by_selector(result)
    assert (sels["ed"]["key_type"], sels["ed"]["key_bits"]) == ("ed25519", 256)
    assert sels["selector2"]["key_bits"] == 2048
    assert result.findings == [] and result.status == "ok"


async def test_whitespace_wrapped_key(resolver: Resolver) -> None:
    result = await check_dkim("wrapped.dkim.test", resolver)
    assert by_selector(result)["k3"]["key_bits"] == 2048 and result.findings == []


async def test_revoked_key(resolver: Resolver) -> None:
    result = await check_dkim("revoked.dkim.test", resolver)
    assert codes(result) == ["dkim.revoked"]
    s2 = by_selector(result)["s2"]
    assert s2["found"] and s2["key_bits"] is None and s2["usable"] is False
    assert result.status == "ok"  # info only; no no_selector_found: a record exists


async def test_testing_mode(resolver: Resolver) -> None:
    result = await check_dkim("testing.dkim.test", resolver)
    assert codes(result) == ["dkim.testing_mode"]
    assert by_selector(result)["mail"]["testing"] is True
    assert result.status == "warning"


async def test_garbage_key(resolver: Resolver) -> None:
    result = await check_dkim("garbage.dkim.test", resolver)
    [f] = result.findings
    assert f.code == "dkim.invalid_key" and "not valid base64" in f.message
    sel = by_selector(result)["dkim"]
    assert sel["found"] and sel["key_type"] is None and sel["usable"] is False
    assert result.status == "error"


async def test_bare_pkcs1_key(resolver: Resolver) -> None:
    result = await check_dkim("pkcs1.dkim.test", resolver)
    assert by_selector(result)["pm"]["key_bits"] == 2048 and result.findings == []


async def test_sha1_only_key(resolver: Resolver) -> None:
    result = await check_dkim("sha1.dkim.test", resolver)
    [f] = result.findings
    assert f.code == "dkim.invalid_key" and f.severity == Severity.ERROR and "h=sha1" in f.message
    assert by_selector(result)["smtp"]["usable"] is False


async def test_key_not_for_email(resolver: Resolver) -> None:
    result = await check_dkim("nonemail.dkim.test", resolver)
    [f] = result.findings
    assert f.code == "dkim.invalid_key" and "s=tlsrpt" in f.message
    assert by_selector(result)["zmail"]["usable"] is False


async def test_two_key_records_at_one_selector(resolver: Resolver) -> None:
    result = await check_dkim("multi.dkim.test", resolver)
    [f] = result.findings
    assert f.code == "dkim.invalid_key" and "2 DKIM key records" in f.message
    assert f.severity == Severity.WARNING


async def test_wrong_version(resolver: Resolver) -> None:
    result = await check_dkim("badversion.dkim.test", resolver)
    [f] = result.findings
    assert f.code == "dkim.invalid_key" and "DKIM2" in f.message


async def test_no_selector_found(resolver: Resolver) -> None:
    result = await check_dkim("none.dkim.test", resolver)
    [f] = result.findings
    assert f.code == "dkim.no_selector_found"
    assert f"{len(COMMON_SELECTORS)} common selectors" in f.message
    assert result.to_dict()["selectors"] == [] and result.status == "warning"


async def test_non_dkim_txt_is_not_a_key(resolver: Resolver) -> None:
    result = await check_dkim("notdkim.dkim.test", resolver)
    assert codes(result) == ["dkim.no_selector_found"]
    configured = await check_dkim("notdkim.dkim.test", Resolver(resolver.nameservers), ["cm"])
    assert codes(configured) == ["dkim.selector_missing", "dkim.no_selector_found"]
    assert "not a DKIM key" in configured.findings[0].message


async def test_wildcard_non_dkim_txt_is_ignored(resolver: Resolver) -> None:
    result = await check_dkim("wildspf.dkim.test", resolver)
    assert codes(result) == ["dkim.no_selector_found"]
    assert result.to_dict()["selectors"] == []


async def test_wildcard_revoked_key_reported_once(resolver: Resolver) -> None:
    result = await check_dkim("parked.dkim.test", resolver)
    sels = result.to_dict()["selectors"]
    assert [s["selector"] for s in sels] == ["*"]
    assert codes(result) == ["dkim.revoked"]
    assert "*._domainkey.parked.dkim.test" in result.findings[0].message


async def test_wildcard_key_beside_a_real_selector(resolver: Resolver) -> None:
    result = await check_dkim("wildkey.dkim.test", resolver, ["mine"])
    sels = by_selector(result)
    assert list(sels) == ["mine", "s1", "*"]  # the configured one answers with the wildcard key
    assert sels["mine"]["found"] and sels["mine"]["record"] == sels["*"]["record"]
    assert sels["s1"]["record"] != sels["*"]["record"]
    assert result.findings == []


async def test_configured_selector_missing(resolver: Resolver) -> None:
    result = await check_dkim("missing.dkim.test", resolver, ["mysel"])
    [f] = result.findings
    assert f.code == "dkim.selector_missing" and f.severity == Severity.WARNING
    assert "mysel._domainkey.missing.dkim.test does not exist" in f.message
    assert by_selector(result)["mysel"] == {
        "selector": "mysel", "found": False, "key_type": None, "key_bits": None,
        "testing": False, "record": None, "cname": None, "usable": False,
    }  # fmt: skip


async def test_dangling_cname_selector(resolver: Resolver) -> None:
    result = await check_dkim("dangling.dkim.test", resolver)
    assert codes(result) == ["dkim.selector_missing", "dkim.no_selector_found"]
    assert "gone.esp-dkim.test" in result.findings[0].message
    k2 = by_selector(result)["k2"]
    assert (k2["found"], k2["cname"]) == (False, "gone.esp-dkim.test")


async def test_configured_selector_timeout_is_unknown(resolver: Resolver) -> None:
    result = await check_dkim("slow.dkim.test", resolver, ["slow"])
    assert codes(result) == ["dns.timeout"]  # never no_selector_found when a lookup failed
    assert "selector slow" in result.findings[0].message
    assert result.status == "unknown"
    assert by_selector(result)["slow"]["found"] is False


async def test_configured_selector_servfail_beside_a_found_key(resolver: Resolver) -> None:
    result = await check_dkim("broken.dkim.test", resolver, ["broken"])
    assert codes(result) == ["dns.servfail"]
    assert by_selector(result)["k1"]["found"] is True
    assert result.status == "unknown"


async def test_every_lookup_times_out_concurrently(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    start = len(dns_server.queries)
    result = await check_dkim("dkim.timeout.test", resolver, ["mine"])
    asked = [q[0] for q in dns_server.queries[start:] if q[0].endswith("dkim.timeout.test")]
    first_retry = next(i for i, name in enumerate(asked) if name in asked[:i])
    # every selector's first attempt went out before any retry: all lookups were concurrent
    assert len(set(asked[:first_retry])) == len(set(asked))
    assert codes(result) == ["dns.timeout", "dns.timeout"]  # the configured one, then one summary
    assert f"{len(COMMON_SELECTORS)} common selectors" in result.findings[1].message
    assert result.status == "unknown"


async def test_lookups_are_cached_and_deduplicated(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    before = len(dns_server.queries)
    await check_dkim("none.dkim.test", resolver, ["s1", "S1.", "custom"])
    names = [q[0] for q in dns_server.queries[before:]]
    assert names.count("s1._domainkey.none.dkim.test") == 1
    assert len(set(names)) == len(COMMON_SELECTORS) + 2  # + custom + the wildcard probe


async def test_common_off_checks_only_configured(resolver: Resolver) -> None:
    result = await check_dkim("strong.dkim.test", resolver, ["google"], common=False)
    assert result.checked == 1 and result.findings == []
    empty = await check_dkim("strong.dkim.test", resolver, [], common=False)
    assert empty.status == "not_checked" and empty.checked == 0
