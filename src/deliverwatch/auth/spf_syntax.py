"""SPF record syntax (RFC 7208 §4.5, §4.6, §5, §6, §7): text → :class:`SpfRecord`, no DNS.

The parser is strict where receivers are: any term that does not match the RFC 7208 ABNF
makes the whole record a permerror, so it raises :class:`SpfSyntaxError` naming that term.
Macros (§7) are checked for syntax only; they are expanded per message, which an audit
cannot do.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Qualifier = Literal["+", "-", "~", "?"]
MechanismName = Literal["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MECHANISMS: Final = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
#: Terms that make the receiver query DNS; at most 10 per evaluation (§4.6.4).
QUERYING_MECHANISMS: Final = frozenset({"include", "a", "mx", "ptr", "exists"})
QUALIFIERS: Final = "+-~?"

_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.\-]*)=(.*)", re.ASCII | re.DOTALL)
_MACRO = re.compile(r"%\{([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}", re.ASCII)
_MACRO_LETTERS: Final = frozenset("slodiphcrtv")
_EXP_ONLY_LETTERS: Final = frozenset("crt")  # §7.2: only in explanation text, not domain-specs
_TOPLABEL = re.compile(
    r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9]", re.ASCII
)
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IP4 = re.compile(rf"{_QNUM}(?:\.{_QNUM}){{3}}", re.ASCII)
_IP6_CHARS = re.compile(r"[0-9A-Fa-f:.]+", re.ASCII)
_CIDR4 = r"0|[1-9][0-9]?"
_CIDR6 = r"0|[1-9][0-9]{0,2}"
# a/mx argument: optional ":domain-spec", then dual-cidr-length (§5.6); the domain part is lazy
# so a trailing "/24//64" is read as CIDR lengths, not as part of the name.
_TRAILING_CIDR = re.compile(r"/[0-9]*\Z")
_DUAL_CIDR = re.compile(r"(?P<spec>.*?)(?:/(?P<c4>[0-9]+))?(?://(?P<c6>[0-9]+))?", re.DOTALL)


class SpfSyntaxError(ValueError):
    """The record does not parse; ``term`` is the offending term ("" for the record as a whole)."""

    def __init__(self, term: str, reason: str) -> None:
        self.term = term
        self.reason = reason
        super().__init__(f"{term}: {reason}" if term else reason)


@dataclass(frozen=True, slots=True)
class Mechanism:
    """A directive: ``qualifier`` defaults to ``+``; ``domain`` is the domain-spec as written."""

    qualifier: Qualifier
    name: MechanismName
    domain: str | None = None
    network: Network | None = None
    cidr4: int | None = None
    cidr6: int | None = None
    text: str = ""

    @property
    def queries_dns(self) -> bool:
        return self.name in QUERYING_MECHANISMS

    @property
    def has_macros(self) -> bool:
        return self.domain is not None and "%" in self.domain


@dataclass(frozen=True, slots=True)
class Modifier:
    """``name=value``; ``name`` lower-cased (modifier names are case-insensitive, RFC 5234)."""

    name: str
    value: str
    text: str = ""

    @property
    def has_macros(self) -> bool:
        return "%" in self.value


Term = Mechanism | Modifier


@dataclass(frozen=True, slots=True)
class SpfRecord:
    text: str
    terms: tuple[Term, ...]

    @property
    def mechanisms(self) -> tuple[Mechanism, ...]:
        return tuple(t for t in self.terms if isinstance(t, Mechanism))

    @property
    def modifiers(self) -> tuple[Modifier, ...]:
        return tuple(t for t in self.terms if isinstance(t, Modifier))

    @property
    def all(self) -> Mechanism | None:
        """The first ``all``: evaluation never gets past it (§5.1)."""
        return next((m for m in self.mechanisms if m.name == "all"), None)

    @property
    def redirect(self) -> Modifier | None:
        return next((m for m in self.modifiers if m.name == "redirect"), None)

    @property
    def exp(self) -> Modifier | None:
        return next((m for m in self.modifiers if m.name == "exp"), None)

    @property
    def evaluated_mechanisms(self) -> tuple[Mechanism, ...]:
        """Mechanisms a receiver may evaluate: those up to and including the first ``all``."""
        mechanisms = self.mechanisms
        for index, mechanism in enumerate(mechanisms):
            if mechanism.name == "all":
                return mechanisms[: index + 1]
        return mechanisms

    @property
    def unreachable_mechanisms(self) -> tuple[Mechanism, ...]:
        return self.mechanisms[len(self.evaluated_mechanisms) :]

    @property
    def effective_redirect(self) -> Modifier | None:
        """``redirect=`` unless an ``all`` anywhere makes receivers ignore it (§6.1)."""
        return None if self.all is not None else self.redirect

    def __str__(self) -> str:
        return " ".join(["v=spf1", *(t.text for t in self.terms)])


def is_spf_record(text: str) -> bool:
    """``v=spf1`` (any case) followed by a space or the end (§4.5); ``v=spf10`` is not SPF."""
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def spf_records(txt_records: Iterable[str]) -> list[str]:
    """The SPF records among a name's TXT records; more than one is a permerror (§4.5)."""
    return [text for text in txt_records if is_spf_record(text)]


def parse_spf(text: str) -> SpfRecord:
    """Parse one SPF record; raise :class:`SpfSyntaxError` naming the first bad term."""
    if not is_spf_record(text):
        raise SpfSyntaxError("", "the record does not start with v=spf1")
    terms: list[Term] = []
    seen: set[str] = set()
    for raw in text[6:].split(" "):
        if not raw:  # terms are separated by 1*SP and the record may end in spaces (§4.5 ABNF)
            continue
        term = _parse_term(raw)
        if isinstance(term, Modifier) and term.name in ("redirect", "exp"):
            if term.name in seen:  # §6: each may appear at most once
                raise SpfSyntaxError(raw, f"{term.name}= appears more than once")
            seen.add(term.name)
        terms.append(term)
    return SpfRecord(text, tuple(terms))


def _parse_term(raw: str) -> Term:
    modifier = _MODIFIER.fullmatch(raw)
    if modifier is not None:
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            _check_domain_spec(value, raw)
        else:  # unknown-modifier = name "=" macro-string (§6): ignored but must parse
            _check_macro_string(value, raw, exp_letters=True)
        return Modifier(name, value, raw)
    qualifier: Qualifier = "+"
    body = raw
    if raw[0] in QUALIFIERS:
        qualifier = raw[0]  # type: ignore[assignment]
        body = raw[1:]
    cut = min((i for i in (body.find(":"), body.find("/")) if i >= 0), default=len(body))
    name, rest = body[:cut].lower(), body[cut:]
    if name not in MECHANISMS:
        shown = body[:cut] or raw
        raise SpfSyntaxError(raw, f"unknown mechanism {shown!r}")
    return _parse_mechanism(raw, qualifier, name, rest)  # type: ignore[arg-type]


def _parse_mechanism(raw: str, qualifier: Qualifier, name: MechanismName, rest: str) -> Mechanism:
    if name == "all":
        if rest:
            raise SpfSyntaxError(raw, "all takes no argument")
        return Mechanism(qualifier, name, text=raw)
    if name in ("ip4", "ip6"):
        if not rest.startswith(":"):
            raise SpfSyntaxError(raw, f"{name} needs an address: {name}:<network>")
        network = _parse_network(raw, name, rest[1:])
        return Mechanism(qualifier, name, network=network, text=raw)
    if name in ("include", "exists", "ptr"):
        if rest.startswith("/") or _TRAILING_CIDR.search(rest):
            raise SpfSyntaxError(raw, f"{name} takes no CIDR length")
        if not rest:
            if name != "ptr":
                raise SpfSyntaxError(raw, f"{name} needs a domain: {name}:<domain>")
            return Mechanism(qualifier, name, text=raw)
        _check_domain_spec(rest[1:], raw)
        return Mechanism(qualifier, name, domain=rest[1:], text=raw)
    # a and mx: [":" domain-spec] [dual-cidr-length] (§5.3, §5.4)
    match = _DUAL_CIDR.fullmatch(rest)
    assert match is not None  # the pattern matches any string
    spec, c4, c6 = match.group("spec"), match.group("c4"), match.group("c6")
    domain: str | None = None
    if spec:
        if not spec.startswith(":"):
            raise SpfSyntaxError(raw, f"bad CIDR length {spec!r}")
        domain = spec[1:]
        _check_domain_spec(domain, raw)
    cidr4 = _cidr(raw, c4, _CIDR4, 32) if c4 is not None else None
    cidr6 = _cidr(raw, c6, _CIDR6, 128) if c6 is not None else None
    return Mechanism(qualifier, name, domain=domain, cidr4=cidr4, cidr6=cidr6, text=raw)


def _cidr(raw: str, digits: str, pattern: str, limit: int) -> int:
    if not re.fullmatch(pattern, digits) or int(digits) > limit:
        raise SpfSyntaxError(raw, f"bad CIDR length /{digits} (0-{limit}, no leading zeros)")
    return int(digits)


def _parse_network(raw: str, name: str, value: str) -> Network:
    address, slash, length = value.partition("/")
    if name == "ip4":
        if not _IP4.fullmatch(address):
            raise SpfSyntaxError(raw, f"{address!r} is not an IPv4 address")
        prefix = _cidr(raw, length, _CIDR4, 32) if slash else 32
        return ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    # ip6-network is RFC 4291 §2.2 text; the character check keeps out zone ids ("%eth0")
    try:
        if not _IP6_CHARS.fullmatch(address):
            raise ValueError(address)
        ipaddress.IPv6Address(address)
    except ValueError:
        raise SpfSyntaxError(raw, f"{address!r} is not an IPv6 address") from None
    prefix = _cidr(raw, length, _CIDR6, 128) if slash else 128
    return ipaddress.IPv6Network(f"{address}/{prefix}", strict=False)


def _check_domain_spec(spec: str, raw: str) -> None:
    """domain-spec = macro-string domain-end (§7.1), plus DNS name limits when macro-free."""
    if not spec:
        raise SpfSyntaxError(raw, "empty domain")
    if _check_macro_string(spec, raw, exp_letters=False):
        return  # domain-end = macro-expand
    name = spec[:-1] if spec.endswith(".") else spec
    _head, dot, top = name.rpartition(".")
    if not dot or not _TOPLABEL.fullmatch(top):
        raise SpfSyntaxError(raw, f"{spec!r} does not end in a domain label such as .com")
    if "%" in spec:
        return  # labels are only known after expansion
    labels = name.split(".")
    if any(not label for label in labels):
        raise SpfSyntaxError(raw, f"{spec!r} has an empty label")
    if any(len(label) > 63 for label in labels) or len(name) > 253:
        raise SpfSyntaxError(raw, f"{spec!r} is too long for a DNS name")


def _check_macro_string(text: str, raw: str, *, exp_letters: bool) -> bool:
    """Validate macro-string syntax; return whether it ends with a macro-expand."""
    index, ends_with_macro = 0, False
    while index < len(text):
        char = text[index]
        if char == "%":
            following = text[index + 1 : index + 2]
            if following and following in "%_-":
                index += 2
                ends_with_macro = True
                continue
            match = _MACRO.match(text, index)
            if match is None:
                raise SpfSyntaxError(raw, f"bad macro at {text[index : index + 12]!r}")
            letter, digits = match.group(1).lower(), match.group(2)
            if letter not in _MACRO_LETTERS:
                raise SpfSyntaxError(raw, f"unknown macro letter {match.group(1)!r}")
            if letter in _EXP_ONLY_LETTERS and not exp_letters:
                raise SpfSyntaxError(
                    raw, f"macro %{{{match.group(1)}}} is only allowed in exp text"
                )
            if digits and not digits.strip("0"):  # §7.3: the DIGIT transformer must be nonzero
                raise SpfSyntaxError(raw, "macro transformer digit must be nonzero")
            index = match.end()
            ends_with_macro = True
            continue
        if not 0x21 <= ord(char) <= 0x7E:
            raise SpfSyntaxError(raw, f"invalid character {char!r}")
        index += 1
        ends_with_macro = False
    return ends_with_macro


__all__ = [
    "MECHANISMS",
    "QUERYING_MECHANISMS",
    "Mechanism",
    "MechanismName",
    "Modifier",
    "Qualifier",
    "SpfRecord",
    "SpfSyntaxError",
    "Term",
    "is_spf_record",
    "parse_spf",
    "spf_records",
]
