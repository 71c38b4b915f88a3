"""MX hosts and forward-confirmed reverse DNS against the real test DNS server."""

from __future__ import annotations

import pytest

from deliverwatch.auth.findings import Severity
from deliverwatch.auth.mx import MxResult, check_mx, forward_confirmed
from deliverwatch.dns import Resolver


def codes(result: MxResult) -> list[str]:
    return [f.code for f in result.findings]


# --- forward_confirmed ---------------------------------------------------------------------------


async def test_fcrdns_confirmed(resolver: Resolver) -> None:
    result = await forward_confirmed(resolver, "198.51.100.7")
    assert (result.names, result.confirmed, result.failure) == (("sender.mx.test",), True, None)
    assert result.to_dict() == {
        "address": "198.51.100.7",
        "names": ["sender.mx.test"],
        "fcrdns": True,
    }


async def test_fcrdns_ipv6_any_spelling(resolver: Resolver) -> None:
    result = await forward_confirmed(resolver, "2001:DB8:0:0::1")
    assert result.address == "2001:db8::1"
    assert (result.names, result.confirmed) == (("mx1.good.mx.test",), True)


async def test_fcrdns_no_ptr(resolver: Resolver) -> None:
    result = await forward_confirmed(resolver, "198.51.100.8")
    assert (result.names, result.confirmed, result.failure) == ((), False, None)


async def test_fcrdns_second_ptr_name_confirms(resolver: Resolver) -> None:
    result = await forward_confirmed(resolver, "198.51.100.9")
    assert set(result.names) == {"wrong.mx.test", "right.mx.test"}
    assert result.confirmed is True


async def test_fcrdns_forward_lookup_timeout_is_unknown(resolver: Resolver) -> None:
    result = await forward_confirmed(resolver, "198.51.100.10")
    assert result.names == ("host.slowfwd.timeout.test",)
    assert result.confirmed is None
    assert result.failure is not None and result.failure.status == "timeout"


async def test_fcrdns_ptr_timeout_is_unknown(resolver: Resolver) -> None:
    result = await forward_confirmed(resolver, "192.0.2.5")
    assert (result.names, result.confirmed) == ((), None)
    assert result.failure is not None and result.failure.status == "timeout"


async def test_fcrdns_rejects_non_addresses(resolver: Resolver) -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        await forward_confirmed(resolver, "mail.example.com")


# --- check_mx ------------------------------------------------------------------------------------


async def test_good_mx(resolver: Resolver) -> None:
    result = await check_mx("good.mx.test", resolver)
    assert result.findings == [] and result.status == "ok"
    assert result.to_dict() == {
        "hosts": [
            {
                "host": "mx1.good.mx.test", "preference": 10,
                "addresses": ["192.0.2.1", "2001:db8::1"],
                "ptr": [
                    {"address": "192.0.2.1", "names": ["mx1.good.mx.test"], "fcrdns": True},
                    {"address": "2001:db8::1", "names": ["mx1.good.mx.test"], "fcrdns": True},
                ],
            },
            {
                "host": "mx2.good.mx.test", "preference": 20, "addresses": ["192.0.2.2"],
                "ptr": [{"address": "192.0.2.2", "names": ["mx2.good.mx.test"], "fcrdns": True}],
            },
        ],
        "null_mx": False,
        "status": "ok",
    }  # fmt: skip


async def test_ptr_mismatch_and_missing_ptr(resolver: Resolver) -> None:
    result = await check_mx("mismatch.mx.test", resolver)
    assert codes(result) == ["mx.ptr_mismatch", "mx.ptr_mismatch"]
    messages = sorted(f.message for f in result.findings)
    assert "192.0.2.3" in messages[0] and "PTR other.mx.test does not resolve back" in messages[0]
    assert "192.0.2.4" in messages[1] and "no PTR record" in messages[1]
    assert result.status == "warning"
    ptr = {p["address"]: p for p in result.to_dict()["hosts"][0]["ptr"]}
    assert ptr["192.0.2.3"] == {"address": "192.0.2.3", "names": ["other.mx.test"], "fcrdns": False}
    assert ptr["192.0.2.4"]["names"] == []


async def test_only_mx_host_unresolvable_is_an_error(resolver: Resolver) -> None:
    result = await check_mx("dead.mx.test", resolver)
    [f] = result.findings
    assert f.code == "mx.host_unresolvable" and f.severity == Severity.ERROR
    assert "nohost.mx.test" in f.message
    assert result.status == "error"


async def test_unresolvable_backup_mx_is_a_warning(resolver: Resolver) -> None:
    result = await check_mx("backup.mx.test", resolver)
    [f] = result.findings
    assert f.code == "mx.host_unresolvable" and f.severity == Severity.WARNING
    assert "other MX hosts still receive mail" in f.message


async def test_null_mx(resolver: Resolver) -> None:
    result = await check_mx("null.mx.test", resolver)
    [f] = result.findings
    assert (f.code, f.severity) == ("mx.null_mx", Severity.INFO)
    assert result.to_dict() == {"hosts": [], "null_mx": True, "status": "ok"}


async def test_null_mx_mixed_with_real_mx(resolver: Resolver) -> None:
    result = await check_mx("mixednull.mx.test", resolver)
    [f] = result.findings
    assert (f.code, f.severity) == ("mx.null_mx", Severity.WARNING)
    assert result.null_mx and [h.host for h in result.hosts] == ["mx1.good.mx.test"]


async def test_no_mx_record(resolver: Resolver) -> None:
    result = await check_mx("nomx.mx.test", resolver)
    assert codes(result) == ["mx.missing"]
    nxdomain = await check_mx("nonexistent.mx.test", resolver)
    assert codes(nxdomain) == ["mx.missing"]
    assert result.status == "warning"


async def test_mx_points_to_cname(resolver: Resolver) -> None:
    result = await check_mx("cname.mx.test", resolver)
    [f] = result.findings
    assert f.code == "mx.points_to_cname" and "mx2.good.mx.test" in f.message
    assert result.hosts[0].addresses == ("192.0.2.2",)


async def test_mx_points_to_dangling_cname(resolver: Resolver) -> None:
    result = await check_mx("dangling.mx.test", resolver)
    [f] = result.findings
    assert f.code == "mx.host_unresolvable" and "CNAME to nowhere.mx.test" in f.message


async def test_mx_points_to_ip(resolver: Resolver) -> None:
    result = await check_mx("ip.mx.test", resolver)
    assert codes(result) == ["mx.points_to_ip"]
    assert result.status == "error"
    assert result.hosts[0].addresses == ()


async def test_mx_lookup_servfail_is_unknown_not_missing(resolver: Resolver) -> None:
    result = await check_mx("mx.servfail.test", resolver)
    assert codes(result) == ["dns.servfail"]
    assert result.status == "unknown" and result.hosts == []


async def test_mx_host_address_timeout_is_unknown_not_unresolvable(resolver: Resolver) -> None:
    result = await check_mx("slowhost.mx.test", resolver)
    assert codes(result) == ["dns.timeout", "dns.timeout"]  # A and AAAA
    assert result.status == "unknown"


async def test_ptr_timeout_is_unknown_not_mismatch(resolver: Resolver) -> None:
    result = await check_mx("slowptr.mx.test", resolver)
    assert codes(result) == ["dns.timeout"]
    assert "reverse DNS of 192.0.2.5" in result.findings[0].message
    assert result.status == "unknown"
    assert result.to_dict()["hosts"][0]["ptr"][0]["fcrdns"] is None
