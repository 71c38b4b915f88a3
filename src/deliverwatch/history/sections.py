"""Per-section comparisons behind :func:`deliverwatch.history.changes.diff_audits`.

Each ``diff_<section>(diff, old, new)`` receives the two sections as found in the reports
(any JSON value: they are read defensively) and adds what differs to ``diff``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

Hint = Literal["worse", "better", "neutral"]
Kind = Literal["added", "removed", "changed", "unknown"]

SECTION_TITLES = {
    "spf": "SPF",
    "dmarc": "DMARC",
    "dkim": "DKIM",
    "bimi": "BIMI",
    "mta_sts": "MTA-STS",
    "tlsrpt": "TLS-RPT",
    "mx": "MX",
    "blocklists": "Blocklists",
}
#: RFC 5321 lookups an SPF evaluation may make (RFC 7208 §4.6.4).
SPF_LOOKUP_LIMIT = 10
DMARC_STRENGTH = {"none": 0, "quarantine": 1, "reject": 2}
STS_STRENGTH = {"none": 0, "testing": 1, "enforce": 2}
_SHORT = 100


class Diff:
    """Collects changes as tuples in :class:`~deliverwatch.history.changes.Change` order."""

    def __init__(self) -> None:
        self.entries: list[tuple[Kind, str, str, Any, Any, str, Hint, str | None]] = []

    def add(
        self,
        kind: Kind,
        section: str,
        field: str,
        before: Any,
        after: Any,
        message: str,
        hint: Hint = "neutral",
        code: str | None = None,
    ) -> None:
        self.entries.append((kind, section, field, before, after, message, hint, code))


def compare(before: float, after: float, *, higher_is: Hint) -> Hint:
    """``higher_is`` when ``after`` is higher, its opposite when lower, else neutral."""
    if after == before:
        return "neutral"
    if higher_is == "neutral":
        return "neutral"
    opposite: Hint = "better" if higher_is == "worse" else "worse"
    return higher_is if after > before else opposite


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _texts(value: Any) -> list[str]:
    return sorted({v for v in _list(value) if isinstance(v, str)})


def short(text: str, limit: int = _SHORT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def diff_record(diff: Diff, section: str, old: Any, new: Any, *, field: str = "record") -> bool:
    """Add/remove/change of a record's text; True when both reports have a record."""
    title = SECTION_TITLES.get(section, section)
    before, after = _text(_dict(old).get(field)), _text(_dict(new).get(field))
    if before is None and after is not None:
        diff.add(
            "added",
            section,
            field,
            None,
            after,
            f"{title} record published: {short(after)}",
            "better",
        )
    elif before is not None and after is None:
        diff.add(
            "removed",
            section,
            field,
            before,
            None,
            f"{title} record removed (was: {short(before)})",
            "worse",
        )
    elif before is not None and after is not None and before != after:
        diff.add(
            "changed",
            section,
            field,
            before,
            after,
            f"{title} record changed from {short(before)!r} to {short(after)!r}",
        )
    return before is not None and after is not None


def diff_list(diff: Diff, section: str, field: str, label: str, old: Any, new: Any) -> None:
    """A list of addresses (report URIs): gaining the first is better, losing all is worse."""
    before, after = _texts(_dict(old).get(field)), _texts(_dict(new).get(field))
    if before == after:
        return
    if not before:
        hint: Hint = "better"
        text = f"{label} now set: {', '.join(after)}"
    elif not after:
        hint, text = "worse", f"{label} no longer set (was {', '.join(before)})"
    else:
        hint, text = "neutral", f"{label} changed from {', '.join(before)} to {', '.join(after)}"
    kind: Kind = "added" if not before else "removed" if not after else "changed"
    diff.add(kind, section, field, before, after, text, hint)


def diff_spf(diff: Diff, old: Any, new: Any) -> None:
    if not diff_record(diff, "spf", old, new):
        return
    before, after = _int(_dict(old).get("dns_lookups")), _int(_dict(new).get("dns_lookups"))
    if before is None or after is None or before == after:
        return
    hint: Hint = "neutral"
    if after > SPF_LOOKUP_LIMIT >= before or (after > before > SPF_LOOKUP_LIMIT):
        hint = "worse"
    elif before > SPF_LOOKUP_LIMIT >= after or (before > after > SPF_LOOKUP_LIMIT):
        hint = "better"
    limit = f" (limit {SPF_LOOKUP_LIMIT})" if max(before, after) > SPF_LOOKUP_LIMIT else ""
    diff.add(
        "changed",
        "spf",
        "dns_lookups",
        before,
        after,
        f"SPF now needs {after} DNS lookups, was {before}{limit}",
        hint,
    )


def diff_dmarc(diff: Diff, old: Any, new: Any) -> None:
    if not diff_record(diff, "dmarc", old, new):
        return
    old, new = _dict(old), _dict(new)
    for key, field, label in (
        ("policy", "p", "policy"),
        ("subdomain_policy", "sp", "subdomain policy"),
    ):
        before, after = _text(old.get(key)), _text(new.get(key))
        if before == after or before is None or after is None:
            continue
        hint = compare(
            DMARC_STRENGTH.get(before, 0), DMARC_STRENGTH.get(after, 0), higher_is="better"
        )
        verb = {"worse": "weakened", "better": "strengthened", "neutral": "changed"}[hint]
        diff.add(
            "changed",
            "dmarc",
            field,
            before,
            after,
            f"DMARC {label} {verb} from {before} to {after}",
            hint,
        )
    before_pct, after_pct = _int(old.get("pct")), _int(new.get("pct"))
    if before_pct is not None and after_pct is not None and before_pct != after_pct:
        enforcing = DMARC_STRENGTH.get(_text(new.get("policy")) or "none", 0) > 0
        hint = compare(before_pct, after_pct, higher_is="better") if enforcing else "neutral"
        diff.add(
            "changed",
            "dmarc",
            "pct",
            before_pct,
            after_pct,
            f"DMARC pct changed from {before_pct}% to {after_pct}%",
            hint,
        )
    diff_list(diff, "dmarc", "rua", "DMARC aggregate reports (rua)", old, new)
    for field in ("adkim", "aspf"):
        before, after = _text(old.get(field)), _text(new.get(field))
        if before and after and before != after:
            names = {"r": "relaxed", "s": "strict"}
            diff.add(
                "changed",
                "dmarc",
                field,
                before,
                after,
                f"DMARC {field} changed from {names.get(before, before)} to "
                f"{names.get(after, after)}",
            )


def _keyed(items: Any, key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in _list(items):
        if isinstance(item, dict) and isinstance(item.get(key), str):
            out[item[key]] = item
    return out


def diff_dkim(diff: Diff, old: Any, new: Any) -> None:
    before = {
        k: v
        for k, v in _keyed(_dict(old).get("selectors"), "selector").items()
        if v.get("found") is True
    }
    after = {
        k: v
        for k, v in _keyed(_dict(new).get("selectors"), "selector").items()
        if v.get("found") is True
    }
    for name in sorted(before.keys() | after.keys()):
        field = f"selector:{name}"
        if name not in before:
            bits = _int(after[name].get("key_bits"))
            size = f" ({bits}-bit)" if bits else ""
            diff.add(
                "added",
                "dkim",
                field,
                None,
                _key(after[name]),
                f"DKIM key {name}{size} published",
                "neutral" if before else "better",
            )
        elif name not in after:
            diff.add(
                "removed",
                "dkim",
                field,
                _key(before[name]),
                None,
                f"DKIM key {name} removed",
                "worse",
            )
        else:
            _diff_key(diff, name, before[name], after[name])


def _key(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item.get(k) for k in ("key_type", "key_bits", "usable", "record")}


def _diff_key(diff: Diff, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    field = f"selector:{name}"
    before_bits, after_bits = _int(old.get("key_bits")), _int(new.get("key_bits"))
    if before_bits and after_bits and before_bits != after_bits:
        hint = compare(before_bits, after_bits, higher_is="better")
        verb = "shortened" if hint == "worse" else "lengthened"
        diff.add(
            "changed",
            "dkim",
            f"{field}:key_bits",
            before_bits,
            after_bits,
            f"DKIM key {name} {verb} from {before_bits} to {after_bits} bits",
            hint,
        )
    if isinstance(old.get("usable"), bool) and isinstance(new.get("usable"), bool):
        if old["usable"] and not new["usable"]:
            diff.add(
                "changed",
                "dkim",
                f"{field}:usable",
                True,
                False,
                f"DKIM key {name} is no longer usable by verifiers",
                "worse",
            )
        elif new["usable"] and not old["usable"]:
            diff.add(
                "changed",
                "dkim",
                f"{field}:usable",
                False,
                True,
                f"DKIM key {name} is usable again",
                "better",
            )
    if _text(old.get("record")) != _text(new.get("record")) and before_bits == after_bits:
        diff.add(
            "changed",
            "dkim",
            field,
            _key(old),
            _key(new),
            f"DKIM key {name} replaced (key rotated)",
        )


def diff_mx(diff: Diff, old: Any, new: Any) -> None:
    old, new = _dict(old), _dict(new)
    before, after = _keyed(old.get("hosts"), "host"), _keyed(new.get("hosts"), "host")
    for host in sorted(before.keys() | after.keys()):
        field = f"host:{host}"
        if host not in before:
            pref = _int(after[host].get("preference"))
            diff.add(
                "added",
                "mx",
                field,
                None,
                pref,
                f"MX host {host} added (preference {pref})",
                "better" if not before else "neutral",
            )
        elif host not in after:
            pref = _int(before[host].get("preference"))
            gone = not after and new.get("null_mx") is not True
            diff.add(
                "removed",
                "mx",
                field,
                pref,
                None,
                f"MX host {host} removed" + ("; no MX host is left" if gone else ""),
                "worse" if gone else "neutral",
            )
        else:
            b, a = _int(before[host].get("preference")), _int(after[host].get("preference"))
            if b != a:
                diff.add(
                    "changed",
                    "mx",
                    field,
                    b,
                    a,
                    f"MX host {host} preference changed from {b} to {a}",
                )
    b_null, a_null = old.get("null_mx"), new.get("null_mx")
    if isinstance(b_null, bool) and isinstance(a_null, bool) and b_null != a_null:
        text = "now publishes a null MX (accepts no mail)" if a_null else "no longer null MX"
        diff.add("changed", "mx", "null_mx", b_null, a_null, f"The domain {text}")


def diff_bimi(diff: Diff, old: Any, new: Any) -> None:
    if not diff_record(diff, "bimi", old, new):
        return
    for field, label in (("logo_url", "logo"), ("authority_url", "certificate (a=)")):
        before, after = _text(_dict(old).get(field)), _text(_dict(new).get(field))
        if before != after:
            diff.add(
                "changed",
                "bimi",
                field,
                before,
                after,
                f"BIMI {label} changed from {before or 'none'} to {after or 'none'}",
            )


def diff_mta_sts(diff: Diff, old: Any, new: Any) -> None:
    if not diff_record(diff, "mta_sts", old, new):
        return
    old, new = _dict(old), _dict(new)
    if old.get("fetched") is not True or new.get("fetched") is not True:
        return  # the policy file was not fetched in one of them: its mode is not known
    before, after = _dict(old.get("policy")), _dict(new.get("policy"))
    b_mode, a_mode = _text(before.get("mode")), _text(after.get("mode"))
    if b_mode and a_mode and b_mode != a_mode:
        hint = compare(STS_STRENGTH.get(b_mode, 0), STS_STRENGTH.get(a_mode, 0), higher_is="better")
        diff.add(
            "changed",
            "mta_sts",
            "mode",
            b_mode,
            a_mode,
            f"MTA-STS mode changed from {b_mode} to {a_mode}",
            hint,
        )
    b_mx, a_mx = _texts(before.get("mx")), _texts(after.get("mx"))
    if before and after and b_mx != a_mx:
        diff.add(
            "changed",
            "mta_sts",
            "mx",
            b_mx,
            a_mx,
            f"MTA-STS policy MX patterns changed to {', '.join(a_mx) or 'none'}",
        )


def diff_tlsrpt(diff: Diff, old: Any, new: Any) -> None:
    if diff_record(diff, "tlsrpt", old, new):
        diff_list(diff, "tlsrpt", "rua", "TLS-RPT report addresses (rua)", old, new)


def diff_blocklists(diff: Diff, old: Any, new: Any) -> None:
    """Listed/not listed per (zone, subject); an entry checked in only one report, or whose
    lookup failed (``listed`` null), is not compared."""

    def entries(section: Any) -> dict[str, dict[str, Any]]:
        out = {}
        for item in _list(_dict(section).get("entries")):
            if isinstance(item, dict) and isinstance(item.get("listed"), bool):
                zone, subject = _text(item.get("zone")), _text(item.get("subject"))
                if zone and subject:
                    out[f"{zone}:{subject}"] = item
        return out

    before, after = entries(old), entries(new)
    for key in sorted(before.keys() & after.keys()):
        was, now = before[key]["listed"], after[key]["listed"]
        subject, zone = after[key]["subject"], after[key]["zone"]
        if now and not was:
            codes = ", ".join(str(c) for c in _list(after[key].get("codes")))
            reason = _text(after[key].get("reason"))
            detail = f" ({codes}{': ' + short(reason) if reason else ''})" if codes else ""
            diff.add(
                "added",
                "blocklists",
                key,
                False,
                True,
                f"{subject} is now listed on {zone}{detail}",
                "worse",
            )
        elif was and not now:
            diff.add(
                "removed",
                "blocklists",
                key,
                True,
                False,
                f"{subject} is no longer listed on {zone}",
                "better",
            )


def diff_sending_ips(diff: Diff, old: Any, new: Any) -> None:
    before, after = _keyed(old, "address"), _keyed(new, "address")
    for address in sorted(before.keys() & after.keys()):
        was, now = before[address].get("fcrdns"), after[address].get("fcrdns")
        if isinstance(was, bool) and isinstance(now, bool) and was != now:
            text = "now has" if now else "lost its"
            diff.add(
                "changed",
                "sending_ips",
                f"fcrdns:{address}",
                was,
                now,
                f"Sending IP {address} {text} forward-confirmed reverse DNS",
                "better" if now else "worse",
            )


def diff_requirements(diff: Diff, old: Any, new: Any) -> None:
    """Bulk-sender requirement items that became met or unmet (unknown ones are skipped)."""
    old, new = _dict(old), _dict(new)
    for provider in sorted(old.keys() & new.keys()):
        before = _keyed(_dict(old[provider]).get("items"), "id")
        after = _keyed(_dict(new[provider]).get("items"), "id")
        for item in sorted(before.keys() & after.keys()):
            was, now = before[item].get("met"), after[item].get("met")
            if isinstance(was, bool) and isinstance(now, bool) and was != now:
                state = "now met" if now else "no longer met"
                note = _text(after[item].get("note"))
                diff.add(
                    "changed",
                    "requirements",
                    f"{provider}.{item}",
                    was,
                    now,
                    f"{provider.title()} requirement {item} {state}"
                    + (f": {note}" if note else ""),
                    "better" if now else "worse",
                )


DIFFERS: dict[str, Callable[[Diff, Any, Any], None]] = {
    "spf": diff_spf,
    "dmarc": diff_dmarc,
    "dkim": diff_dkim,
    "bimi": diff_bimi,
    "mta_sts": diff_mta_sts,
    "tlsrpt": diff_tlsrpt,
    "mx": diff_mx,
    "blocklists": diff_blocklists,
}
