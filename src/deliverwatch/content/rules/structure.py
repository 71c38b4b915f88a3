"""Structure rules: MIME shape, text versus images, size, hidden and active content."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from deliverwatch.content.findings import LintFinding, Where, clip, finding
from deliverwatch.content.message import Link, Message
from deliverwatch.content.options import LintOptions

_UNSUBSCRIBE: Final = re.compile(
    r"unsub|opt[\s_-]?out|abmelden|d[ée]sinscri|darse\s+de\s+baja|cancel+ar\s+suscripci"
    r"|afmelden|disiscriv|(?:manage|update|email)[\s_-]*(?:your[\s_-]*)?(?:preferences|subscription)",
    re.IGNORECASE,
)
_LINE_WITH_LINK: Final = re.compile(r"https?://|\{\{|\*\||%%|\[unsubscribe\]", re.IGNORECASE)


def _lines(lines: list[int | None]) -> str:
    known = sorted({n for n in lines if n is not None})
    if len(known) < 2:  # one place: ``where`` already names it
        return ""
    shown = ", ".join(str(n) for n in known[:8])
    return f" (lines {shown}{' …' if len(known) > 8 else ''})"


def malformed(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    if message.defects:
        names = sorted(set(message.defects))
        yield finding(
            "message.malformed", f"MIME defects: {', '.join(names)}", Where(1, "MIME structure")
        )


def no_text_part(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    html = message.html_parts
    if html and not message.text_parts:
        yield finding(
            "body.no_text_part",
            "HTML body without a text/plain alternative",
            Where(html[0].line, "text/html", "text/html"),
        )


def _content_images(message: Message) -> list[int | None]:
    return [i.line for i in message.images if not i.tracking_pixel and i.src]


def image_only(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    images = _content_images(message)
    text = len(message.visible_text)
    if images and text < options.image_only_text:
        yield finding(
            "body.image_only",
            f"{len(images)} image(s) and {text} characters of text",
            Where(images[0], "<img>", "text/html"),
        )


def low_text_to_image_ratio(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    images = _content_images(message)
    text = len(message.visible_text)
    if images and text >= options.image_only_text:
        per_image = text // len(images)
        if per_image < options.min_text_per_image:
            yield finding(
                "body.low_text_to_image_ratio",
                f"{text} characters of text for {len(images)} images ({per_image} per image; "
                f"aim for {options.min_text_per_image})",
                Where(images[0], "<img>", "text/html"),
            )


def gmail_clipping(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    for part in message.html_parts:
        if part.size > options.clip_bytes:
            yield finding(
                "body.gmail_clipping",
                f"HTML part is {part.size / 1024:.0f} KB; Gmail clips over "
                f"{options.clip_bytes // 1024} KB",
                Where(part.line, "text/html", "text/html"),
            )
            return


def missing_alt(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    missing = [i for i in message.images if i.alt is None and not i.tracking_pixel]
    if missing:
        yield finding(
            "body.missing_alt",
            f"{len(missing)} image(s) without alt text, first {clip(missing[0].src, 60)!r}"
            + _lines([i.line for i in missing]),
            Where(missing[0].line, f'<img src="{clip(missing[0].src, 60)}">', "text/html"),
        )


def hidden_text(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    chars = sum(len(" ".join(t.split())) for t, _ in message.hidden_text)
    if chars > options.hidden_text_limit:
        first_text, first_line = max(message.hidden_text, key=lambda item: len(item[0].strip()))
        yield finding(
            "body.hidden_text",
            f"{chars} characters of hidden text (a preheader needs under "
            f"{options.hidden_text_limit}), e.g. {clip(first_text, 50)!r}"
            + _lines([n for _, n in message.hidden_text]),
            Where(first_line, "hidden element", "text/html"),
        )


def _is_unsubscribe_link(link: Link) -> bool:
    return not link.hidden and bool(
        _UNSUBSCRIBE.search(link.text) or _UNSUBSCRIBE.search(link.href)
    )


def _text_has_unsubscribe(message: Message) -> bool:
    """A text part line that mentions unsubscribing and carries a URL or merge tag."""
    return any(
        _UNSUBSCRIBE.search(line) and _LINE_WITH_LINK.search(line)
        for part in message.text_parts
        for line in part.text.split("\n")
    )


def no_unsubscribe_link(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    if options.kind != "marketing" or not message.parts:
        return
    html = message.html_parts
    if html:
        # reversed: the link is in the footer, so the search usually stops at once
        found = any(
            _is_unsubscribe_link(x) for x in reversed(message.links) if x.part == "text/html"
        )
    else:
        found = _text_has_unsubscribe(message)
    if not found:
        part = html[0] if html else message.parts[0]
        yield finding(
            "body.no_unsubscribe_link",
            "no visible unsubscribe link in the " + ("HTML" if html else "text") + " body",
            Where(part.line, part.content_type, part.content_type),
        )


def base64_text(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    for part in message.parts:
        if part.transfer_encoding != "base64" or not part.text:
            continue
        ascii_chars = sum(1 for c in part.text if c < "\x80")
        if ascii_chars >= 0.95 * len(part.text):
            yield finding(
                "body.base64_text",
                f"{part.content_type} part is base64-encoded but "
                f"{ascii_chars * 100 // len(part.text)}% ASCII",
                Where(part.line, part.content_type, part.content_type),
            )
            return


def javascript_or_forms(message: Message, options: LintOptions) -> Iterator[LintFinding]:
    if message.active:
        element, line = message.active[0]
        kinds = sorted({e for e, _ in message.active})
        yield finding(
            "body.javascript_or_forms",
            f"active content: {', '.join(kinds[:6])}" + _lines([n for _, n in message.active]),
            Where(line, element, "text/html"),
        )


RULES = (
    malformed,
    no_text_part,
    image_only,
    low_text_to_image_ratio,
    gmail_clipping,
    missing_alt,
    hidden_text,
    no_unsubscribe_link,
    base64_text,
    javascript_or_forms,
)
