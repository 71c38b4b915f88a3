"""Audit reports written by hand, shaped as ``deliverwatch check --format json`` gives them."""

from __future__ import annotations

import copy
from typing import Any

KEY_2048 = "v=DKIM1; k=rsa; p=MIIBIjANBgkqh...2048"
KEY_1024 = "v=DKIM1; k=rsa; p=MIGfMA0GCSqG...1024"


def good_report(domain: str = "shop.test") -> dict[str, Any]:
    """A domain with everything right (score 100)."""
    return {
        "domain": domain,
        "score": 100,
        "grade": "A",
        "status": "ok",
        "findings": [],
        "spf": {
            "record": f"v=spf1 include:_spf.esp.{domain} -all",
            "dns_lookups": 3,
            "void_lookups": 0,
            "status": "ok",
        },
        "dmarc": {
            "record": f"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}",
            "policy": "reject",
            "subdomain_policy": "reject",
            "pct": 100,
            "rua": [f"mailto:dmarc@{domain}"],
            "adkim": "r",
            "aspf": "r",
            "status": "ok",
        },
        "dkim": {
            "selectors": [
                {
                    "selector": "s1",
                    "found": True,
                    "key_type": "rsa",
                    "key_bits": 2048,
                    "record": KEY_2048,
                    "usable": True,
                },
            ],
            "checked": 37,
            "status": "ok",
        },
        "bimi": {"published": False, "record": None, "logo_url": None, "status": "ok"},
        "mta_sts": {
            "published": True,
            "record": "v=STSv1; id=1",
            "id": "1",
            "policy": {
                "version": "STSv1",
                "mode": "enforce",
                "mx": [f"mx1.{domain}"],
                "max_age": 604800,
            },
            "fetched": True,
            "status": "ok",
        },
        "tlsrpt": {
            "record": f"v=TLSRPTv1; rua=mailto:tls@{domain}",
            "rua": [f"mailto:tls@{domain}"],
            "status": "ok",
        },
        "mx": {
            "hosts": [{"host": f"mx1.{domain}", "preference": 10, "addresses": ["198.18.0.25"]}],
            "null_mx": False,
            "status": "ok",
        },
        "blocklists": {
            "entries": [
                {
                    "zone": "dnsbl.bl.test",
                    "kind": "ip",
                    "subject": "198.18.0.10",
                    "listed": False,
                    "codes": [],
                    "reason": None,
                },
                {
                    "zone": "dbl.bl.test",
                    "kind": "domain",
                    "subject": domain,
                    "listed": False,
                    "codes": [],
                    "reason": None,
                },
            ],
            "status": "ok",
        },
        "sending_ips": [{"address": "198.18.0.10", "ptr": [f"out.{domain}"], "fcrdns": True}],
        "requirements": {
            "google": {
                "met": None,
                "unmet": [],
                "items": [
                    {"id": "spf", "met": True, "note": "valid SPF record"},
                    {"id": "dmarc", "met": True, "note": "p=reject"},
                ],
            },
        },
        "duration_ms": 12.0,
    }


def changed(report: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """A copy of ``report`` with keys of sections replaced: ``changed(r, dmarc={"policy":
    "none"})``; a non-dict value (``findings=[...]``) replaces the key."""
    out = copy.deepcopy(report)
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(out.get(name), dict):
            out[name].update(values)
        else:
            out[name] = values
    return out


def unknown(report: dict[str, Any], section: str, code: str = "dns.timeout") -> dict[str, Any]:
    """``section`` could not be checked: its records look absent, its status is unknown."""
    out = copy.deepcopy(report)
    blank: dict[str, Any] = {"status": "unknown"}
    if section == "dkim":
        blank["selectors"] = []
    elif section == "blocklists":
        blank["entries"] = []
    elif section == "mx":
        blank.update(hosts=[], null_mx=False)
    else:
        blank["record"] = None
    out[section] = blank
    out["status"] = "unknown"
    out["findings"] = [
        *out["findings"],
        {
            "code": code,
            "severity": "warning",
            "message": f"{section} lookup: timeout; result unknown",
            "fix": "...",
        },
    ]
    return out


def finding(code: str, severity: str = "warning", message: str | None = None) -> dict[str, Any]:
    return {"code": code, "severity": severity, "message": message or code, "fix": "..."}
