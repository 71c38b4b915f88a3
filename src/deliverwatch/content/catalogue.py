"""The ``deliverwatch lint`` code catalogue: default points, severity, why it matters, the fix.

Codes are stable API (CI gates match on them). ``docs/lint.md`` carries a section generated
from this table (``python -m deliverwatch.content.reference``); a test fails when it is stale.
Rules create findings with :func:`deliverwatch.content.findings.finding`, which refuses codes
missing here.
"""

from __future__ import annotations

from dataclasses import dataclass

from deliverwatch.auth.findings import Severity


@dataclass(frozen=True, slots=True)
class LintSpec:
    code: str
    severity: Severity
    points: int
    title: str
    why: str
    fix: str


E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741 - a table legend

_SPECS: tuple[LintSpec, ...] = (
    # --- the input itself ---
    LintSpec(
        "message.unparseable",
        E,
        10,
        "The file cannot be read as a message or template.",
        "A message a receiver cannot parse is rejected or filtered; a template that cannot be "
        "read cannot be checked at all.",
        "Save the message as RFC 5322 text (headers, a blank line, the body) or the template as "
        "UTF-8 HTML/text; the message names what failed.",
    ),
    LintSpec(
        "message.malformed",
        W,
        2,
        "The MIME structure has defects (missing boundaries, bad headers, broken encodings).",
        "Filters score malformed MIME as spam-like (SpamAssassin's MIME_* rules) and some "
        "clients show such messages blank or as attachments.",
        "Generate the message with a MIME library instead of string templates; the message "
        "lists the parser's defects.",
    ),
    # --- headers and compliance ---
    LintSpec(
        "header.no_list_unsubscribe",
        E,
        6,
        "Marketing mail without a List-Unsubscribe header.",
        "Gmail and Yahoo require List-Unsubscribe on bulk mail since February 2024; without it "
        "recipients press 'report spam' instead, which hurts the domain's reputation.",
        "Add List-Unsubscribe: <https://example.com/u/TOKEN>, <mailto:unsub@example.com> "
        "(RFC 2369) with a per-recipient token.",
    ),
    LintSpec(
        "header.no_one_click_unsubscribe",
        W,
        4,
        "List-Unsubscribe without RFC 8058 one-click (List-Unsubscribe-Post with an HTTPS URI).",
        "Gmail and Yahoo require one-click unsubscribe for bulk senders; mailto-only or "
        "POST-less unsubscribe does not meet it.",
        "Add List-Unsubscribe-Post: List-Unsubscribe=One-Click and an https: URI in "
        "List-Unsubscribe that unsubscribes on a POST without further steps; sign both "
        "headers with DKIM.",
    ),
    LintSpec(
        "header.one_click_not_signed",
        W,
        2,
        "No DKIM signature covers both List-Unsubscribe and List-Unsubscribe-Post.",
        "RFC 8058 §4 requires a valid DKIM signature over both headers; without it receivers "
        "ignore the one-click header (Gmail shows no unsubscribe button).",
        "Add list-unsubscribe and list-unsubscribe-post to the h= of your DKIM signature "
        "(your ESP's signing settings).",
    ),
    LintSpec(
        "header.missing_message_id",
        W,
        3,
        "A complete message without a Message-ID header (RFC 5322 §3.6.4).",
        "Gmail rejects or defers mail without Message-ID from bulk senders, and filters score "
        "its absence (SpamAssassin MISSING_MID).",
        "Let the sending library or MTA add Message-ID: <unique@your-domain>.",
    ),
    LintSpec(
        "header.missing_date",
        W,
        2,
        "A complete message without a Date header, which RFC 5322 §3.6 requires.",
        "A missing Date is a classic spam-software signature (SpamAssassin MISSING_DATE).",
        "Let the sending library or MTA add the Date header.",
    ),
    LintSpec(
        "header.from_reply_to_mismatch",
        I,
        1,
        "Reply-To is on a different organizational domain than From.",
        "Replies going to another domain is a phishing pattern (business email compromise); "
        "filters weigh it with other signals.",
        "Use a Reply-To on the From domain (or drop Reply-To) unless the other domain is yours.",
    ),
    LintSpec(
        "header.from_not_aligned",
        E,
        10,
        "Neither the DKIM signing domain nor the envelope sender aligns with the From domain.",
        "DMARC passes only with an aligned identifier (RFC 7489 §3.1, relaxed: same "
        "organizational domain); unaligned mail fails DMARC and, at p=quarantine/reject, is "
        "filtered or refused. Gmail and Yahoo require alignment from bulk senders.",
        "Sign with d= your From domain (set up your ESP's custom DKIM domain) or use a return "
        "path (bounce domain) under it.",
    ),
    LintSpec(
        "header.subject_all_caps",
        W,
        2,
        "The subject is written in capitals.",
        "Shouting subjects are a strong spam signal (SpamAssassin SUBJ_ALL_CAPS) and depress "
        "engagement.",
        "Write the subject in sentence case; emphasise one word at most.",
    ),
    LintSpec(
        "header.subject_spammy",
        W,
        2,
        "The subject matches phrases spam filters and recipients associate with spam.",
        "Content filters still score classic trigger phrases, and recipients report them.",
        "Say concretely what the mail contains; docs/lint.md lists each pattern.",
    ),
    LintSpec(
        "header.no_from",
        E,
        10,
        "No usable From address (missing, empty or not an address).",
        "Every receiver needs From for DMARC; Gmail rejects mail without a valid From.",
        "Add From: Name <sender@your-domain>, or pass --from / lint.from for templates.",
    ),
    # --- structure ---
    LintSpec(
        "body.no_text_part",
        W,
        2,
        "HTML without a text/plain alternative.",
        "HTML-only mail scores worse (SpamAssassin MIME_HTML_ONLY) and some clients and "
        "accessibility tools show nothing.",
        "Send multipart/alternative with a text/plain part; for a template X.html put the text "
        "version next to it as X.txt.",
    ),
    LintSpec(
        "body.image_only",
        E,
        6,
        "The HTML is images with (almost) no text.",
        "Image-only mail is how spam hides its words from filters, so filters treat it as spam; "
        "with images blocked recipients see nothing.",
        "Put the message in live text and use images as illustrations.",
    ),
    LintSpec(
        "body.low_text_to_image_ratio",
        W,
        2,
        "Little text for the number of images.",
        "Filters compare text to image weight; image-heavy mail lands in Promotions or spam and "
        "is empty when images are blocked.",
        "Add text (aim for at least 100 characters per image) or remove images.",
    ),
    LintSpec(
        "body.gmail_clipping",
        W,
        3,
        "The HTML part is over 102 KB: Gmail clips it behind 'View entire message'.",
        "Clipped mail hides the footer with the unsubscribe link and the open-tracking pixel; "
        "recipients who cannot find the unsubscribe link report spam.",
        "Remove inlined CSS duplicates, comments and unused markup; minify the HTML.",
    ),
    LintSpec(
        "body.missing_alt",
        I,
        1,
        "Images without alt text.",
        "Most clients block images by default; without alt text the mail shows empty boxes, "
        "and screen readers read file names.",
        'Give every image an alt attribute (alt="" for decorative spacers).',
    ),
    LintSpec(
        "body.hidden_text",
        W,
        3,
        "More hidden text than a preheader (display:none, font-size:0, white-on-white …).",
        "Hidden text is how spam feeds filters innocent words (hash busting); filters look for it.",
        "Keep hidden text to the preheader (under 150 characters) and remove invisible content.",
    ),
    LintSpec(
        "body.no_unsubscribe_link",
        E,
        4,
        "Marketing mail without a visible unsubscribe link in the body.",
        "CAN-SPAM and GDPR require a visible opt-out; recipients who cannot find one report "
        "spam, which is the strongest negative reputation signal.",
        "Add a visible link with the word 'Unsubscribe' in the footer (or set --kind "
        "transactional if the mail is not marketing).",
    ),
    LintSpec(
        "body.base64_text",
        I,
        1,
        "A text part is base64-encoded though it is nearly all ASCII.",
        "Needlessly encoded text is a spam-software trait (SpamAssassin MIME_BASE64_TEXT).",
        "Use quoted-printable or 7bit/8bit for text parts.",
    ),
    LintSpec(
        "body.javascript_or_forms",
        E,
        5,
        "Scripts, forms, frames or event handlers in the HTML.",
        "Mail clients strip them, and filters treat active content as phishing or malware.",
        "Remove <script>, <form>, <iframe>, <object>, <embed>, on* attributes and javascript: "
        "links; link to a web page instead.",
    ),
    # --- links ---
    LintSpec(
        "link.shortener",
        E,
        4,
        "A link goes through a public URL shortener.",
        "Shortener domains are shared with spammers and often blocklisted, and they hide the "
        "destination, so filters distrust them.",
        "Link to your own domain (a branded short domain is fine).",
    ),
    LintSpec(
        "link.ip_host",
        E,
        5,
        "A link points at a bare IP address.",
        "Legitimate senders link to names; IP links are a phishing signature.",
        "Link to a host name on your domain.",
    ),
    LintSpec(
        "link.text_href_mismatch",
        E,
        5,
        "A link's text shows one domain or URL and the link goes to another.",
        "Displayed-versus-actual URL mismatch is the classic phishing trait; filters and Gmail's "
        "warnings look for it.",
        "Make the visible text match the destination's domain, or use words instead of a URL as "
        "link text. Use a click-tracking domain under your own domain.",
    ),
    LintSpec(
        "link.insecure_http",
        I,
        1,
        "A link uses http:// instead of https://.",
        "Browsers warn on plain HTTP and filters weigh it slightly; tracking parameters leak.",
        "Use https:// links (and an HTTPS click-tracking domain).",
    ),
    LintSpec(
        "link.too_many_domains",
        W,
        2,
        "The links go to many different organizational domains.",
        "Each linked domain's reputation counts; many unrelated domains look like link farms "
        "and raise the chance one is blocklisted.",
        "Link to your own domain and a few partners; host assets on your domain.",
    ),
    LintSpec(
        "link.tracking_domain_not_aligned",
        W,
        2,
        "Links go through a click-tracking domain that is not under the From domain.",
        "Shared ESP tracking domains carry other senders' reputation and do not match the From "
        "domain.",
        "Set up a custom (branded) tracking domain under your From domain at your ESP.",
    ),
    LintSpec(
        "link.broken",
        W,
        3,
        "A link does not work: its host does not resolve, or it answers an error (--check-links).",
        "Broken links mean complaints and low engagement, and a dead domain in the body can be "
        "registered by someone else.",
        "Fix or remove the link.",
    ),
    LintSpec(
        "link.unverified",
        I,
        0,
        "A link could not be checked (timeout, DNS failure, or the site refuses robots).",
        "Unknown is not broken: the result is reported so you can retry, not scored.",
        "Retry later, or check the link by hand.",
    ),
    LintSpec(
        "link.blocklisted",
        E,
        10,
        "A linked domain is on a URI blocklist (DBL/SURBL zones; --check-links).",
        "Receivers look up every domain in the body on URI blocklists; one listed domain sends "
        "the message to spam or gets it rejected.",
        "Remove the link; if the domain is yours, find out why it is listed and request removal.",
    ),
    LintSpec(
        "link.blocklist_unknown",
        I,
        0,
        "A URI blocklist lookup failed or was refused: the result is unknown.",
        "Lists refuse queries from public resolvers; a failed lookup says nothing.",
        "Query through your own recursive resolver (--nameserver) and retry.",
    ),
    # --- DKIM ---
    LintSpec(
        "dkim.signature_invalid",
        E,
        10,
        "A DKIM-Signature does not verify (headers changed, wrong or missing key, bad syntax).",
        "A failing signature counts as no signature: DMARC has only SPF left, and forwarding "
        "breaks SPF.",
        "Sign after the last change to the message; check the selector's key in DNS matches "
        "the private key.",
    ),
    LintSpec(
        "dkim.body_modified",
        E,
        10,
        "The body no longer matches the DKIM body hash (bh=): it changed after signing.",
        "The signature fails at every receiver.",
        "Do not rewrite the body after signing (footers, link tracking, line wrapping); sign last.",
    ),
    LintSpec(
        "dkim.key_unavailable",
        I,
        0,
        "The DKIM key lookup failed: the signature could not be verified.",
        "Unknown is not invalid: the result is reported, not scored.",
        "Check the resolver (--nameserver) and retry.",
    ),
    # --- the linter itself ---
    LintSpec(
        "lint.rule_error",
        I,
        0,
        "A rule failed on this input; the other rules ran.",
        "A bug in deliverwatch, not in your message.",
        "Please report it with the input that triggers it.",
    ),
    LintSpec(
        "lint.crashed",
        E,
        10,
        "Linting this file crashed (an error, or its worker process died); it was not checked.",
        "A file that was not checked must not pass a CI gate silently, so it scores over the "
        "default fail threshold; the run's other files are reported as usual.",
        "Rerun the file alone (`deliverwatch lint --jobs 1 FILE`) and report the bug with it.",
    ),
)

CATALOGUE: dict[str, LintSpec] = {spec.code: spec for spec in _SPECS}


def codes_markdown() -> str:
    """The generated code reference inside ``docs/lint.md``."""
    lines: list[str] = []
    area = ""
    for spec in CATALOGUE.values():
        prefix = spec.code.split(".", 1)[0]
        if prefix != area:
            area = prefix
            lines += [f"### {prefix}", ""]
        lines += [
            f"#### `{spec.code}`",
            "",
            f"- severity: **{spec.severity.value}**, points: {spec.points}",
            f"- what it means: {spec.title}",
            f"- why it matters: {spec.why}",
            f"- fix: {spec.fix}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
