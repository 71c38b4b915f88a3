"""Malformed MIME and markup never crash the linter: a report, or ``message.unparseable``."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverwatch.content.lint import lint_offline
from deliverwatch.content.message import parse_message, parse_template
from deliverwatch.content.options import LintOptions

HEADER_NAMES = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "Return-Path",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "DKIM-Signature",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "MIME-Version",
]
CONTENT_TYPES = [
    "text/plain",
    "text/html",
    "multipart/alternative",
    "multipart/mixed",
    "multipart/related",
    "message/rfc822",
    "image/png",
    "text/html; charset=x-unknown",
    "text/plain; charset=utf-7",
    "multipart/alternative; boundary=",
    'multipart/mixed; boundary="b"',
    'text/html; charset="utf-8',
]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"]
ODD_VALUES = [
    "",
    "=?utf-8?b?invalid?=",
    "=?x-unknown?q?hi?=",
    "<a@b",
    '"unterminated <x@y.z>',
    "a@b@c",
    "@",
    "(((comment",
    "v=1; d=; s=",
    "<https://x.example/u>, <mailto:",
]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@st.composite
def header(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(HEADER_NAMES) | st.from_regex(r"[A-Za-z-]{1,12}", fullmatch=True))
    if name == "Content-Type":
        value = draw(st.sampled_from(CONTENT_TYPES))
    elif name == "Content-Transfer-Encoding":
        value = draw(st.sampled_from(ENCODINGS))
    else:
        value = draw(st.sampled_from(ODD_VALUES) | text)
    fold = draw(st.sampled_from(["", "\n ", "\r\n\t", "\n"]))
    return f"{name}:{fold}{value}"


@st.composite
def part(draw: st.DrawFn, depth: int = 0) -> str:
    headers = draw(st.lists(header(), max_size=4))
    boundary = draw(st.sampled_from(["b", "==x==", "", "b b", "-"]))
    if depth < 2 and draw(st.booleans()):
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        children = draw(st.lists(part(depth + 1), max_size=3))
        closing = draw(st.sampled_from([f"--{boundary}--", "", f"--{boundary}"]))
        body = "".join(f"--{boundary}\n{c}\n" for c in children) + closing
    else:
        body = draw(
            st.sampled_from(
                [
                    "<html><a href='http://[::1'>x</a><img src=x width=0x1>",
                    '<a href="https://bit.ly/x">http://a.example.com</a><script>',
                    "=E9=\n=ZZ=\n==",
                    "aGVsbG8=\n!!!notbase64",
                    '<div style="display:none;font-size:0"><a href=javascript:x>u',
                    "<p>unsubscribe https://x.example/u</p></div></div></a>",
                ]
            )
            | text
        )
    separator = draw(st.sampled_from(["\n\n", "\r\n\r\n", "\n", ""]))
    return "\n".join(headers) + separator + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(part().map(str.encode), st.binary(max_size=300)))
def test_malformed_mime_never_crashes(data: bytes) -> None:
    message = parse_message(data, "fuzz.eml", strict=True)
    report = lint_offline(message, LintOptions())
    assert "lint.rule_error" not in report.codes, [f.message for f in report.findings]
    if message.error is not None:
        assert report.codes == {"message.unparseable"}
    report.to_dict()


@settings(max_examples=200, deadline=None)
@given(text, st.booleans(), st.lists(st.tuples(st.sampled_from(HEADER_NAMES), text), max_size=4))
def test_any_template_lints(body: str, html: bool, headers: list[tuple[str, str]]) -> None:
    message = parse_template(body, "fuzz.html", html=html, headers=headers)
    report = lint_offline(message)
    assert "lint.rule_error" not in report.codes, [f.message for f in report.findings]


MARKUP = st.sampled_from(
    [
        *"<>/=\"' abdiv!-?&;#\n",
        *("<a ", "<img ", "</a>", "<script>", "</script>", "<style>", "style=", "href="),
        *("display:none", "onclick=", "<!--", "-->", "&amp;", "javascript:", "<![endif]>"),
        *("<title>", "</div>", "<p hidden>", "alt", "width=1"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(MARKUP, max_size=80).map("".join))
def test_any_markup_is_extracted(markup: str) -> None:
    message = parse_template(markup, "fuzz.html", html=True)
    assert message.error is None
    report = lint_offline(message)
    assert "lint.rule_error" not in report.codes, [f.message for f in report.findings]
