"""Single rules on small inputs: the edges the fixtures do not show."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deliverwatch.content.findings import LintFinding
from deliverwatch.content.lint import lint_offline, run_rules
from deliverwatch.content.message import Message, parse_message, parse_template
from deliverwatch.content.options import LintOptions
from deliverwatch.content.rules import headers
from deliverwatch.content.rules.headers import SUBJECT_PATTERNS, spammy_patterns
from deliverwatch.content.scoring import Scale, verdict
from deliverwatch.content.urls import is_ip, shown_host, url_host

BASE = [
    ("From", "Shop <news@shop.example.com>"),
    ("List-Unsubscribe", "<https://shop.example.com/u/1>"),
    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
]
TEXT = "Plenty of honest text about autumn bulbs and garlic for the garden this month. " * 3
FOOTER = '<p><a href="https://shop.example.com/u/1">Unsubscribe</a></p>'
MIXED = "<mailto:u@shop.example.com>, <https://shop.example.com/u/1>"
ALT = "Plain text version.\nUnsubscribe: https://shop.example.com/u/1\n"


def html(body: str, head: list[tuple[str, str]] | None = None) -> set[str]:
    """Codes for an HTML template with clean defaults around ``body``."""
    markup = f"<html><body><p>{TEXT}</p>\n{body}\n{FOOTER}</body></html>"
    message = parse_template(markup, html=True, headers=head or BASE, text_alternative=ALT)
    return lint_offline(message).codes


@pytest.mark.parametrize(
    ("value", "post", "fires"),
    [
        ("<https://shop.example.com/u/1>", "List-Unsubscribe=One-Click", False),
        (MIXED, "list-unsubscribe=one-click", False),
        ("<http://shop.example.com/u/1>", "List-Unsubscribe=One-Click", True),
        ("<https://shop.example.com/u/1>", None, True),
        ("<https://shop.example.com/u/1>", "One-Click", True),
        ("https://shop.example.com/u/1", "List-Unsubscribe=One-Click", True),  # no <>
    ],
)  # fmt: skip
def test_one_click(value: str, post: str | None, fires: bool) -> None:
    head = [("From", "news@shop.example.com"), ("List-Unsubscribe", value)]
    if post is not None:
        head.append(("List-Unsubscribe-Post", post))
    assert ("header.no_one_click_unsubscribe" in html("", head)) is fires


def test_hidden_text_variants() -> None:
    preheader = '<div style="display:none">A short preheader line for the inbox list.</div>'
    assert html(preheader) == set()
    long = "keyword " * 30
    for element in (
        f'<span style="color:#FFF;background-color:#ffffff">{long}</span>',
        f"<div hidden>{long}</div>",
        f'<div style="opacity:0">{long}</div>',
        f'<div style="max-height:0px;overflow:hidden">{long}</div>',
        f'<p style="font-size:1px">{long}</p>',
    ):
        assert html(element) == {"body.hidden_text"}, element
    assert html(f'<p style="color:#333;background:#fff">{long}</p>') == set()


def test_images_alt_and_pixels() -> None:
    assert html('<img src="https://shop.example.com/o.gif" width="1" height="1">') == set()
    assert html('<img src="https://shop.example.com/a.png" alt="">') == set()
    assert html('<img src="https://shop.example.com/a.png" style="width:600px">') == {
        "body.missing_alt"
    }


def test_placeholders_and_non_web_links_are_skipped() -> None:
    body = (
        '<a href="{{ tracking_url }}">Track</a> <a href="*|ARCHIVE|*">Archive</a> '
        '<a href="mailto:help@shop.example.com">Mail us</a> <a href="tel:+123">Call</a> '
        '<a href="#top">Top</a> <a href="%%view_online%%">http://view.example.net</a>'
    )
    assert html(body) == set()


def test_link_text_rules() -> None:
    same_org = '<a href="https://links.shop.example.com/c/1">shop.example.com</a>'
    assert html(same_org) == set()
    assert html('<a href="https://shop.example.com/r.pdf">report.pdf</a>') == set()
    assert html('<a href="https://phish.example.net/">https://shop.example.com</a>') == {
        "link.text_href_mismatch"
    }
    assert shown_host("WWW.Shop.Example.com/path?q=1") == "www.shop.example.com"
    assert shown_host("Read our guide") is None
    assert url_host("https://B\u00fccher.example/x") == "xn--bcher-kva.example"
    assert url_host("https://[::1") is None
    assert is_ip("3232235777") and is_ip("::1") and not is_ip("shop.example.com")


def test_tracking_on_own_domain_is_aligned() -> None:
    assert html('<a href="https://click.shop.example.com/c/1">Guide</a>') == set()
    assert html('<a href="https://click.esp.example.net/c/1">Guide</a>') == {
        "link.tracking_domain_not_aligned"
    }


def test_active_content_variants() -> None:
    for body in (
        "<script>x()</script>",
        '<iframe src="https://shop.example.com/v"></iframe>',
        '<a href="javascript:void(0)">Open</a>',
        '<div onmouseover="x()">Hover</div>',
        '<meta http-equiv="refresh" content="0;url=https://x.example.com">',
    ):
        assert html(body) == {"body.javascript_or_forms"}, body


def test_unsubscribe_links() -> None:
    def codes(markup: str) -> set[str]:
        message = parse_template(markup, html=True, headers=BASE, text_alternative=ALT)
        return lint_offline(message).codes

    page = f"<p>{TEXT}</p>"
    assert "body.no_unsubscribe_link" in codes(page)
    assert "body.no_unsubscribe_link" not in codes(page + '<a href="*|UNSUB|*">Opt out</a>')
    assert "body.no_unsubscribe_link" not in codes(page + '<a href="{{x}}">Abmelden</a>')
    hidden = '<div style="display:none"><a href="https://s.example.com/u">Unsubscribe</a></div>'
    assert "body.no_unsubscribe_link" in codes(page + hidden)
    text_only = parse_template(
        f"{TEXT}\nTo stop these emails: unsubscribe at {{{{unsubscribe_url}}}}\n",
        html=False,
        headers=BASE,
    )
    assert lint_offline(text_only).codes == set()
    transactional = parse_template(page, html=True, text_alternative=ALT)
    assert lint_offline(transactional, LintOptions(kind="transactional")).codes == set()


def test_templates_skip_send_time_headers() -> None:
    message = parse_template(f"<p>{TEXT}</p>{FOOTER}", html=True, text_alternative=ALT)
    assert lint_offline(message).codes == {"header.no_list_unsubscribe"}
    assert "without List-Unsubscribe (templates" in lint_offline(message).findings[0].message


SPAMMY = {
    "free_offer": "Seeds for free this week",
    "act_now": "Act now and save",
    "urgency": "Limited time: bulbs",
    "winner": "You have won a garden",
    "money": "Earn extra cash gardening",
    "guarantee": "Risk-free planting",
    "click_here": "Click here for bulbs",
    "credit": "No credit check needed",
    "pharma": "Lose weight while gardening",
    "hype": "A once in a lifetime harvest",
    "exclamations": "New bulbs!! In stock",
    "obfuscated": "F R E E bulbs for m0ney",
    "emoji_heavy": "Bulbs 🌷 tulips 🌷 garlic 🧄",
    "fake_reply": "RE: your order",
}
HONEST = [
    "Your October garden guide",
    "Free shipping on orders over $50",
    "Order #12345 has shipped",
    "B2B catalogue: autumn 2023",
    "Last call for garlic orders before the 15th? No: planting tips",
    "Ready for spring! Our bulb guide",
    "Questions? Write to help@shop.example.com",
]


def test_every_subject_pattern_has_an_example() -> None:
    assert set(SPAMMY) == {p.id for p in SUBJECT_PATTERNS}
    for pattern_id, subject in SPAMMY.items():
        assert pattern_id in {p.id for p in spammy_patterns(subject, replying=False)}, subject


@pytest.mark.parametrize("subject", HONEST)
def test_honest_subjects_are_quiet(subject: str) -> None:
    assert spammy_patterns(subject, replying=False) == []


def test_replies_may_say_re() -> None:
    raw = b"From: a@shop.example.com\nSubject: Re: bulbs\nIn-Reply-To: <x@y>\n\nhi\n"
    assert spammy_patterns("Re: bulbs", replying=True) == []
    codes = {f.code for f in run_rules(parse_message(raw), LintOptions(kind="transactional"))}
    assert "header.subject_spammy" not in codes


def test_all_caps_needs_eight_letters() -> None:
    def caps(subject: str) -> bool:
        message = Message("x", "template", headers=[])
        message.headers = parse_template("", html=False, headers=[("Subject", subject)]).headers
        return any(headers.subject_all_caps(message, LintOptions()))

    assert caps("BIG AUTUMN SALE") and caps("NEW BULBS ARE in")
    assert not caps("NEW: bulbs") and not caps("SALE") and not caps("Big autumn sale")


def test_a_failing_rule_is_reported_and_the_rest_run() -> None:
    def broken(message: Message, options: LintOptions) -> Iterator[LintFinding]:
        raise RuntimeError("boom")

    message = parse_template("<p>x</p>", html=True)
    findings = run_rules(message, LintOptions(), rules=[broken, headers.no_list_unsubscribe])
    assert [f.code for f in findings] == ["lint.rule_error", "header.no_list_unsubscribe"]
    assert "rule broken failed: RuntimeError('boom')" in findings[0].message


def test_scale() -> None:
    scale = Scale({"body.missing_alt": 0}, warn_over=1, fail_over=3)
    assert scale.points("body.missing_alt") == 0 and scale.points("link.shortener") == 4
    assert [verdict(s, scale) for s in (0, 1, 2, 3, 4)] == ["pass", "pass", "warn", "warn", "fail"]
    with pytest.raises(ValueError, match="unknown lint code"):
        Scale({"nope": 1})
    with pytest.raises(ValueError, match="warn_over"):
        Scale(warn_over=5, fail_over=1)
    message = parse_template('<img src="https://x.example.com/a.png">' + TEXT, html=True)
    report = lint_offline(message, LintOptions(kind="transactional"), scale)
    assert {f.code: f.points for f in report.findings}["body.missing_alt"] == 0
