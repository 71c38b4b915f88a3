"""The finding-code catalogue: every problem the audit can report, with its severity and fix.

Codes are stable API (CI gates and scripts match on them); ``docs/findings.md`` lists every
code and a test fails when one is missing there. Checks create findings with :func:`finding`,
which refuses a code that is not catalogued, so the catalogue cannot drift from the code.

    finding("spf.too_many_lookups", "SPF needs 12 DNS lookups; the limit is 10")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from deliverwatch.dns import Answer


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class Spec:
    """A catalogue entry: default severity, what it means, how to fix it, score penalty."""

    code: str
    severity: Severity
    title: str
    fix: str
    penalty: int


E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741 - a table legend

_SPECS: list[tuple[str, Severity, int, str, str]] = [
    # code, severity, penalty, title, fix
    # --- SPF (RFC 7208) ---
    (
        "spf.missing",
        E,
        25,
        "The domain publishes no SPF record.",
        'Publish one TXT record at the domain: "v=spf1 include:<your ESP> -all" listing every service '
        'that sends as the domain. A domain that sends no mail publishes "v=spf1 -all".',
    ),
    (
        "spf.multiple_records",
        E,
        25,
        "More than one SPF record: receivers return permerror (RFC 7208 §4.5).",
        "Merge the records into one TXT record that starts with v=spf1.",
    ),
    (
        "spf.syntax_error",
        E,
        25,
        "The SPF record does not parse: receivers return permerror.",
        "Correct the term named in the message; each term is a mechanism (ip4:, include:, a, mx, "
        "all …) or modifier (redirect=, exp=) separated by single spaces.",
    ),
    (
        "spf.too_many_lookups",
        E,
        20,
        "Evaluating SPF takes more than 10 DNS-querying terms: receivers return permerror (RFC 7208 §4.6.4).",
        "Remove includes of services you no longer use, replace a and mx with ip4:/ip6: ranges, or "
        "move some senders to a subdomain with its own SPF record.",
    ),
    (
        "spf.void_lookups",
        W,
        10,
        "More than 2 SPF lookups return no records: receivers may return permerror (RFC 7208 §4.6.4).",
        "Remove the include:, a, mx or exists terms that point at names without records.",
    ),
    (
        "spf.include_loop",
        E,
        20,
        "An SPF include or redirect leads back to a record already being evaluated.",
        "Remove the include: or redirect= that closes the loop.",
    ),
    (
        "spf.include_missing",
        E,
        15,
        "An include: or redirect= target publishes no SPF record.",
        "Fix the target's name (look for typos) or remove the term; a missing include is a permerror.",
    ),
    (
        "spf.ptr_mechanism",
        W,
        5,
        "The record uses ptr, which RFC 7208 §5.5 says SHOULD NOT be used.",
        "Replace ptr with ip4:/ip6: ranges or the sending service's include:.",
    ),
    (
        "spf.permissive_all",
        E,
        20,
        "The record ends in +all or ?all, which authorizes or ignores any sender.",
        "End the record with -all (or ~all while you collect DMARC reports).",
    ),
    (
        "spf.softfail_all",
        I,
        0,
        "The record ends in ~all (softfail).",
        "Once DMARC reports show every legitimate source passing, consider -all.",
    ),
    (
        "spf.no_all",
        W,
        10,
        "The record has neither an all mechanism nor a redirect=, so unmatched mail is neutral.",
        "End the record with -all or ~all.",
    ),
    (
        "spf.too_many_mx",
        E,
        10,
        "An mx mechanism names more than 10 MX hosts (RFC 7208 §4.6.4): permerror.",
        "Use ip4:/ip6: ranges for the mail servers instead of mx.",
    ),
    (
        "spf.too_many_a",
        E,
        10,
        "An a or mx lookup returned more than 10 addresses or names (RFC 7208 §4.6.4).",
        "List the addresses as ip4:/ip6: ranges.",
    ),
    (
        "spf.record_too_long",
        W,
        5,
        "The SPF record is longer than fits in one 512-byte UDP answer.",
        "Shorten the record: fold ip4: ranges into CIDR blocks or move senders to includes.",
    ),
    (
        "spf.string_too_long",
        E,
        10,
        "A TXT character-string is longer than 255 bytes.",
        "Split the record into several quoted strings of at most 255 bytes each.",
    ),
    (
        "spf.deprecated_spf_type",
        W,
        2,
        "The domain publishes the SPF RR type (99), removed in RFC 7208 §3.1.",
        "Delete the SPF-type record; keep only the TXT record.",
    ),
    (
        "spf.terms_after_all",
        W,
        10,
        "Mechanisms after the all mechanism are never evaluated (RFC 7208 §4.6.2).",
        "Move all to the end of the record, after every mechanism that authorizes a sender.",
    ),
    (
        "spf.redirect_with_all",
        W,
        2,
        "A redirect= next to an all mechanism is ignored (RFC 7208 §6.1).",
        "Remove either the redirect= or the all mechanism.",
    ),
    # --- DMARC (RFC 7489 and DMARCbis) ---
    (
        "dmarc.missing",
        E,
        25,
        "No DMARC record covers the domain.",
        'Publish TXT at _dmarc.<domain>: "v=DMARC1; p=none; rua=mailto:dmarc@<domain>", then move '
        "to p=quarantine and p=reject as reports show your sources pass.",
    ),
    (
        "dmarc.multiple_records",
        E,
        25,
        "More than one DMARC record: receivers ignore DMARC for the domain.",
        "Keep exactly one TXT record starting with v=DMARC1 at _dmarc.<domain>.",
    ),
    (
        "dmarc.syntax_error",
        E,
        20,
        "The DMARC record does not parse.",
        "Correct the tag named in the message; the record is v=DMARC1 first, then tag=value pairs "
        "separated by semicolons.",
    ),
    (
        "dmarc.policy_none",
        W,
        10,
        "p=none: failing mail is delivered as if there were no DMARC.",
        "Move to p=quarantine, then p=reject, once reports show every legitimate source aligned. "
        "Bulk senders to Gmail and Yahoo need at least p=none; enforcement protects the brand.",
    ),
    (
        "dmarc.subdomain_policy_none",
        I,
        0,
        "sp=none: subdomains are not protected.",
        "Set sp=quarantine or sp=reject unless subdomains send unauthenticated mail.",
    ),
    (
        "dmarc.pct_partial",
        W,
        5,
        "pct below 100: the policy applies to only part of the failing mail.",
        "Raise pct to 100 (DMARCbis drops pct; use t=y for testing instead).",
    ),
    (
        "dmarc.no_rua",
        W,
        5,
        "No rua= address: you receive no aggregate reports.",
        "Add rua=mailto:<address> so you see who sends as the domain.",
    ),
    (
        "dmarc.rua_unauthorized",
        W,
        5,
        "An external rua/ruf destination has not authorized reports for this domain (RFC 7489 §7.1).",
        'Ask the destination to publish TXT "v=DMARC1" at <domain>._report._dmarc.<destination>.',
    ),
    (
        "dmarc.invalid_uri",
        W,
        5,
        "A rua/ruf value is not a mailto: URI.",
        "Use rua=mailto:address@example.com; separate several with commas.",
    ),
    (
        "dmarc.testing",
        I,
        0,
        "t=y: the DMARCbis testing flag asks receivers to apply one policy level lower.",
        "Remove t=y once reports show your sources pass.",
    ),
    (
        "dmarc.psd_subdomain",
        I,
        0,
        "The record is inherited from the organizational domain.",
        "Publish a record at _dmarc.<subdomain> if the subdomain needs its own policy or reports.",
    ),
    (
        "dmarc.unknown_tag",
        I,
        0,
        "The record has a tag DMARC does not define; receivers ignore it.",
        "Check the tag for a typo (rua, ruf, sp, np, adkim, aspf, fo, rf, ri, t, psd) or remove it.",
    ),
    # --- DKIM (RFC 6376) ---
    (
        "dkim.no_selector_found",
        W,
        10,
        "No DKIM key was found at any configured or common selector.",
        "Name your selectors in config (domains[].dkim_selectors) or with --selector; if you sign, "
        "publish the public key at <selector>._domainkey.<domain>.",
    ),
    (
        "dkim.key_too_short",
        E,
        15,
        "A DKIM RSA key is shorter than 1024 bits (error) or 2048 bits (warning).",
        "Generate a 2048-bit RSA key, publish it under a new selector, switch signing, then revoke the old one.",
    ),
    (
        "dkim.testing_mode",
        W,
        3,
        "t=y: receivers may treat DKIM failures from this key as unsigned.",
        "Remove t=y from the key record once signing works.",
    ),
    (
        "dkim.revoked",
        I,
        0,
        "The key record has an empty p=: the key is revoked.",
        "Nothing to do if the selector is retired; otherwise publish the current public key.",
    ),
    (
        "dkim.invalid_key",
        E,
        15,
        "The key record does not parse or its public key does not decode.",
        "Republish the key record as v=DKIM1; k=rsa; p=<base64 public key> exactly as your ESP gives it.",
    ),
    (
        "dkim.selector_missing",
        W,
        5,
        "A configured DKIM selector has no key record, or a selector's CNAME points at no key.",
        "Publish the key at <selector>._domainkey.<domain> (or the CNAME your ESP gives), or remove "
        "the selector from config if it is retired.",
    ),
    # --- BIMI ---
    (
        "bimi.syntax_error",
        W,
        3,
        "The BIMI record does not parse.",
        'Publish TXT at default._bimi.<domain>: "v=BIMI1; l=https://…/logo.svg; a=https://…/vmc.pem".',
    ),
    (
        "bimi.requires_enforcing_dmarc",
        W,
        3,
        "BIMI is published but DMARC is not at enforcement (p=quarantine or p=reject with pct=100).",
        "Move DMARC to p=quarantine or p=reject at pct=100; mailbox providers show no logo before that.",
    ),
    (
        "bimi.insecure_uri",
        W,
        3,
        "A BIMI l= or a= URI is not HTTPS.",
        "Serve the logo and certificate over HTTPS.",
    ),
    (
        "bimi.logo_unreachable",
        W,
        2,
        "The BIMI logo could not be fetched.",
        "Serve the SVG at the l= URL with a valid certificate and a 200 response.",
    ),
    (
        "bimi.logo_invalid",
        W,
        2,
        "The BIMI logo is not an SVG (SVG Tiny PS profile required).",
        "Export the logo as SVG Tiny Portable/Secure.",
    ),
    (
        "bimi.no_certificate",
        I,
        0,
        "No a= certificate: Gmail and Apple show BIMI logos only with a VMC or CMC.",
        "Obtain a Verified Mark Certificate and publish its URL in a=.",
    ),
    # --- MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) ---
    (
        "mta_sts.syntax_error",
        W,
        3,
        "The MTA-STS TXT record or policy file does not parse.",
        'Publish TXT "v=STSv1; id=<changing id>" at _mta-sts.<domain> and a policy with version, '
        "mode, mx and max_age lines.",
    ),
    (
        "mta_sts.policy_unreachable",
        W,
        3,
        "The MTA-STS policy could not be fetched over HTTPS.",
        "Serve https://mta-sts.<domain>/.well-known/mta-sts.txt with a valid certificate for that name.",
    ),
    (
        "mta_sts.mx_mismatch",
        E,
        10,
        "An MX host is not matched by the MTA-STS policy's mx: lines.",
        "Add the MX host (or a *. pattern) to the policy, or senders in enforce mode will not deliver.",
    ),
    (
        "mta_sts.testing_mode",
        I,
        0,
        "The MTA-STS policy is in testing mode.",
        "Switch to mode: enforce once TLS reports show no failures.",
    ),
    (
        "mta_sts.content_type",
        W,
        3,
        "The MTA-STS policy is not served as text/plain, the media type RFC 8461 requires.",
        "Serve /.well-known/mta-sts.txt with Content-Type: text/plain.",
    ),
    (
        "mta_sts.not_checked",
        I,
        0,
        "The MTA-STS policy was not fetched (--no-http).",
        "Run without --no-http to check the policy file.",
    ),
    (
        "tlsrpt.syntax_error",
        W,
        3,
        "The TLS-RPT record does not parse.",
        'Publish TXT "v=TLSRPTv1; rua=mailto:tls-reports@<domain>" at _smtp._tls.<domain>.',
    ),
    (
        "tlsrpt.missing_with_mta_sts",
        I,
        0,
        "MTA-STS is published without TLS-RPT, so you will not hear of failures.",
        'Publish TXT "v=TLSRPTv1; rua=mailto:tls-reports@<domain>" at _smtp._tls.<domain>.',
    ),
    # --- MX and reverse DNS ---
    (
        "mx.missing",
        W,
        10,
        "The domain has no MX record: bounces and replies to it rely on its A record.",
        "Publish MX records for the servers that receive the domain's mail.",
    ),
    (
        "mx.null_mx",
        I,
        0,
        "The domain publishes a null MX (RFC 7505): it receives no mail.",
        "Nothing to do if the domain is send-only; bounces to it cannot be delivered.",
    ),
    (
        "mx.host_unresolvable",
        E,
        15,
        "An MX host has no A or AAAA record.",
        "Fix the MX target name or publish its address records.",
    ),
    (
        "mx.ptr_mismatch",
        W,
        3,
        "An address has no forward-confirmed reverse DNS (PTR to a name that resolves back to it).",
        "Ask the address owner to set a PTR to a name whose A/AAAA record returns the same address.",
    ),
    (
        "mx.points_to_ip",
        E,
        10,
        "An MX record names an IP address instead of a host name.",
        "Point MX at a host name with an A/AAAA record.",
    ),
    (
        "mx.points_to_cname",
        W,
        3,
        "An MX target is a CNAME, which RFC 5321 §5.1 forbids.",
        "Point MX at the canonical host name.",
    ),
    # --- Sending IPs ---
    (
        "rdns.no_fcrdns",
        E,
        10,
        "A sending IP has no forward-confirmed reverse DNS; Gmail requires it of bulk senders.",
        "Ask the IP's owner (your ESP or host) to set a PTR to a host name whose A/AAAA record "
        "returns the same IP.",
    ),
    # --- Blocklists ---
    (
        "blocklist.listed",
        E,
        20,
        "The domain or a sending IP is listed on a blocklist.",
        "Find and stop the cause (compromised account, purchased list, missing unsubscribe), then "
        "request delisting through the list's removal page.",
    ),
    (
        "blocklist.query_refused",
        W,
        0,
        "The blocklist refused the query (127.255.255.x): the resolver is blocked, the result is unknown.",
        "Query the list through your own recursive resolver, or register for a data feed.",
    ),
    (
        "blocklist.bogus_answer",
        W,
        0,
        "A blocklist answered outside 127.0.0.0/8, which is not a listing (RFC 5782 §2.1): the "
        "resolver rewrites NXDOMAIN or the list is gone; the result is unknown.",
        "Query blocklists through a resolver that does not rewrite NXDOMAIN answers, and remove "
        "lists that no longer operate from the configuration.",
    ),
    # --- DNS trouble ---
    (
        "dns.timeout",
        W,
        0,
        "A lookup timed out after retries: the result is unknown, not missing.",
        "Check the domain's authoritative servers; rerun with a longer --timeout.",
    ),
    (
        "dns.servfail",
        W,
        0,
        "A lookup returned SERVFAIL after retries (often a DNSSEC or lame-delegation fault).",
        "Check the zone's DNSSEC signatures and its delegation.",
    ),
    (
        "dns.refused",
        W,
        0,
        "The nameserver refused a lookup.",
        "Use a recursive resolver that serves you.",
    ),
    (
        "dns.error",
        W,
        0,
        "A lookup failed with a network or protocol error.",
        "Check connectivity to the nameserver.",
    ),
    # --- Bulk-sender requirements summary ---
    (
        "requirements.unmet",
        W,
        0,
        "The domain misses a Google/Yahoo/Microsoft bulk-sender requirement.",
        "See the requirements section of the report for each missing item and its fix.",
    ),
]

CATALOGUE: dict[str, Spec] = {
    code: Spec(code, severity, title, fix, penalty)
    for code, severity, penalty, title, fix in _SPECS
}


def finding(
    code: str, message: str, *, severity: Severity | None = None, fix: str | None = None
) -> Finding:
    """A finding of a catalogued code; ``severity``/``fix`` override the catalogue's defaults."""
    spec = CATALOGUE[code]  # KeyError: a check invented a code the docs do not know
    return Finding(code, severity or spec.severity, message, fix or spec.fix)


def dns_failure(answer: Answer, purpose: str) -> Finding:
    """The ``dns.*`` finding for a lookup that got no answer: the result is unknown, not missing.

    ``purpose`` says what the lookup was for: ``dns_failure(answer, "SPF record")``.
    """
    code = f"dns.{answer.status}" if f"dns.{answer.status}" in CATALOGUE else "dns.error"
    return finding(code, f"{purpose}: {answer.describe()}; result unknown")


SectionStatus = Literal["ok", "warning", "error", "unknown", "not_checked"]


def section_status(findings: Iterable[Finding], *, unknown: bool = False) -> SectionStatus:
    """A section's status: its worst finding, or ``unknown`` when a lookup it needs failed."""
    worst = max((f.severity.rank for f in findings), default=0)
    if worst == Severity.ERROR.rank:
        return "error"
    if unknown:
        return "unknown"
    return "warning" if worst == Severity.WARNING.rank else "ok"


def catalogue_markdown() -> str:
    """``docs/findings.md``: regenerate with ``python -m deliverwatch.auth.findings``."""
    lines = [
        "# Finding codes",
        "",
        "Every finding `deliverwatch check` reports, grouped by standard. Codes are stable: match",
        "on them in scripts and CI gates. The severity is the default (some findings are raised",
        "at a lower one, e.g. a 1536-bit DKIM key is a warning, a 512-bit key an error); the",
        "penalty is what the code takes off the 100-point score, once per code.",
        "",
        "Generated from `src/deliverwatch/auth/findings.py` by",
        "`python -m deliverwatch.auth.findings > docs/findings.md`; a test fails when it is stale.",
    ]
    area = ""
    for spec in CATALOGUE.values():
        prefix = spec.code.split(".", 1)[0]
        if prefix != area:
            area = prefix
            lines += ["", f"## {prefix}", ""]
        lines += [
            f"### `{spec.code}`",
            "",
            f"- severity: **{spec.severity.value}**, penalty: {spec.penalty}",
            f"- what it means: {spec.title}",
            f"- fix: {spec.fix}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
