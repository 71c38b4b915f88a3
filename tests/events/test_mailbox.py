"""Mailbox providers from recipient domains; address splitting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverwatch.auth.orgdomain import organizational_domain
from deliverwatch.events.mailbox import (
    FAMILIES,
    _split_any,
    domain_of,
    mailbox_provider,
    split_address,
)


@pytest.mark.parametrize(
    ("domain", "provider"),
    [
        ("gmail.com", "gmail"), ("GoogleMail.com.", "gmail"),
        ("yahoo.com", "yahoo"), ("yahoo.co.uk", "yahoo"), ("yahoo.com.br", "yahoo"),
        ("ymail.com", "yahoo"), ("rocketmail.com", "yahoo"), ("aol.com", "yahoo"),
        ("aol.co.uk", "yahoo"), ("aim.com", "yahoo"), ("verizon.net", "yahoo"),
        ("yahoo.co.jp", "yahoo-japan"),
        ("outlook.com", "microsoft"), ("outlook.fr", "microsoft"), ("hotmail.com", "microsoft"),
        ("hotmail.co.uk", "microsoft"), ("live.com", "microsoft"), ("live.nl", "microsoft"),
        ("msn.com", "microsoft"),
        ("icloud.com", "apple"), ("me.com", "apple"), ("mac.com", "apple"),
        ("gmx.de", "united-internet"), ("gmx.net", "united-internet"),
        ("web.de", "united-internet"),
        ("mail.ru", "mailru"), ("yandex.ru", "yandex"), ("comcast.net", "comcast"),
        ("att.net", "att"), ("sbcglobal.net", "att"), ("orange.fr", "orange"), ("free.fr", "free"),
        ("t-online.de", "t-online"), ("libero.it", "libero"), ("qq.com", "qq"),
        ("163.com", "netease"), ("proton.me", "proton"), ("protonmail.com", "proton"),
        ("example.com", "other"), ("mail.yahoo.example", "other"), ("yahoo.example.com", "other"),
        ("gmail.com.evil.test", "other"), ("outlook.office365.com", "other"), ("", "other"),
    ],
)  # fmt: skip
def test_mailbox_provider(domain: str, provider: str) -> None:
    assert mailbox_provider(domain) == provider


@given(
    st.sampled_from(sorted(FAMILIES)),
    st.one_of(
        st.sampled_from(["com", "uk", "de", "fr", "br", "jp", "io", "xn--p1ai", "museum"]),
        st.from_regex(r"[a-z]([a-z0-9-]{0,18}[a-z0-9])?", fullmatch=True),
    ),
)
def test_a_brand_under_a_single_label_is_its_own_organizational_domain(
    brand: str, label: str
) -> None:
    """What lets ``mailbox_provider`` skip the Public Suffix List for ``brand.tld``."""
    domain = f"{brand}.{label}"
    assert organizational_domain(domain) == domain
    assert mailbox_provider(domain) == FAMILIES[brand]


@pytest.mark.parametrize(
    ("value", "split"),
    [
        ("Ana@Gmail.COM", ("Ana@gmail.com", "gmail.com")),
        ("Ana <ana@Example.com>", ("ana@example.com", "example.com")),
        (" a.b+tag@sub.example.co.uk. ", ("a.b+tag@sub.example.co.uk", "sub.example.co.uk")),
        ('"odd@local"@example.com', ('"odd@local"@example.com', "example.com")),
        ("no-at-sign", None), ("@example.com", None), ("ana@", None), ("a b@example.com", None),
        ("", None), ("<>", None),
    ],
)  # fmt: skip
def test_split_address(value: str, split: tuple[str, str] | None) -> None:
    assert split_address(value) == split
    assert domain_of(value) == (split[1] if split else "")


@given(st.text())
def test_never_fails(text: str) -> None:
    assert isinstance(mailbox_provider(text), str)
    split_address(text)


@given(
    st.text(
        alphabet=st.sampled_from('aZ09.@-_+ <>"\t\x1c\x85\u2028\xa0\u2003\x00\u200bé\u0130'),
        max_size=16,
    )
)
def test_the_plain_address_shortcut_agrees_with_the_full_parse(text: str) -> None:
    assert split_address(text) == _split_any(text)
    # A leading space never takes the shortcut and changes nothing else.
    assert split_address(text) == split_address(" " + text)
