"""The DMARC record (RFC 7489 §6.3-6.4, DMARCbis): a pure parser, no lookups.

A record with errors is not simply "broken": receivers ignore bad tags and use their defaults
(§6.3), and act as if ``p=none`` when ``p``/``sp`` is bad but a ``rua`` URI is usable (§6.6.3
step 6). So :class:`DmarcSyntaxError` carries ``fallback``, the record receivers act on (or
None when they apply no DMARC at all), and the check can audit what receivers really apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal
from urllib.parse import unquote

Policy = Literal["none", "quarantine", "reject"]
Alignment = Literal["r", "s"]
PsdFlag = Literal["y", "n", "u"]

_POLICIES: Final[dict[str, Policy]] = {
    "none": "none",
    "quarantine": "quarantine",
    "reject": "reject",
}
_ALIGNMENTS: Final[dict[str, Alignment]] = {"r": "r", "s": "s"}
_PSD: Final[dict[str, PsdFlag]] = {"y": "y", "n": "n", "u": "u"}
_YES_NO: Final[dict[str, bool]] = {"y": True, "n": False}
_FO_OPTIONS: Final = frozenset({"0", "1", "d", "s"})
KNOWN_TAGS: Final = frozenset(
    {"v", "p", "sp", "np", "pct", "rua", "ruf", "adkim", "aspf", "fo", "rf", "ri", "t", "psd"}
)
# A TXT record is a DMARC record when it starts with a v=DMARC1 tag (§6.6.3 step 2). Matched
# loosely (case, a missing ";") so near-misses are reported as syntax errors, not as "missing".
_CANDIDATE = re.compile(r"\s*v\s*=\s*dmarc1(?![0-9a-z_])", re.IGNORECASE)
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_SIZE = re.compile(r"([0-9]{1,15})([kmgt]?)\Z", re.IGNORECASE)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_KEYWORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
# §6.4: size units are powers of two.
_UNITS: Final = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def is_dmarc_record(text: str) -> bool:
    """Whether a TXT record at ``_dmarc.<domain>`` claims to be DMARC (others are discarded)."""
    return _CANDIDATE.match(text) is not None


def hostname(text: str) -> str | None:
    """``text`` as a lower-case A-label host name, or None when it is not a valid one."""
    name = text.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return name


def mailto_address(uri: str) -> tuple[str, str] | tuple[None, str]:
    """``mailto:a@example.com?x`` → (address, domain) or (None, why it is not usable)."""
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() != "mailto":
        return None, f"{uri!r} is not a mailto: URI"
    address = unquote(rest.partition("?")[0]).strip()
    local, at, domain_text = address.rpartition("@")
    domain = hostname(domain_text) if at else None
    if not local or domain is None or any(c.isspace() or not c.isprintable() for c in local):
        return None, f"{uri!r} does not hold a valid mail address"
    return f"{local}@{domain}", domain


@dataclass(frozen=True, slots=True)
class DmarcUri:
    """One rua/ruf entry: ``mailto:address[!size]`` (RFC 7489 §6.4)."""

    text: str
    address: str | None = None
    domain: str | None = None
    max_size: int | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None


def parse_report_uri(text: str) -> DmarcUri:
    """Parse one DMARC URI; an unusable one is returned with ``error`` set, never raised."""
    uri, bang, size_text = text.rpartition("!")
    if not bang:
        uri = text
    max_size = None
    if bang:
        size = _SIZE.match(size_text)
        if size is None:
            return DmarcUri(text, error=f"{text!r} has an invalid size limit !{size_text}")
        max_size = int(size.group(1)) * _UNITS[size.group(2).lower()]
    address, domain = mailto_address(uri)
    if address is None:
        return DmarcUri(text, error=domain)
    return DmarcUri(text, address, domain, max_size)


@dataclass(frozen=True, slots=True)
class DmarcProblem:
    tag: str | None
    message: str


@dataclass(frozen=True)
class DmarcRecord:
    """A parsed record. ``subdomain_policy``/``non_existent_policy`` are None when not published."""

    policy: Policy
    subdomain_policy: Policy | None = None
    non_existent_policy: Policy | None = None
    pct: int = 100
    rua: tuple[DmarcUri, ...] = ()
    ruf: tuple[DmarcUri, ...] = ()
    adkim: Alignment = "r"
    aspf: Alignment = "r"
    fo: tuple[str, ...] = ("0",)
    rf: tuple[str, ...] = ("afrf",)
    ri: int = 86400
    testing: bool = False
    psd: PsdFlag = "u"
    tags: Mapping[str, str] = field(default_factory=dict)
    unknown_tags: tuple[str, ...] = ()

    @property
    def effective_subdomain_policy(self) -> Policy:
        return self.subdomain_policy or self.policy

    @property
    def effective_non_existent_policy(self) -> Policy:
        """DMARCbis: np defaults to sp, which defaults to p."""
        return self.non_existent_policy or self.effective_subdomain_policy


class DmarcSyntaxError(ValueError):
    """The record breaks the grammar. ``fallback`` is the record receivers act on anyway
    (bad tags replaced by defaults, or p=none per RFC 7489 §6.6.3 step 6), None if they ignore
    the record."""

    def __init__(
        self,
        problems: Sequence[DmarcProblem],
        fallback: DmarcRecord | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.problems = tuple(problems)
        self.fallback = fallback
        self.tags = dict(tags or {})
        super().__init__("; ".join(p.message for p in self.problems))

    @property
    def tag(self) -> str | None:
        """The first bad tag's name."""
        return self.problems[0].tag if self.problems else None


def parse_dmarc(text: str) -> DmarcRecord:
    """Parse a DMARC record; raise :class:`DmarcSyntaxError` naming each bad tag.

    Tag names and keyword values are case-insensitive (ABNF strings), ``DMARC1`` is not.
    Unknown tags are ignored as RFC 7489 §6.3 requires but kept in ``unknown_tags``.
    """
    parts = text.split(";")
    name, eq, value = parts[0].partition("=")
    if not eq or name.strip().lower() != "v":
        raise DmarcSyntaxError([DmarcProblem("v", "the record must start with v=DMARC1")])
    if value.strip() != "DMARC1":
        raise DmarcSyntaxError(
            [
                DmarcProblem(
                    "v",
                    f"v={value.strip()!r} must be exactly v=DMARC1 (case-sensitive, tags are "
                    "separated by ';'); receivers ignore the record",
                )
            ]
        )
    tags: dict[str, str] = {}
    problems: list[DmarcProblem] = []
    fatal: list[DmarcProblem] = []
    for part in parts[1:]:
        if not part.strip():
            continue  # "p=none;" and ";;" are allowed
        name, eq, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not _TAG_NAME.match(name):
            problems.append(
                DmarcProblem(None, f"{part.strip()!r} is not a tag=value pair; receivers ignore it")
            )
            continue
        key = name.lower()
        if key in tags or key == "v":
            # DMARC uses the DKIM tag-list syntax (§6.4): a repeated tag voids the whole list
            # (RFC 6376 §3.2).
            fatal.append(
                DmarcProblem(key, f"tag {key}= appears more than once; receivers ignore the record")
            )
            continue
        tags[key] = value
    if fatal:
        raise DmarcSyntaxError(fatal + problems, tags=tags)
    return _build(tags, problems)


def _build(tags: dict[str, str], problems: list[DmarcProblem]) -> DmarcRecord:
    def choice(key: str, allowed: Mapping[str, Any], default: Any) -> Any:
        if key not in tags:
            return default
        found = allowed.get(tags[key].lower())
        if found is None:
            names = ", ".join(allowed)
            problems.append(DmarcProblem(key, f"{key}={tags[key]!r} is not one of {names}"))
            return default
        return found

    policy: Policy | None = choice("p", _POLICIES, None)
    if "p" not in tags:
        problems.append(DmarcProblem("p", "the required p= tag is missing"))
    subdomain_policy: Policy | None = choice("sp", _POLICIES, None)
    policy_bad = policy is None or ("sp" in tags and subdomain_policy is None)
    rua = _uris(tags.get("rua", ""))
    record = DmarcRecord(
        policy=policy or "none",
        subdomain_policy=subdomain_policy,
        non_existent_policy=choice("np", _POLICIES, None),
        pct=_number(tags, "pct", 100, 100, problems),
        rua=rua,
        ruf=_uris(tags.get("ruf", "")),
        adkim=choice("adkim", _ALIGNMENTS, "r"),
        aspf=choice("aspf", _ALIGNMENTS, "r"),
        fo=_colon_list(tags, "fo", ("0",), _FO_OPTIONS.__contains__, problems),
        rf=_colon_list(tags, "rf", ("afrf",), lambda v: bool(_KEYWORD.match(v)), problems),
        ri=_number(tags, "ri", 86400, 2**32 - 1, problems),
        testing=choice("t", _YES_NO, False),
        psd=choice("psd", _PSD, "u"),
        tags=dict(tags),
        unknown_tags=tuple(t for t in tags if t not in KNOWN_TAGS),
    )
    if not problems:
        return record
    default_note = "; receivers ignore the tag and use its default"
    if not policy_bad:
        fallback: DmarcRecord | None = record
        notes = {"p": default_note}
    elif any(u.valid for u in rua):
        # §6.6.3 step 6.1: a usable rua makes receivers act as if the record said p=none.
        fallback = replace(record, policy="none", subdomain_policy=None, non_existent_policy=None)
        notes = {"p": "; with a valid rua, receivers act as if p=none"}
    else:
        fallback = None  # §6.6.3 step 6.2: no DMARC processing at all
        notes = {"p": "; with no valid rua= either, receivers ignore the record"}
    notes["sp"] = notes["p"]
    problems = [
        DmarcProblem(p.tag, p.message + notes.get(p.tag or "", default_note))
        if p.tag is not None
        else p
        for p in problems
    ]
    raise DmarcSyntaxError(problems, fallback, tags)


def _uris(value: str) -> tuple[DmarcUri, ...]:
    # Commas inside a URI must be %-encoded (§6.4), so splitting on them is safe.
    return tuple(parse_report_uri(item.strip()) for item in value.split(",") if item.strip())


def _number(
    tags: Mapping[str, str], key: str, default: int, maximum: int, problems: list[DmarcProblem]
) -> int:
    if key not in tags:
        return default
    text = tags[key]
    # [0-9] not \d or int(): no Unicode digits, no huge-int conversion errors
    if re.fullmatch(r"[0-9]{1,10}", text) and int(text) <= maximum:
        return int(text)
    problems.append(DmarcProblem(key, f"{key}={text!r} is not a whole number from 0 to {maximum}"))
    return default


def _colon_list(
    tags: Mapping[str, str],
    key: str,
    default: tuple[str, ...],
    valid: Callable[[str], bool],
    problems: list[DmarcProblem],
) -> tuple[str, ...]:
    if key not in tags:
        return default
    items = tuple(item.strip().lower() for item in tags[key].split(":"))
    bad = [item for item in items if not valid(item)]
    if bad:
        problems.append(DmarcProblem(key, f"{key}={tags[key]!r}: invalid option {bad[0]!r}"))
        return default
    return items
