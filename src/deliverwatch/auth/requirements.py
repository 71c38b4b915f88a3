"""The mailbox providers' bulk-sender requirements that DNS can answer.

Gmail and Yahoo (February 2024) and Outlook.com (May 2025) require of bulk senders: SPF and
DKIM, a DMARC record (p=none at least) with the From domain aligned, forward-confirmed reverse
DNS for sending IPs (Google), TLS, one-click unsubscribe and a spam rate under 0.30%. The audit
judges what DNS shows; the rest is marked ``null`` (not checkable here) with where to check it.
"""

from __future__ import annotations

from typing import Any

Item = dict[str, Any]

_NOT_FROM_DNS = {
    "one_click_unsubscribe": "RFC 8058 List-Unsubscribe headers: check with `deliverwatch lint`.",
    "spam_rate": "Complaint rate under 0.30% (aim under 0.10%): ESP events, Postmaster Tools.",
    "alignment": "From domain aligned with SPF or DKIM: shown by DMARC aggregate reports.",
}

PROVIDERS: dict[str, tuple[str, ...]] = {
    "google": (
        "spf",
        "dkim",
        "dmarc",
        "sending_ip_fcrdns",
        "alignment",
        "one_click_unsubscribe",
        "spam_rate",
    ),
    "yahoo": ("spf", "dkim", "dmarc", "alignment", "one_click_unsubscribe", "spam_rate"),
    "microsoft": ("spf", "dkim", "dmarc", "alignment"),
}


def _item(key: str, met: bool | None, note: str) -> Item:
    return {"id": key, "met": met, "note": note}


def evaluate(
    sections: dict[str, dict[str, Any]], sending_ips: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per provider: each requirement met (true), unmet (false) or not known from DNS (null)."""
    spf, dmarc, dkim = sections["spf"], sections["dmarc"], sections["dkim"]
    items: dict[str, Item] = {}
    if spf.get("status") == "unknown":
        items["spf"] = _item("spf", None, "SPF lookup failed")
    else:
        valid = bool(spf.get("record")) and spf.get("status") != "error"
        items["spf"] = _item("spf", valid, "valid SPF record" if valid else "no valid SPF record")
    found = any(s.get("usable") for s in dkim.get("selectors", []))
    if found:
        items["dkim"] = _item("dkim", True, "DKIM key published")
    elif dkim.get("status") == "unknown":
        items["dkim"] = _item("dkim", None, "DKIM lookups failed")
    else:
        items["dkim"] = _item(
            "dkim", False, "no usable DKIM key at the configured or common selectors"
        )
    if dmarc.get("status") == "unknown" and not dmarc.get("record"):
        items["dmarc"] = _item("dmarc", None, "DMARC lookup failed")
    else:
        ok = dmarc.get("policy") in ("none", "quarantine", "reject")
        items["dmarc"] = _item(
            "dmarc", ok, f"p={dmarc.get('policy')}" if ok else "no usable DMARC record"
        )
    if sending_ips:
        states = [ip.get("fcrdns") for ip in sending_ips]
        met = None if None in states else all(states)
        items["sending_ip_fcrdns"] = _item(
            "sending_ip_fcrdns",
            met,
            f"{sum(1 for s in states if s)}/{len(states)} sending IPs confirmed",
        )
    else:
        items["sending_ip_fcrdns"] = _item(
            "sending_ip_fcrdns", None, "no sending IPs given (--ip or domains[].sending_ips)"
        )
    for key, note in _NOT_FROM_DNS.items():
        items[key] = _item(key, None, note)
    result: dict[str, Any] = {}
    for provider, keys in PROVIDERS.items():
        listed = [items[k] for k in keys]
        known = [i["met"] for i in listed if i["met"] is not None]
        result[provider] = {
            "met": False if False in known else (True if len(known) == len(listed) else None),
            "unmet": [i["id"] for i in listed if i["met"] is False],
            "items": listed,
        }
    return result
