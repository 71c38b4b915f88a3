"""Header and compliance rules: unsubscribe headers, required fields, alignment, subject."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from deliverwatch.auth.orgdomain import is_aligned, organizational_domain
from deliverwatch.content.findings import LintFinding, Where, clip, finding
from deliverwatch.content.message import Header, Message, address_domain
from deliverwatch.content.options import LintOptions
from deliverwatch.content.rules.dkim import signature_tags, signing_domains


@dataclass(frozen=True, slots=True)
class SubjectPattern:
    """A subject trigger: its stable id (shown in messages and docs), a regex, what it catches."""

    id: str
    pattern: re.Pattern[str]
    description: str


def _p(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.IGNORECASE)


SUBJECT_PATTERNS: Final[tuple[SubjectPattern, ...]] = (
    SubjectPattern(
        "free_offer",
        _p(
            r"\b100\s*%\s*free\b|\bfree\s+(?:money|cash|gift|prize|iphone"
            r"|access|trial)\b|\bfor\s+free\b"
        ),
        "'100% free', 'free money/cash/gift/prize/trial', 'for free'",
    ),
    SubjectPattern(
        "act_now",
        _p(
            r"\bact\s+(?:now|fast|immediately)\b|\b(?:respond|reply)\s+(?:now"
            r"|immediately)\b"
        ),
        "'act now', 'act fast', 'respond now'",
    ),
    SubjectPattern(
        "urgency",
        _p(
            r"\burgent\b|\blimited\s+time\b|\b(?:offer\s+)?expires?\s+(?:today"
            r"|tonight|soon)\b|\blast\s+chance\b|\bimmediate\s+action\b"
        ),
        "'urgent', 'limited time', 'expires today', 'last chance', 'immediate action'",
    ),
    SubjectPattern(
        "winner",
        _p(
            r"\byou(?:'ve|\s+have)?\s+(?:won|been\s+selected)\b|\bwinner\b"
            r"|\bcongratulations\b|\bclaim\s+your\b"
        ),
        "'you have won', 'winner', 'congratulations', 'claim your'",
    ),
    SubjectPattern(
        "money",
        _p(
            r"\b(?:earn|make)\s+(?:extra\s+)?(?:cash|money|\$)"
            r"|\bcash\s+bonus\b|\bdouble\s+your\s+(?:money|income)\b"
            r"|\bget\s+paid\b|\$\$"
        ),
        "'earn/make (extra) cash', 'cash bonus', 'double your money', 'get paid', '$$'",
    ),
    SubjectPattern(
        "guarantee",
        _p(
            r"\bguarantee[d]?\b|\brisk[\s-]free\b|\bno\s+(?:risk|obligation"
            r"|catch)\b"
        ),
        "'guaranteed', 'risk-free', 'no risk/obligation/catch'",
    ),
    SubjectPattern(
        "click_here",
        _p(r"\bclick\s+(?:here|below|now)\b"),
        "'click here', 'click below', 'click now'",
    ),
    SubjectPattern(
        "credit",
        _p(
            r"\bno\s+credit\s+check\b|\bpre-?approved\b|\blowest\s+(?:price"
            r"|rate)s?\b|\bconsolidate\s+debt\b"
        ),
        "'no credit check', 'pre-approved', 'lowest price/rate', 'consolidate debt'",
    ),
    SubjectPattern(
        "pharma",
        _p(
            r"\bviagra\b|\bcialis\b|\bonline\s+pharmacy\b|\b(?:lose"
            r"|losing)\s+weight\b|\bweight\s+loss\b"
        ),
        "'viagra', 'cialis', 'online pharmacy', 'lose weight', 'weight loss'",
    ),
    SubjectPattern(
        "hype",
        _p(
            r"\bonce\s+in\s+a\s+lifetime\b|\bmiracle\b|\bamazing\s+(?:deal"
            r"|offer)\b|\bdon'?t\s+(?:miss|delete)\b"
        ),
        "'once in a lifetime', 'miracle', 'amazing deal/offer', 'don't miss', 'don't delete'",
    ),
    SubjectPattern(
        "exclamations",
        _p(r"!{2,}|(?:[^!]*!){3,}"),
        "two exclamation marks in a row, or three or more",
    ),
    SubjectPattern(
        "obfuscated",
        _p(
            r"(?:\b[a-z][\s._*-]){3,}[a-z]\b"
            r"|(?<![\w.])[a-z]+[@$0][a-z]+(?![\w.@])"
        ),
        "spaced-out or character-substituted words ('F R E E', 'm0ney', 'c@sh')",
    ),
    SubjectPattern(
        "emoji_heavy",
        re.compile(r"(?:[\U0001f300-\U0001faff\u2600-\u27bf].*){3,}"),
        "three or more emoji",
    ),
    SubjectPattern(
        "fake_reply",
        _p(r"^\s*(?:re|fwd?|aw|tr)\s*:"),
        "'Re:' / 'Fwd:' on a message that replies to nothing (no In-Reply-To or References)",
    ),
)


def _where(header: Header | None, name: str) -> Where:
    element = header.name if header else name
    if header is not None and header.line is None:
        element = f"{element} (given, not in the file)"
    return Where(header.line if header else None, element)


def no_from(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    """A full message must have a From with an address (templates take --from)."""
    header = message.header("From")
    if message.kind == "message" and (header is None or address_domain(header.value) is None):
        shown = f"From: {clip(header.value)}" if header else "no From header"
        yield finding(
            "header.no_from", f"{shown}: no usable sender address", _where(header, "From")
        )


def no_list_unsubscribe(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    if options.kind == "marketing" and message.header("List-Unsubscribe") is None:
        given = " (templates: pass the headers your ESP adds with --headers)"
        yield finding(
            "header.no_list_unsubscribe",
            "marketing mail without List-Unsubscribe"
            + (given if message.kind == "template" else ""),
            Where(None, "List-Unsubscribe"),
        )


def no_one_click_unsubscribe(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    """RFC 8058 §3.1: an HTTPS URI in List-Unsubscribe and the exact one-click POST body."""
    header = message.header("List-Unsubscribe")
    if options.kind != "marketing" or header is None:
        return
    uris = re.findall(r"<([^>]*)>", header.value)
    https = [u for u in uris if u.strip().lower().startswith("https://")]
    post = message.header("List-Unsubscribe-Post")
    problems = []
    if not https:
        problems.append("List-Unsubscribe has no https: URI")
    if post is None:
        problems.append("List-Unsubscribe-Post is missing")
    elif post.value.replace(" ", "").lower() != "list-unsubscribe=one-click":
        problems.append(f"List-Unsubscribe-Post is {clip(post.value, 40)!r}")
    if problems:
        yield finding(
            "header.no_one_click_unsubscribe",
            f"no RFC 8058 one-click unsubscribe: {'; '.join(problems)}",
            _where(header, "List-Unsubscribe"),
        )


def one_click_not_signed(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    """RFC 8058 §4: some DKIM signature must cover both headers (full, signed messages only)."""
    post = message.header("List-Unsubscribe-Post")
    signatures = message.all_headers("DKIM-Signature")
    if message.kind != "message" or post is None or not signatures:
        return
    needed = {"list-unsubscribe", "list-unsubscribe-post"}
    for signature in signatures:
        signed = {
            h.strip().lower() for h in signature_tags(signature.value).get("h", "").split(":")
        }
        if needed <= signed:
            return
    yield finding(
        "header.one_click_not_signed",
        f"{len(signatures)} DKIM signature(s), none with list-unsubscribe and "
        "list-unsubscribe-post in h=",
        _where(signatures[0], "DKIM-Signature"),
    )


def missing_message_id(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    if message.kind == "message" and message.header("Message-ID") is None:
        yield finding("header.missing_message_id", "no Message-ID header", Where(1, "Message-ID"))


def missing_date(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    if message.kind == "message" and message.header("Date") is None:
        yield finding("header.missing_date", "no Date header", Where(1, "Date"))


def from_reply_to_mismatch(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    sender, reply = message.header("From"), message.header("Reply-To")
    from_domain = address_domain(sender.value) if sender else None
    reply_domain = address_domain(reply.value) if reply else None
    if from_domain and reply_domain and not is_aligned(from_domain, reply_domain):
        yield finding(
            "header.from_reply_to_mismatch",
            f"Reply-To is on {organizational_domain(reply_domain)}, From on "
            f"{organizational_domain(from_domain)}",
            _where(reply, "Reply-To"),
        )


def from_not_aligned(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    """DMARC relaxed alignment (RFC 7489 §3.1): some DKIM d= or the envelope sender's
    organizational domain equals the From's. Silent when neither identifier is known."""
    sender = message.header("From")
    from_domain = address_domain(sender.value) if sender else None
    if not from_domain:
        return
    identifiers = [(f"DKIM d={d}", d) for d in signing_domains(message)]
    for header in message.all_headers("Return-Path"):
        envelope = address_domain(header.value)
        if envelope:
            identifiers.append((f"envelope sender {envelope}", envelope))
    if identifiers and not any(is_aligned(from_domain, d) for _, d in identifiers):
        yield finding(
            "header.from_not_aligned",
            f"From domain {from_domain} aligns with none of: "
            + ", ".join(label for label, _ in identifiers),
            _where(sender, "From"),
        )


def _cased(text: str) -> list[str]:
    return [c for c in text if c.isupper() or c.islower()]


def subject_all_caps(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    """At least 8 letters, 80% of them capitals."""
    header = message.header("Subject")
    letters = _cased(header.value) if header else []
    if header and len(letters) >= 8 and sum(c.isupper() for c in letters) >= 0.8 * len(letters):
        yield finding(
            "header.subject_all_caps",
            f"subject in capitals: {clip(header.value, 60)!r}",
            _where(header, "Subject"),
        )


def spammy_patterns(subject: str, replying: bool) -> list[SubjectPattern]:
    """The :data:`SUBJECT_PATTERNS` ``subject`` matches (``fake_reply`` only when not
    ``replying``)."""
    subject = subject[:1000]  # bound the regex work on hostile input
    return [
        p
        for p in SUBJECT_PATTERNS
        if p.pattern.search(subject) and not (p.id == "fake_reply" and replying)
    ]


def subject_spammy(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    header = message.header("Subject")
    if header is None:
        return
    replying = bool(message.header("In-Reply-To") or message.header("References"))
    hits = spammy_patterns(header.value, replying)
    if hits:
        yield finding(
            "header.subject_spammy",
            f"subject {clip(header.value, 60)!r} matches: {', '.join(p.id for p in hits)}",
            _where(header, "Subject"),
        )


RULES = (
    no_from,
    no_list_unsubscribe,
    no_one_click_unsubscribe,
    one_click_not_signed,
    missing_message_id,
    missing_date,
    from_reply_to_mismatch,
    from_not_aligned,
    subject_all_caps,
    subject_spammy,
)
