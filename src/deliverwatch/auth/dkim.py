"""DKIM public keys (RFC 6376 §3.6.1, RFC 8463 Ed25519, RFC 8301 key sizes).

DNS cannot list a domain's selectors, so we look up the configured ones plus a built-in list of
selectors that ESPs commonly use, all at once. Two traps of the wild DNS shape the check:

* ESPs have customers publish selectors as CNAMEs to keys they rotate; the resolver follows
  them and we report the target, so a dangling CNAME (account closed) is visible.
* Wildcards at ``*._domainkey`` exist: a non-DKIM TXT (an SPF record copied everywhere) is not
  a key, and a wildcard key (often ``v=DKIM1; p=`` on parked domains) would make every common
  selector "found". One probe of an improbable selector tells us what the wildcard answers; common
  selectors that merely echo it are reported once, as selector ``*``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from deliverwatch.auth.findings import Finding, SectionStatus, Severity, dns_failure, finding
from deliverwatch.auth.findings import section_status as _section_status
from deliverwatch.dns import Answer, Resolver, normalize_name

#: Selectors tried for every domain after the configured ones. Who uses them (at the time of
#: writing; ESPs change): ``google`` Google Workspace; ``selector1``/``selector2`` Microsoft 365;
#: ``s1``/``s2`` SendGrid (and many others); ``k1``/``k2``/``k3`` Mailchimp, ``mandrill`` its
#: transactional service; ``mxvault`` MXVault; ``everlytickey1``/``everlytickey2`` Everlytic;
#: ``dk`` DomainKeys-era setups; ``mailjet`` Mailjet; ``pm`` Postmark; ``sig1`` iCloud custom
#: domains; ``scph0920`` SparkPost; ``default`` cPanel, Plesk and OpenDKIM's default;
#: ``mail``/``dkim`` generic self-hosted names (``mail`` also Brevo and Yandex); ``smtp``,
#: ``mailo``, ``krs`` Mailgun; ``protonmail``/``protonmail2``/``protonmail3`` Proton Mail;
#: ``zmail`` Zoho Mail; ``fm1``-``fm3`` Fastmail; ``cm`` Campaign Monitor; ``ctct1``/``ctct2``
#: Constant Contact; ``zendesk1``/``zendesk2`` Zendesk; ``s1024``/``s2048`` Yahoo-hosted
#: domains. Amazon SES Easy DKIM and HubSpot use per-account random selectors, which no list can
#: guess: configure those.
COMMON_SELECTORS: Final[tuple[str, ...]] = (
    "google", "selector1", "selector2", "s1", "s2", "k1", "k2", "k3", "mandrill", "mxvault",
    "everlytickey1", "everlytickey2", "dk", "mailjet", "pm", "sig1", "scph0920", "default",
    "mail", "dkim", "smtp", "mailo", "krs", "protonmail", "protonmail2", "protonmail3", "zmail",
    "fm1", "fm2", "fm3", "cm", "ctct1", "ctct2", "zendesk1", "zendesk2", "s1024", "s2048",
)  # fmt: skip

#: A selector no one publishes: what it answers is what a ``*._domainkey`` wildcard answers.
WILDCARD_PROBE: Final = "dw-wildcard-probe-3f9c"
MIN_BITS: Final = 1024  # RFC 8301 §3.2: signers MUST use at least 1024 bits
RECOMMENDED_BITS: Final = 2048  # RFC 8301 §3.2: SHOULD use at least 2048 bits
ED25519_KEY_LEN: Final = 32  # RFC 8463 §4.2: p= is the raw key, not SubjectPublicKeyInfo

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_FWS = " \t\r\n"
_WS_RUN = re.compile(r"[ \t\r\n]+")
_P_TAG = re.compile(r"(?:^|;)[ \t\r\n]*p[ \t\r\n]*=")
_VERSION = re.compile(r"[ \t\r\n]*v[ \t\r\n]*=[ \t\r\n]*([^; \t\r\n]*)")


class DkimKeySyntaxError(ValueError):
    """The key record is not a usable DKIM key record; the message says why."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A parsed key record. ``public_key`` is empty and ``key_bits`` None when revoked."""

    key_type: str  # "rsa" or "ed25519"
    public_key: bytes
    key_bits: int | None
    flags: tuple[str, ...] = ()
    hash_algorithms: tuple[str, ...] | None = None  # None: h= absent, every algorithm allowed
    service_types: tuple[str, ...] = ("*",)
    notes: str = ""
    version: str | None = None

    @property
    def revoked(self) -> bool:
        return not self.public_key

    @property
    def testing(self) -> bool:
        return "y" in self.flags

    @property
    def strict(self) -> bool:
        """t=s: the signing domain must equal the From domain, not a parent (§3.6.1)."""
        return "s" in self.flags

    @property
    def for_email(self) -> bool:
        return "*" in self.service_types or "email" in self.service_types

    @property
    def allows_sha256(self) -> bool:
        return self.hash_algorithms is None or "sha256" in self.hash_algorithms


def _tag_list(text: str) -> list[tuple[str, str]]:
    """RFC 6376 §3.2 tag=value list; tag names are case-sensitive and must not repeat."""
    tags: list[tuple[str, str]] = []
    seen: set[str] = set()
    for spec in text.split(";"):
        if not spec.strip(_FWS):
            continue  # a trailing ";" is allowed; an empty spec between two is tolerated
        name, sep, value = spec.partition("=")
        name = name.strip(_FWS)
        if not sep:
            raise DkimKeySyntaxError(f"{spec.strip(_FWS)!r} is not a tag=value pair")
        if not _TAG_NAME.match(name):
            raise DkimKeySyntaxError(f"{name!r} is not a valid tag name")
        if name in seen:  # §3.2: a repeated tag makes the whole list invalid
            raise DkimKeySyntaxError(f"tag {name}= appears more than once")
        value = value.strip(_FWS)
        bad = [c for c in value if not ("\x21" <= c <= "\x7e" or c in _FWS)]
        if bad:
            raise DkimKeySyntaxError(f"tag {name}= contains the invalid character {bad[0]!r}")
        seen.add(name)
        tags.append((name, value))
    return tags


def _colon_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip(_FWS) for item in value.split(":") if item.strip(_FWS))


def _decode_key(key_type: str, data: bytes) -> int:
    """The key's size in bits; SubjectPublicKeyInfo or PKCS#1 RSAPublicKey for RSA."""
    if key_type == "ed25519":
        if len(data) != ED25519_KEY_LEN:
            hint = " (it looks like SubjectPublicKeyInfo)" if len(data) == 44 else ""
            raise DkimKeySyntaxError(
                f"an Ed25519 p= must be the raw 32-byte key (RFC 8463 §4.2), not {len(data)} "
                f"bytes{hint}"
            )
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise DkimKeySyntaxError(f"p= is not an Ed25519 key: {exc}") from None
        return 256
    try:  # cryptography reads both SubjectPublicKeyInfo and bare PKCS#1 RSAPublicKey
        key = load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        hint = " (32 bytes: an Ed25519 key without k=ed25519?)" if len(data) == 32 else ""
        raise DkimKeySyntaxError(f"p= does not decode to an RSA public key{hint}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        kind = type(key).__name__.removesuffix("PublicKey")
        raise DkimKeySyntaxError(f"k=rsa but p= holds a {kind} key")
    return int(key.key_size)


def parse_dkim_key(text: str) -> DkimKey:
    """Parse a DKIM key record (the TXT strings already joined)."""
    tags = _tag_list(text)
    values = dict(tags)
    version = values.get("v")
    if version is not None:  # §3.6.1: if present, v= is first and exactly DKIM1
        if tags[0][0] != "v":
            raise DkimKeySyntaxError("v= must be the first tag")
        if version != "DKIM1":
            raise DkimKeySyntaxError(f"v={version}: the only version is DKIM1")
    key_type = values.get("k", "rsa").lower()
    if key_type not in ("rsa", "ed25519"):
        raise DkimKeySyntaxError(f"unknown key type k={values['k']} (rsa or ed25519)")
    if "p" not in values:
        raise DkimKeySyntaxError("no p= tag (the public key)")
    # Keys are split across TXT strings and wrapped, so whitespace inside p= is allowed (§3.6.1).
    p_text = _WS_RUN.sub("", values["p"])
    try:
        public_key = base64.b64decode(p_text, validate=True)
    except (binascii.Error, ValueError):
        raise DkimKeySyntaxError("p= is not valid base64") from None
    key_bits = _decode_key(key_type, public_key) if public_key else None
    hashes = _colon_list(values["h"]) if "h" in values else None
    return DkimKey(
        key_type=key_type,
        public_key=public_key,
        key_bits=key_bits,
        flags=_colon_list(values.get("t", "")),
        hash_algorithms=hashes,
        service_types=_colon_list(values.get("s", "*")) or ("*",),
        notes=values.get("n", ""),
        version=version,
    )


def looks_like_dkim(record: str) -> bool:
    """A TXT that claims to be a key record, so a broken one is reported rather than ignored.

    Starts with v=DKIM… (v=DKIM2 and v=dkim1 are broken keys), or has no other v= and has a p=
    tag. Other v= records (SPF or DMARC copied under a wildcard) are not keys: RFC 6376 §3.6.1
    has verifiers discard them.
    """
    version = _VERSION.match(record)
    if version is not None:
        return version.group(1).upper().startswith("DKIM")
    return bool(_P_TAG.search(record))


@dataclass(slots=True)
class SelectorResult:
    """One selector's lookup; ``found`` means a DKIM record is published (even if revoked)."""

    selector: str
    configured: bool
    answer: Answer
    records: tuple[str, ...] = ()  # the DKIM-looking TXT records at the name
    key: DkimKey | None = None
    error: str | None = None  # why the record does not parse

    @property
    def found(self) -> bool:
        return bool(self.records)

    @property
    def cname(self) -> str | None:
        return self.answer.cnames[0] if self.answer.cnames else None

    @property
    def usable(self) -> bool:
        """A key a verifier can use: parses, not revoked, big enough, meant for email."""
        key = self.key
        return (
            key is not None
            and not key.revoked
            and key.for_email
            and key.allows_sha256
            and (key.key_type != "rsa" or (key.key_bits or 0) >= MIN_BITS)
        )

    def to_dict(self) -> dict[str, Any]:
        key = self.key
        return {
            "selector": self.selector,
            "found": self.found,
            "key_type": key.key_type if key else None,
            "key_bits": key.key_bits if key else None,
            "testing": key.testing if key else False,
            "record": self.records[0] if self.records else None,
            "cname": self.cname,
            "usable": self.usable,
        }


@dataclass
class DkimResult:
    domain: str
    selectors: list[SelectorResult] = field(default_factory=list)
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    status: SectionStatus = "not_checked"

    @property
    def found(self) -> list[SelectorResult]:
        return [s for s in self.selectors if s.found]

    def to_dict(self) -> dict[str, Any]:
        shown = [s for s in self.selectors if s.found or s.configured or s.cname]
        return {
            "selectors": [s.to_dict() for s in shown],
            "checked": self.checked,
            "status": self.status,
        }


def _selector_result(selector: str, configured: bool, answer: Answer) -> SelectorResult:
    result = SelectorResult(selector, configured, answer)
    if not answer.ok:
        return result
    result.records = tuple(r for r in answer.records if looks_like_dkim(r))
    if result.records:
        try:
            result.key = parse_dkim_key(result.records[0])
        except DkimKeySyntaxError as exc:
            result.error = str(exc)
    return result


def _key_findings(result: SelectorResult, name: str) -> list[Finding]:
    """Findings about one found key record published at ``name``."""
    out: list[Finding] = []
    if len(result.records) > 1:  # §3.6.2.2: which one a verifier uses is undefined
        out.append(
            finding(
                "dkim.invalid_key",
                f"{name} has {len(result.records)} DKIM key records; verifiers may pick either",
                severity=Severity.WARNING,
                fix="Publish exactly one key record per selector.",
            )
        )
    key = result.key
    if key is None:
        message = f"The DKIM key at {name} is invalid: {result.error}"
        out.append(finding("dkim.invalid_key", message))
        return out
    if key.revoked:
        out.append(finding("dkim.revoked", f"The DKIM key at {name} is revoked (empty p=)"))
        return out
    if not key.for_email:
        out.append(
            finding(
                "dkim.invalid_key",
                f"The DKIM key at {name} has s={':'.join(key.service_types)}, which excludes email",
                fix="Remove s= or set s=email.",
            )
        )
    if not key.allows_sha256:  # RFC 8301 §3.1: rsa-sha1 signatures must not be accepted
        out.append(
            finding(
                "dkim.invalid_key",
                f"The DKIM key at {name} has h={':'.join(key.hash_algorithms or ())}, which "
                "excludes sha256; verifiers reject SHA-1 signatures (RFC 8301)",
                fix="Remove h= or set h=sha256, and sign with rsa-sha256.",
            )
        )
    if key.key_type == "rsa" and key.key_bits is not None and key.key_bits < RECOMMENDED_BITS:
        severity = Severity.ERROR if key.key_bits < MIN_BITS else Severity.WARNING
        out.append(
            finding(
                "dkim.key_too_short",
                f"The DKIM key at {name} is {key.key_bits}-bit RSA; RFC 8301 requires at least "
                f"{MIN_BITS} and recommends {RECOMMENDED_BITS}",
                severity=severity,
            )
        )
    if key.testing:
        out.append(finding("dkim.testing_mode", f"The DKIM key at {name} has t=y (testing)"))
    return out


async def check_dkim(
    domain: str, resolver: Resolver, selectors: Sequence[str] = (), *, common: bool = True
) -> DkimResult:
    """Look up the configured selectors and (with ``common``) :data:`COMMON_SELECTORS`."""
    domain = normalize_name(domain)
    configured = list(dict.fromkeys(normalize_name(s) for s in selectors if normalize_name(s)))
    extra = [s for s in COMMON_SELECTORS if s not in configured] if common else []
    names = [*configured, *extra]
    result = DkimResult(domain, checked=len(names))
    if not names:
        return result  # nothing to look up: status stays "not_checked"
    probe = [WILDCARD_PROBE] if common else []
    answers = await asyncio.gather(
        *(resolver.txt(f"{s}._domainkey.{domain}") for s in (*names, *probe))
    )
    results = [
        _selector_result(s, i < len(configured), a)
        for i, (s, a) in enumerate(zip(names, answers, strict=False))
    ]
    wildcard = _selector_result("*", False, answers[-1]) if common else None
    if wildcard is not None and not wildcard.found:
        wildcard = None
    for sel in results:
        echoes = (
            wildcard is not None and set(sel.records) == set(wildcard.records) and not sel.cname
        )
        if echoes and not sel.configured:
            continue  # synthesized by the wildcard: reported once, as "*"
        result.selectors.append(sel)
    if wildcard is not None:
        result.selectors.append(wildcard)

    findings = result.findings
    failed_common = [s for s in result.selectors if not s.configured and s.answer.failed]
    for sel in result.selectors:
        name = f"{sel.selector}._domainkey.{domain}"
        answer = sel.answer
        if sel.found:
            findings.extend(_key_findings(sel, name))
        elif answer.failed:
            if sel.configured:
                findings.append(dns_failure(answer, f"DKIM key for selector {sel.selector}"))
        elif sel.cname:  # CNAME to an ESP that no longer publishes the key
            findings.append(
                finding(
                    "dkim.selector_missing",
                    f"Selector {sel.selector} is a CNAME to {sel.cname}, which publishes no "
                    "DKIM key",
                    fix="Repair the CNAME to the ESP's current key name, or delete it if you left "
                    "that ESP.",
                )
            )
        elif sel.configured:
            what = "does not exist"
            if answer.ok:  # e.g. a wildcard SPF TXT: not a key
                what = "has a TXT record that is not a DKIM key"
            findings.append(
                finding("dkim.selector_missing", f"Configured DKIM selector {name} {what}")
            )
    if failed_common:
        first = failed_common[0].answer
        listed = ", ".join(s.selector for s in failed_common[:5])
        more = f" and {len(failed_common) - 5} more" if len(failed_common) > 5 else ""
        findings.append(
            dns_failure(
                first, f"DKIM lookups of {len(failed_common)} common selectors ({listed}{more})"
            )
        )
    any_failed = any(s.answer.failed for s in result.selectors)
    configured_failed = any(s.configured and s.answer.failed for s in result.selectors)
    if not result.found and not any_failed:
        kinds = [k for k, on in (("configured", configured), ("common", common)) if on]
        findings.append(
            finding(
                "dkim.no_selector_found",
                f"No DKIM key found for {domain} at {len(names)} {' or '.join(kinds)} selectors",
            )
        )
    unknown = configured_failed or (not result.found and any_failed)
    result.status = _section_status(findings, unknown=unknown)
    return result


__all__: Sequence[str] = [
    "COMMON_SELECTORS",
    "DkimKey",
    "DkimKeySyntaxError",
    "DkimResult",
    "SelectorResult",
    "check_dkim",
    "looks_like_dkim",
    "parse_dkim_key",
]
