"""What the receiver said about the message: ``Authentication-Results`` and spam-filter headers.

Pure functions over header values (``email.message.Message`` or name/value pairs), so they are
tested on real-world header samples without a server.

``Authentication-Results`` (RFC 8601 §2.2)::

    mx.google.com; dkim=pass header.i=@example.com; spf=pass (google.com: …) smtp.mailfrom=…;
       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com

gives ``{"dkim": "pass", "spf": "pass", "dmarc": "pass"}``. Comments (in parentheses, which may
hold ``;``) are dropped first. With several results for one method (two DKIM signatures), a
``pass`` wins: the receiver needs one passing signature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Header-name prefixes that carry a spam filter's verdict (SpamAssassin, rspamd, Microsoft).
SPAM_HEADER_PREFIXES = (
    "x-spam",
    "x-rspamd",
    "x-spamd",
    "x-ms-exchange-organization-scl",
    "x-forefront-antispam-report",
    "x-microsoft-antispam",
)
MAX_HEADER_VALUE = 1000

_RESINFO = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*=\s*([A-Za-z0-9_.-]+)")
_SCORE = re.compile(r"(?:score|hits)\s*=\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_RSPAMD_RESULT = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*/\s*-?\d+(?:\.\d+)?\s*\]")
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*$")


def strip_comments(value: str) -> str:
    """``value`` without RFC 5322 comments (nested parentheses), quoted strings kept."""
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            out.append(char)
            if char == '"':
                quoted = False
            continue
        if char == '"' and depth == 0:
            quoted = True
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            out.append(char)
    return "".join(out)


def parse_authentication_results(value: str) -> tuple[str, dict[str, str]]:
    """(authserv-id, {method: result}) of one ``Authentication-Results`` value."""
    parts = strip_comments(value).replace("\r", " ").replace("\n", " ").split(";")
    authserv = parts[0].strip().split()[0] if parts[0].strip() else ""
    results: dict[str, str] = {}
    for part in parts[1:]:
        match = _RESINFO.match(part)
        if match is None:
            continue
        method, result = match.group(1).lower(), match.group(2).lower()
        method = method.split("/", 1)[0]
        if results.get(method) != "pass":
            results[method] = result
    return authserv, results


def authentication_verdicts(values: Iterable[str]) -> dict[str, str]:
    """Verdicts of the topmost header that has any: that is the receiver's own (headers are
    prepended, so older hops' results, which a sender could forge, come below it)."""
    for value in values:
        _, results = parse_authentication_results(value)
        if results:
            return results
    return {}


def spam_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The spam-filter headers among ``headers`` (first of each name), values shortened."""
    found: dict[str, str] = {}
    for name, value in headers:
        key = name.strip()
        if key.lower().startswith(SPAM_HEADER_PREFIXES) and key not in found:
            flat = " ".join(str(value).split())
            found[key] = flat[:MAX_HEADER_VALUE]
    return found


def spam_score(headers: dict[str, str]) -> float | None:
    """The filter's numeric score, from whichever header gives one."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in ("x-spam-score", "x-rspamd-score"):
        if name in lowered and (match := _NUMBER.match(lowered[name])):
            return float(match.group(1))
    if "x-spam-status" in lowered and (match := _SCORE.search(lowered["x-spam-status"])):
        return float(match.group(1))
    if "x-spamd-result" in lowered and (match := _RSPAMD_RESULT.search(lowered["x-spamd-result"])):
        return float(match.group(1))
    return None


def flagged_as_spam(headers: dict[str, str]) -> bool | None:
    """Whether the filter's headers call it spam (None: no verdict header). The folder decides
    the placement; this is evidence shown beside it ("in the inbox, but flagged")."""
    lowered = {name.lower(): value.strip().lower() for name, value in headers.items()}
    if "x-spam-flag" in lowered:
        return lowered["x-spam-flag"].startswith("yes")
    if "x-spam-status" in lowered:
        return lowered["x-spam-status"].startswith("yes")
    if "x-spam" in lowered:
        return lowered["x-spam"].startswith("yes")
    return None
