"""Reading messages and templates: headers, parts, links, images and their file lines."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from deliverwatch.content.message import (
    address_domain,
    decode_header_value,
    load_file,
    looks_like_message,
    parse_header_block,
    parse_message,
    parse_template,
)
from tests.content.support import FIXTURES, load_fixture

QP_MESSAGE = b"""\
From: Shop <news@shop.example.com>
Subject: =?utf-8?q?Caf=C3=A9_news?=
Received: from a
 by b
Received: from c
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="outer"

preamble
--outer
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 au lait
--outer
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>A very long paragraph that the encoder had to wrap with a soft line brea=
k right here</p>
<a href=3D"https://shop.example.com/a">first</a>
<img src=3D"https://shop.example.com/i.png" alt=3D"" width=3D"1" height=3D"1">
--outer--
epilogue
"""


def test_headers_lines_and_decoding() -> None:
    message = parse_message(QP_MESSAGE, "qp.eml")
    assert message.error is None
    subject = message.header("subject")
    assert subject is not None and subject.value == "Café news" and subject.line == 2
    received = message.all_headers("Received")
    assert [(h.value, h.line) for h in received] == [("from a by b", 3), ("from c", 5)]


def test_parts_and_quoted_printable_line_map() -> None:
    message = parse_message(QP_MESSAGE, "qp.eml")
    [text] = message.text_parts
    [html] = message.html_parts
    assert text.text == "Café au lait" and text.line == 14
    assert html.line == 19 and html.transfer_encoding == "quoted-printable"
    [link] = message.links
    assert (link.href, link.text, link.line) == ("https://shop.example.com/a", "first", 21)
    [image] = message.images
    assert image.line == 22 and image.tracking_pixel and image.alt == ""


def test_base64_parts_point_at_the_part() -> None:
    html = '<p>hello</p>\n<p><a href="https://x.example.com/">x</a></p>\n'
    raw = (
        "From: a@example.com\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(html.encode()).decode()
    ).encode()
    message = parse_message(raw)
    [link] = message.links
    assert link.line == 5 == message.parts[0].line


def test_text_links_and_attachments() -> None:
    raw = (
        b"From: a@example.com\nContent-Type: multipart/mixed; boundary=m\n\n--m\n"
        b"Content-Type: text/plain\n\nSee https://a.example.com/x, and (https://b.example.com/y).\n"
        b"--m\nContent-Type: text/html\nContent-Disposition: attachment; filename=a.html\n\n"
        b"<a href='https://attached.example.com/'>x</a>\n--m--\n"
    )
    message = parse_message(raw)
    assert [(x.href, x.line, x.part) for x in message.links] == [
        ("https://a.example.com/x", 7, "text/plain"),
        ("https://b.example.com/y", 7, "text/plain"),
    ]
    assert message.html_parts == []  # an HTML attachment is not the body


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"From: a@b.c\n\n\x00\x01", "NUL bytes"),
        (b"<html><body>hello</body></html>\n", "no header fields"),
    ],
)
def test_unparseable_inputs(data: bytes, error: str) -> None:
    message = parse_message(data, "x.eml")
    assert message.error is not None and error in message.error


def test_templates_and_siblings(tmp_path: Path) -> None:
    message = load_fixture("clean-template.html")
    assert message.kind == "template"
    assert [p.content_type for p in message.parts] == ["text/html", "text/plain"]
    assert message.parts[1].line is None  # the sibling is another file
    lone = tmp_path / "lone.html"
    lone.write_text("<p>hi</p>")
    assert [p.content_type for p in load_file(lone).parts] == ["text/html"]
    sniffed = tmp_path / "message.out"
    sniffed.write_bytes((FIXTURES / "clean-marketing.eml").read_bytes())
    assert load_file(sniffed).kind == "message"
    markup = tmp_path / "page.out"
    markup.write_text("\ufeff<div><p>hello</p></div>")
    assert load_file(markup).html_parts[0].text.startswith("<div>")
    assert load_file(tmp_path / "absent.html").error is not None
    assert parse_template("a\x00b", html=False).error is not None


def test_header_block() -> None:
    data = b"# comment\nFrom: A <a@example.com>\nList-Unsubscribe: <https://x>,\n <mailto:y>\n\n"
    assert parse_header_block(data) == [
        ("From", "A <a@example.com>"),
        ("List-Unsubscribe", "<https://x>, <mailto:y>"),
    ]
    with pytest.raises(ValueError, match="line 1: continuation"):
        parse_header_block(b" folded first\n")
    with pytest.raises(ValueError, match="line 2: not a 'Name: value'"):
        parse_header_block(b"From: a@b.c\nno colon here\n")


def test_address_helpers() -> None:
    assert address_domain("Shop <News@Shop.Example.COM>") == "shop.example.com"
    assert address_domain("undisclosed-recipients:;") is None
    assert address_domain("not an address") is None
    assert decode_header_value("=?utf-8?b?8J+MsQ==?= bulbs") == "🌱 bulbs"
    assert decode_header_value("=?x-nope?q?a?=") == "=?x-nope?q?a?="
    assert looks_like_message(b"From nobody Mon Jan 1\nFrom: a@b.c\n")
    assert not looks_like_message(b"<html>")
