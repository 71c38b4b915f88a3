"""What the rules need from an HTML body: links, images, visible and hidden text, active content.

One pass of a regex tokenizer (lenient: mail HTML is rarely valid; Outlook's conditional
comments are comments). Lines are 1-based within the HTML text;
:mod:`deliverwatch.content.message` maps them to file lines. Hidden means inside an element
styled out of sight (``display:none``, ``visibility:hidden``, ``font-size:0``/``1px``,
``opacity:0``, ``max-height:0`` with ``overflow:hidden``, the ``hidden`` attribute, or text
colour equal to its background).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Final

#: Elements whose text is never rendered.
_SKIP: Final = frozenset({"script", "style", "head", "title", "template", "noscript"})
_VOID: Final = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
#: Active content mail clients strip and filters distrust.
ACTIVE_TAGS: Final = frozenset(
    {"script", "form", "iframe", "frame", "frameset", "object", "embed", "applet"}
)
_HIDDEN_STYLE: Final = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0*)?\s*(?:;|$|!)"
    r"|font-size\s*:\s*(?:0|1px|0?\.\d+px)\s*(?:[a-z%]*)\s*(?:;|$|!)",
    re.IGNORECASE,
)
_MAX_HEIGHT_ZERO: Final = re.compile(r"max-height\s*:\s*0(?:px)?\s*(?:;|$|!)", re.IGNORECASE)
_OVERFLOW_HIDDEN: Final = re.compile(r"overflow\s*:\s*hidden", re.IGNORECASE)
_COLOR: Final = re.compile(r"(?:^|;)\s*color\s*:\s*([^;!]+)", re.IGNORECASE)
_BACKGROUND: Final = re.compile(r"background(?:-color)?\s*:\s*([^;!]+)", re.IGNORECASE)
_PX: Final = re.compile(r"^\s*(\d{1,5})(?:\.\d+)?\s*(?:px)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HtmlLink:
    href: str
    text: str
    line: int
    hidden: bool
    has_image: bool


@dataclass(frozen=True, slots=True)
class HtmlImage:
    src: str
    alt: str | None
    width: int | None
    height: int | None
    line: int

    @property
    def tracking_pixel(self) -> bool:
        """1×1 (or smaller) images: open-tracking pixels and spacers, not content."""
        return (self.width is not None and self.width <= 2) or (
            self.height is not None and self.height <= 2
        )


@dataclass(slots=True)
class HtmlDoc:
    links: list[HtmlLink] = field(default_factory=list)
    images: list[HtmlImage] = field(default_factory=list)
    visible_text: list[str] = field(default_factory=list)
    hidden_text: list[tuple[str, int]] = field(default_factory=list)
    active: list[tuple[str, int]] = field(default_factory=list)  # (element, line)

    @property
    def text(self) -> str:
        """The visible text, entities decoded, whitespace collapsed."""
        return " ".join(html.unescape(" ".join(self.visible_text)).split())


def _norm_color(value: str) -> str:
    value = value.strip().lower().replace(" ", "")
    named = {"white": "#ffffff", "black": "#000000"}
    value = named.get(value, value)
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        value = "#" + "".join(c * 2 for c in value[1:])
    return value


def _hides(attrs: Mapping[str, str | None]) -> bool:
    if "hidden" in attrs:
        return True
    style = attrs.get("style")
    return bool(style) and _style_hides(style or "", attrs.get("bgcolor"))


@lru_cache(maxsize=4096)  # inline styles repeat throughout mail HTML
def _style_hides(style: str, bgcolor: str | None) -> bool:
    if _HIDDEN_STYLE.search(style):
        return True
    if _MAX_HEIGHT_ZERO.search(style) and _OVERFLOW_HIDDEN.search(style):
        return True
    color = _COLOR.search(style)
    if color is None:
        return False
    background = _BACKGROUND.search(style)
    bg_value = background.group(1) if background else bgcolor
    return bool(bg_value) and _norm_color(color.group(1)) == _norm_color(bg_value or "")


def _pixels(attrs: Mapping[str, str | None], name: str) -> int | None:
    value = attrs.get(name)
    if value is None:
        style = attrs.get("style") or ""
        found = re.search(rf"(?:^|;)\s*{name}\s*:\s*([^;]+)", style, re.IGNORECASE)
        value = found.group(1) if found else None
    if value is None:
        return None
    matched = _PX.match(value)
    return int(matched.group(1)) if matched else None


@dataclass(slots=True)
class _OpenAnchor:
    href: str
    line: int
    hidden: bool
    image: bool = False
    text: list[str] = field(default_factory=list)


#: One token: a comment (Outlook's conditional comments included), a declaration or
#: processing instruction, or a start/end tag with its attribute text (quotes may hold ">").
_TOKEN: Final = re.compile(  # one leading "<" lets the regex engine skip text quickly
    r"<(?:!--.*?(?:-->|\Z)"
    r"|![^>]*>?"
    r"|\?[^>]*>?"
    r"""|(/?)([A-Za-z][A-Za-z0-9:_-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>?)""",
    re.DOTALL,
)
_ATTR: Final = re.compile(r"""([^\s"'>/=]+)(\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*)))?""")
#: Tags inspected even without attributes (``<a>`` closes an open anchor).
_INSPECTED: Final = ACTIVE_TAGS | {"a", "img", "meta"}
#: Elements whose content is raw text up to their end tag, never markup.
_RAW_END: Final = {
    tag: re.compile(rf"</{tag}\s*>", re.IGNORECASE)
    for tag in ("script", "style", "title", "textarea", "xmp")
}


@dataclass(frozen=True, slots=True)
class _Attrs:
    """A tag's attributes, read once per distinct attribute text (shared: do not change)."""

    values: Mapping[str, str | None]
    active: tuple[str, ...]  # event handlers and javascript: URLs, as shown in findings
    hides: bool


@lru_cache(maxsize=8192)  # inline-styled mail HTML repeats the same attribute text a lot
def _parse_attrs(text: str) -> _Attrs:
    """Names (lower-case) to values, entities decoded; None for a bare ``hidden``."""
    values: dict[str, str | None] = {}
    for name, equals, double, single, bare in _ATTR.findall(text):
        value: str | None = (double or single or bare) if equals else None
        if value and "&" in value:
            value = html.unescape(value)
        values.setdefault(name.lower(), value)
    active = []
    for name, value in values.items():
        if name.startswith("on") and len(name) > 2:
            active.append(f"{name}=…")
        elif name in ("href", "src", "action") and (value or "").strip().lower().startswith(
            "javascript:"
        ):
            active.append(f'{name}="javascript:…"')
    return _Attrs(MappingProxyType(values), tuple(active), _hides(values))


_NO_ATTRS: Final = _Attrs(MappingProxyType({}), (), False)


class _Extractor:
    """A regex tokenizer: several times faster than :class:`html.parser.HTMLParser` on
    template-sized HTML, and as lenient (every input gives a result)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.doc = HtmlDoc()
        self._stack: list[tuple[str, bool]] = []  # (tag, hides)
        self._open: dict[str, int] = {}  # tag → how many are on the stack
        self._hidden_depth = 0
        self._skip_depth = 0
        self._anchor: _OpenAnchor | None = None
        self._line = 1
        self._counted = 0

    def line_at(self, position: int) -> int:
        self._line += self.text.count("\n", self._counted, position)
        self._counted = position
        return self._line

    def run(self) -> HtmlDoc:
        # Hot loop: locals instead of attribute look-ups, the common cases inline.
        text, position, search = self.text, 0, _TOKEN.search
        stack, open_tags = self._stack, self._open
        while True:
            token = search(text, position)
            data_end = token.start() if token else len(text)
            if data_end > position and not self._skip_depth:
                data = text[position:data_end]
                if not data.isspace():
                    self._data(data, position)
            if token is None:
                break
            position = token.end()
            slash, name, raw_attrs = token.group(1, 2, 3)
            if name is None:
                continue  # comment, doctype, processing instruction
            tag = name.lower()
            if slash:
                if tag == "a" or open_tags.get(tag):
                    self._end(tag)
                continue  # else a stray end tag: browsers ignore it
            attrs = _parse_attrs(raw_attrs) if raw_attrs.strip(" \t\r\n/") else _NO_ATTRS
            if attrs.active:
                line = self.line_at(token.start())
                self.doc.active += [(f"<{tag} {item}>", line) for item in attrs.active]
            if tag in _INSPECTED:
                self._inspect(tag, attrs, token.start())
            if tag in _RAW_END and not raw_attrs.endswith("/"):
                close = _RAW_END[tag].search(text, position)
                position = close.end() if close else len(text)
            elif tag not in _VOID and not raw_attrs.endswith("/"):
                stack.append((tag, attrs.hides))
                open_tags[tag] = open_tags.get(tag, 0) + 1
                if attrs.hides:
                    self._hidden_depth += 1
                if tag in _SKIP:
                    self._skip_depth += 1
        self._close_anchor()
        return self.doc

    def _end(self, tag: str) -> None:
        if tag == "a":
            self._close_anchor()
        if not self._open.get(tag):
            return  # a stray end tag: browsers ignore it
        while self._stack:
            open_tag, hides = self._stack.pop()
            self._open[open_tag] -= 1
            self._hidden_depth -= hides
            self._skip_depth -= open_tag in _SKIP
            if open_tag == tag:
                break

    def _data(self, data: str, position: int) -> None:
        if self._hidden_depth:
            self.doc.hidden_text.append((html.unescape(data), self.line_at(position)))
            return
        self.doc.visible_text.append(data)
        if self._anchor is not None:
            self._anchor.text.append(data)

    def _inspect(self, tag: str, parsed: _Attrs, position: int) -> None:
        """Record links, images and active content (lines counted only for what is kept)."""
        attrs = parsed.values
        if tag in ACTIVE_TAGS:
            self.doc.active.append((f"<{tag}>", self.line_at(position)))
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            self.doc.active.append(('<meta http-equiv="refresh">', self.line_at(position)))
        if tag not in ("a", "img"):
            return
        line = self.line_at(position)
        if tag == "a":
            self._close_anchor()
            href = attrs.get("href")
            if href is not None:
                hidden = self._hidden_depth > 0 or parsed.hides
                self._anchor = _OpenAnchor(href.strip(), line, hidden)
        elif tag == "img":
            image = HtmlImage(
                src=(attrs.get("src") or "").strip(),
                alt=attrs.get("alt"),
                width=_pixels(attrs, "width"),
                height=_pixels(attrs, "height"),
                line=line,
            )
            self.doc.images.append(image)
            if self._anchor is not None:
                self._anchor.image = True

    def _close_anchor(self) -> None:
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        self.doc.links.append(
            HtmlLink(
                href=anchor.href,
                text=" ".join(html.unescape(" ".join(anchor.text)).split()),
                line=anchor.line,
                hidden=anchor.hidden,
                has_image=anchor.image,
            )
        )


def extract_html(text: str) -> HtmlDoc:
    """Extract leniently; never raises for malformed markup."""
    return _Extractor(text).run()
