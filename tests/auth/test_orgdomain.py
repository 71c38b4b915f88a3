"""Organizational domains; the Public Suffix List read one top-level domain at a time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from publicsuffixlist import PSLFILE, PublicSuffixList

from deliverwatch.auth import orgdomain
from deliverwatch.auth.orgdomain import is_organizational_domain, organizational_domain

WHOLE = PublicSuffixList()
#: Top-level domains with many rules, wildcards (``*.ck``, ``*.kawasaki.jp``), exceptions
#: (``!www.ck``, ``!city.kawasaki.jp``), private sections and names in Unicode (``公司.cn``).
TLDS = ["uk", "jp", "ck", "br", "au", "com", "it", "no", "us", "cn", "de", "io", "bd", "zz"]


def _rules(tld: str) -> list[str]:
    with open(PSLFILE, encoding="utf-8") as lines:
        words = (line.split(" ")[0].strip().lower() for line in lines)
        return [w for w in words if w and not w.startswith("//") and w.rpartition(".")[2] == tld]


def _names(rule: str) -> list[str]:
    """The rule's own name and names around it, as a recipient domain might be."""
    name = rule.lstrip("!").replace("*", "wild")
    parent = name.partition(".")[2]
    return [name, f"yahoo.{name}", f"mail.yahoo.{name}", parent, f"yahoo.{parent}"]


@pytest.mark.parametrize("tld", TLDS)
def test_the_rules_of_one_tld_answer_as_the_whole_list(tld: str) -> None:
    whole = orgdomain._psl()
    alone = orgdomain._rules_under(tld)
    rules = _rules(tld)
    assert rules or tld == "zz"  # an unknown one: every name falls to the default rule
    assert alone is not whole
    names = [name for rule in rules for name in _names(rule) if name] + [f"yahoo.{tld}", tld]
    for name in names:
        assert alone.privatesuffix(name) == whole.privatesuffix(name), name
        assert alone.publicsuffix(name) == whole.publicsuffix(name), name


@given(
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), max_size=3),
    st.sampled_from(
        ["co.uk", "uk", "kawasaki.jp", "city.kawasaki.jp", "ck", "www.ck", "com.br", "com",
         "blogspot.com", "zz", "xn--p1ai", "рф", "公司.cn", ""]
    ),
)  # fmt: skip
def test_is_organizational_domain_as_organizational_domain(labels: list[str], tail: str) -> None:
    """Against a whole list of the test's own: the module's, once loaded, would answer for
    the per-TLD lists (``is_organizational_domain`` takes it when it is there)."""
    name = ".".join([*labels, tail]).strip(".")
    expected = str(WHOLE.privatesuffix(name) or name) == name
    orgdomain._psl.cache_clear()
    assert is_organizational_domain(name) == expected
    assert is_organizational_domain(f" {name.upper()}. ") == expected
    tld = name.rpartition(".")[2].lower()
    if tld.isascii() and tld and not tld.startswith("xn--"):
        assert orgdomain._psl.cache_info().currsize == 0  # answered by the per-TLD list
    assert (organizational_domain(name) == name) == expected  # the whole list, loaded now


def test_no_whole_list_for_an_ascii_tld() -> None:
    """The point of it: a file reader's first ``yahoo.co.uk`` does not load the whole list."""
    orgdomain._psl.cache_clear()
    try:
        assert is_organizational_domain("yahoo.co.uk")
        assert not is_organizational_domain("mail.yahoo.co.uk")
        assert orgdomain._psl.cache_info().currsize == 0
    finally:
        orgdomain._psl.cache_clear()
