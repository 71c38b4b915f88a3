"""Bounce classes from SMTP replies, for ESPs that lump every bounce kind together.

The order of evidence (docs/bounces.md has the table):

1. well-known receiver texts: a full mailbox, a refused *sender*, an unknown user, a block
   (blocklist, spam, reputation, authentication) — receivers misuse codes more often than
   they misword these (Microsoft answers ``5.4.1`` for unknown users, Yahoo ``4.7.0`` for
   reputation).
   An unknown-user text in a *transient* (4xx) reply stays ``soft``: the server said retry;
2. the RFC 3463 enhanced status code (``5.1.1``), found in the status or the diagnostic;
3. softer texts (greylisting, "try again later");
4. the provider's own hint (``hard``, ``soft``, …) when the reply says nothing decisive;
5. the RFC 5321 basic reply code (``550``);
6. otherwise ``undetermined``.

>>> classify("5.0.0", "smtp; 550-5.1.1 The email account that you tried to reach does not exist")
<BounceClass.HARD: 'hard'>
>>> classify(None, "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred")
<BounceClass.BLOCK: 'block'>
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from deliverwatch.events.model import BounceClass

HARD, SOFT, BLOCK = BounceClass.HARD, BounceClass.SOFT, BounceClass.BLOCK
FULL, UNDETERMINED = BounceClass.MAILBOX_FULL, BounceClass.UNDETERMINED

# An enhanced code is not part of a longer dotted number (an IP address) or word.
_ENHANCED: Final = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)(?!\w)")
_BASIC: Final = re.compile(r"(?<![\w.\[])([245]\d\d)(?![\w.]?\d)(?!\w)")


class _Texts:
    """Case-insensitive phrases, searched in text already lower-cased.

    Written as readable alternatives, compiled for speed: a regex whose every alternative
    starts with a literal character lets ``re`` skip ahead to the possible first characters,
    where one alternative starting with ``\\b``, a group or a lookbehind makes it try every
    alternative at every position (ten times slower on a 250-character SMTP reply). So leading
    groups are multiplied out (``(?:a|b) c`` → ``a c|b c``), the ``\\b`` words go into one
    regex of their own, and ``re.IGNORECASE`` (slower than matching lower-cased text) is not
    used. The language matched is unchanged; a test checks it against the plain compilation.
    """

    __slots__ = ("patterns", "searches")

    def __init__(self, *patterns: str) -> None:
        self.patterns = patterns
        literal, words, other = [], [], []
        for pattern in patterns:
            for alternative in _alternatives(pattern):
                for branch in _expand(alternative):
                    if branch.startswith("\\b"):
                        words.append(branch[2:])
                    elif branch[:1].isalnum() or branch[:1] in (" ", "'", "-"):
                        literal.append(branch)
                    else:
                        other.append(branch)
        regexes = ["|".join(literal), "\\b(?:" + "|".join(words) + ")" if words else ""]
        regexes.append("|".join(other))
        self.searches = tuple(re.compile(r).search for r in regexes if r)

    def search(self, lowered: str) -> bool:
        return any(search(lowered) for search in self.searches)


def _alternatives(pattern: str) -> list[str]:
    """The top-level ``|`` alternatives of a pattern."""
    found, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1
        elif char == "[":
            i = pattern.index("]", i + 2)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            found.append(pattern[start:i])
            start = i + 1
        i += 1
    found.append(pattern[start:])
    return found


def _expand(alternative: str) -> list[str]:
    """``(?:a|b) c`` as ``a c``, ``b c``, when the leading group is flat and not quantified."""
    if alternative.startswith("(?:"):
        end = alternative.find(")")
        inner = alternative[3:end]
        quantified = alternative[end + 1 : end + 2] in ("?", "*", "+", "{")
        if "(" not in inner and "[" not in inner and not quantified:
            return [branch + alternative[end + 1 :] for branch in _alternatives(inner)]
    return [alternative]


_FULL_TEXT: Final = _Texts(
    r"mail ?box (?:is )?full",
    r"inbox (?:is )?full",
    r"over ?quota",
    r"quota(?<!sending quota) (?:exceeded|exceed)",  # not Gmail's "daily user sending quota"
    r"exceeded (?:the |their |his |her )?(?:storage|quota)",
    r"insufficient (?:storage|space) (?:for|in) (?:the )?(?:user|mailbox|account)",
    r"storage (?:allocation|quota) exceeded",
)
# The *sender* is refused (e.g. Postfix "Sender address rejected: Domain not found"): the
# recipient is fine, so these read block even though they look like unknown-address texts.
_SENDER_TEXT: Final = _Texts(
    r"sender (?:address |domain )?(?:rejected|denied|blocked|not allowed|verify failed)",
    r"sender (?:address |domain )?(?:is )?(?:invalid|unknown|not found)",
)
_HARD_TEXT: Final = _Texts(
    r"user (?:is )?unknown",
    r"unknown (?:user|recipient|address|mailbox)",
    r"no such (?:user|recipient|mailbox|address|account)",
    r"nosuchuser",  # Gmail's help link: support.google.com/mail/?p=NoSuchUser
    r"does ?n[o']t exist",
    r"doesn't have an? [\w.-]+ account",  # Yahoo: "This user doesn't have a yahoo.com account"
    r"(?:recipient|mailbox|address|user) (?:was )?not found",
    r"invalid (?:recipient|mailbox|address|user)",
    r"not a valid (?:recipient|mailbox|address|user)",
    r"(?:mailbox|account|address) (?:is )?(?:disabled|deactivated|inactive|suspended)",
    r"unrouteable address",
    r"(?:host|domain) (?:or domain name )?not found",
    r"no mx (?:record|for)",
    r"bad destination (?:mailbox|system)",
)
_BLOCK_TEXT: Final = _Texts(
    r"spamhaus|spamcop|barracuda|sorbs|\bsurbl\b|\buribl\b|\bdnsbl\b|\brbl\b",
    r"block ?list|black ?list|deny ?list",
    r"listed (?:at|in|on|by)",
    r"\bblock(?:ed|ing)?\b",
    r"unsolicited|\bspam\b|junk mail|bulk mail",
    r"reputation",
    r"\bpolicy\b|policies",
    r"\bts[s]?0\d\b",  # Yahoo TSS04 (volume/complaints), TS01-TS03 (blocked)
    r"traffic not accepted",  # Microsoft 5.7.708
    r"banned sending ip",  # Microsoft 5.7.606-649
    r"\bdmarc\b|\bspf\b|\bdkim\b|unauthenticated|not authenticated",
    r"(?:content|message) (?:was )?rejected",
    r"virus|malware|phishing|suspicious",
    r"relay(?:ing)? (?:access )?(?:denied|not permitted)",
    r"access denied, (?:banned|traffic)",
    r"rate limited due to",
)
_SOFT_TEXT: Final = _Texts(
    r"gr[ae]y ?list",
    r"try (?:again )?later",
    r"temporar(?:y|ily)",
    r"timed? ?out",
    r"connection (?:refused|reset|closed|lost)",
    r"too many (?:connections|messages|recipients)",
    r"(?:service|server) (?:is )?(?:busy|unavailable)",
    r"too (?:large|big)|size exceeds|exceeds (?:the )?(?:maximum )?(?:message )?size",
)
# After block patterns so "Recipient address rejected: Access denied" (Microsoft 5.4.1, the
# recipient is unknown) reads hard while "5.7.606 Access denied, banned sending IP" reads block.
_WEAK_HARD_TEXT: Final = _Texts(
    r"mailbox (?:is )?(?:unavailable|not available)",
    r"recipient address rejected",
    r"user not local",
)

#: Enhanced codes (class, subject, detail) whose meaning is fixed; see docs/bounces.md.
_BY_CODE: Final[dict[tuple[int, int, int], BounceClass]] = {
    (5, 1, 7): BLOCK,  # bad *sender* mailbox syntax: fix the sending, keep the recipient
    (5, 1, 8): BLOCK,  # bad *sender* system address (the From domain does not resolve)
    (5, 2, 1): HARD,  # mailbox disabled
    (5, 2, 2): FULL,
    (4, 2, 2): FULL,
    (5, 4, 1): HARD,  # RFC: no answer; Microsoft 365 uses it for "recipient does not exist"
    (5, 4, 4): HARD,  # unable to route: the domain has no mail host
    (5, 4, 310): HARD,  # Microsoft: DNS domain does not exist
    (5, 7, 13): HARD,  # user account disabled (RFC 3463 registry)
}


def enhanced_code(*texts: str | None) -> tuple[int, int, int] | None:
    """The first RFC 3463 ``class.subject.detail`` code in the texts, in order."""
    for text in texts:
        if text and (match := _ENHANCED.search(text)):
            return int(match[1]), int(match[2]), int(match[3])
    return None


def reply_code(*texts: str | None) -> int | None:
    """The first RFC 5321 three-digit reply code in the texts, in order."""
    for text in texts:
        if text and (match := _BASIC.search(text)):
            return int(match[1])
    return None


def _by_enhanced(code: tuple[int, int, int]) -> BounceClass | None:
    if code in _BY_CODE:
        return _BY_CODE[code]
    klass, subject, _ = code
    if klass == 4:
        return SOFT  # transient by definition (RFC 3463 §3.2)
    if klass != 5:
        return None
    if subject == 1:
        return HARD  # X.1.x addressing status: the recipient address is bad
    if subject == 7:
        return BLOCK  # X.7.x security or policy status
    if subject == 6:
        return BLOCK  # X.6.x media/content: the message must change, not the list
    if subject in (2, 3, 4):
        return SOFT  # mailbox/system/network conditions that may clear
    return None  # 5.0.x, 5.5.x (protocol): nothing decisive


def _by_reply(code: int) -> BounceClass | None:
    if 400 <= code < 500:
        return SOFT
    return {550: HARD, 551: HARD, 553: HARD, 552: FULL, 554: BLOCK}.get(code)


def _hint(hint: str | None) -> BounceClass | None:
    try:
        found = BounceClass((hint or "").strip().lower())
    except ValueError:
        return None
    return None if found is UNDETERMINED else found


def classify(
    smtp_status: str | None, diagnostic: str | None, hint: str | None = None
) -> BounceClass:
    """The bounce class of a failed or deferred delivery (see the module docstring)."""
    return _classify(smtp_status, diagnostic, hint)


# Repeated replies (a receiver's fixed texts, "Bounced Address") are classified once; most
# carry a per-message token (Gmail's queue id), so the cache is small and the search fast.
@lru_cache(maxsize=4096)
def _classify(smtp_status: str | None, diagnostic: str | None, hint: str | None) -> BounceClass:
    text = " ".join(t for t in (smtp_status, diagnostic) if t).lower()
    code = enhanced_code(smtp_status, diagnostic)
    basic = reply_code(smtp_status, diagnostic)
    transient = code[0] == 4 if code else basic is not None and 400 <= basic < 500
    if _FULL_TEXT.search(text):
        return FULL
    if _SENDER_TEXT.search(text):
        return BLOCK
    if _HARD_TEXT.search(text):
        return SOFT if transient else HARD
    if _BLOCK_TEXT.search(text):
        return BLOCK
    if code and (by_code := _by_enhanced(code)):
        return by_code
    if _SOFT_TEXT.search(text):
        return SOFT
    if _WEAK_HARD_TEXT.search(text):
        return SOFT if transient else HARD
    if hinted := _hint(hint):
        return hinted
    if basic and (by_reply := _by_reply(basic)):
        return by_reply
    return UNDETERMINED
