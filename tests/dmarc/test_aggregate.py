"""Aggregate report parsing: vendor quirks, safety, streaming in bounded memory, and the fast
path agreeing with expat on every record hypothesis can make up."""

from __future__ import annotations

import contextlib
import io
import random
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverwatch.dmarc.aggregate import AggregateReader, parse_aggregate
from deliverwatch.dmarc.errors import AggregateError
from deliverwatch.dmarc.model import AggregateReport
from deliverwatch.dmarc.records import BAD_IP, NO_SCOPE
from tests.dmarc.support import GeneratedReport, random_record, report_xml

META = """<report_metadata><org_name>r.test</org_name><email>a@r.test</email>
<report_id>1</report_id><date_range><begin>1700000000</begin><end>1700086399</end></date_range>
</report_metadata><policy_published><domain>example.test</domain><p>reject</p></policy_published>"""
ROW = """<row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>
<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>
<identifiers><header_from>example.test</header_from></identifiers>"""


def doc(body: str, *, prologue: str = '<?xml version="1.0"?>\n', root: str = "<feedback>") -> bytes:
    return f"{prologue}{root}{META}{body}</feedback>".encode()


def record(ip: str = "192.0.2.1", count: int = 1, extra: str = "") -> str:
    return f"<record>{ROW.format(ip=ip, count=count)}{extra}</record>"


def parse(data: bytes) -> AggregateReport:
    return parse_aggregate(io.BytesIO(data))


def test_plain_report() -> None:
    report = parse(doc(record(count=5) + record("2001:DB8::1", 2)))
    assert [(r.source_ip, r.count) for r in report.records] == [
        ("192.0.2.1", 5),
        ("2001:db8::1", 2),
    ]
    assert report.policy.p == "reject"
    assert report.repairs == {}


def test_namespaces_prefixes_comments_cdata_entities() -> None:
    body = (
        "<!-- a comment --><d:record><d:row><d:source_ip>192.0.2.9</d:source_ip>"
        "<d:count>3</d:count><d:policy_evaluated><d:disposition>quarantine</d:disposition>"
        "<d:dkim>fail</d:dkim><d:spf>pass</d:spf></d:policy_evaluated></d:row><d:identifiers>"
        "<d:header_from><![CDATA[Example.Test]]></d:header_from></d:identifiers>"
        "<d:auth_results><d:spf><d:domain>a&amp;b.test</d:domain><d:result>pass</d:result>"
        "</d:spf></d:auth_results></d:record>"
    )
    data = (
        '<d:feedback xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0">'
        + META.replace("<", "<d:").replace("<d:/", "</d:")
        + body
        + "</d:feedback>"
    ).encode()
    report = parse(data)
    assert report.header.namespace == "urn:ietf:params:xml:ns:dmarc-2.0"
    (only,) = report.records
    assert (only.count, only.disposition, only.header_from) == (3, "quarantine", "example.test")
    assert only.spf_results[0].domain == "a&b.test"
    assert report.repairs == {NO_SCOPE: 1}


def test_attributes_whitespace_in_tags_and_self_closing_elements() -> None:
    body = (
        '<record id="1"><row><source_ip>192.0.2.1</source_ip><count >4</count >'
        "<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>"
        "</policy_evaluated></row><identifiers><header_from>example.test</header_from>"
        "</identifiers><auth_results><dkim><domain>example.test</domain><selector/>"
        '<result>pass</result><human_result lang="en">ok</human_result></dkim></auth_results>'
        "</record>"
    )
    (only,) = parse(doc(body)).records
    assert only.count == 4
    assert only.dkim_results[0].selector is None
    assert only.dkim_results[0].human_result == "ok"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty document"),
        (b"   \n\t", "empty document"),
        (b"<html><body>hi</body></html>", "no <feedback> element"),
        (b"<feedback/>", "empty report"),
        (doc("")[:-40], "truncated document"),
        (doc(record())[:-30], "truncated document"),
        (
            b"<feedback><policy_published><domain>x</domain></policy_published></feedback>",
            "no <report_metadata>",
        ),
        (
            doc("").replace(b"<org_name>r.test</org_name><email>a@r.test</email>", b""),
            "no org_name",
        ),
        (doc("").replace(b"1700000000", b"yesterday"), "is not a Unix time"),
        (doc("").replace(b"<report_id>1</report_id>", b""), "no report_id"),
        (doc("").replace(b"<domain>example.test</domain>", b""), "policy_published: no domain"),
        (doc(record()).replace(b"</header_from>", b""), "malformed XML"),
        (doc(record()).replace(b"</row>", b"</row></row>"), "malformed XML"),
    ],
)
def test_unusable_reports_raise_aggregate_error(data: bytes, message: str) -> None:
    with pytest.raises(AggregateError, match=message):
        parse(data)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<feedback><report_metadata><org_name>&lol3;</org_name></report_metadata></feedback>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_dtds_are_refused(data: bytes) -> None:
    with pytest.raises(AggregateError, match="document type declaration"):
        parse(data)


def test_entities_are_never_expanded() -> None:
    inner = doc(record()).replace(b"<org_name>r.test", b"<org_name>&xxe;r.test")
    assert parse(inner).metadata.org_name == "&xxe;r.test"  # escaped as text, not resolved
    sneaky = doc('<!DOCTYPE x [<!ENTITY e "boom">]>' + record())
    report = parse(sneaky)
    assert len(report.records) == 1
    assert "ignored markup between elements" in report.repairs


def test_lenient_prologue_and_epilogue() -> None:
    data = (
        doc(
            record(),
            prologue='\ufeff  <?xml version="1.0" encoding="UTF-8" standalone="maybe"?> junk '
            '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">',
        )
        + b"</xs:schema> trailing"
    )
    report = parse(data)
    assert len(report.records) == 1
    assert report.repairs == {
        "ignored text before <feedback>": 1,
        "ignored a stray <xs:schema> tag before <feedback>": 1,
        "ignored data after </feedback>": 1,
    }
    unclosed = parse(doc(record())[: -len(b"</feedback>")])
    assert unclosed.repairs == {"no </feedback> at the end of the document": 1}


def test_other_encodings() -> None:
    latin = doc(record()).replace(
        b"r.test</org_name>", "Société".encode("latin-1") + b"</org_name>"
    )
    latin = latin.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert parse(latin).metadata.org_name == "Société"
    utf16 = doc(record()).decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    assert len(parse(utf16.encode("utf-16")).records) == 1
    mislabelled = parse(utf16.encode("utf-8"))
    assert len(mislabelled.records) == 1
    assert mislabelled.repairs == {"ignored the declared encoding 'UTF-16': read as UTF-8": 1}


def test_bad_records_are_dropped_and_counted() -> None:
    report = parse(doc(record("not-an-ip") + record("192.0.2.7", 2) + record(count=-3)))
    assert [(r.source_ip, r.count) for r in report.records] == [("192.0.2.7", 2)]
    assert report.repairs == {BAD_IP: 1, "dropped a record without a valid count": 1}


def test_records_before_the_header_are_kept() -> None:
    data = f"<feedback>{record(count=2)}{META}{record(count=3)}</feedback>".encode()
    reader = AggregateReader(io.BytesIO(data))
    assert reader.header.metadata.org_name == "r.test"
    assert [r.count for r in reader] == [2, 3]
    assert (reader.record_count, reader.message_count) == (2, 5)


def test_streaming_keeps_memory_bounded() -> None:
    stream = GeneratedReport(40_000, seed=7)
    tracemalloc.start()
    try:
        reader = AggregateReader(stream)
        for _ in reader:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.record_count == 40_000
    assert stream.size > 25_000_000
    assert peak < 16 * 1024 * 1024  # well under the report's size: it streamed


# -- the fast path agrees with expat ------------------------------------------------------------

_WORDS = st.sampled_from(["pass", "fail", "none", "PASS", " Fail ", "quarantine", "reject", ""])
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
_DOMAIN = st.one_of(
    st.sampled_from(["example.test", "Mail.Example.TEST.", " sub.example.test ", ""]), _TEXT
)
_IP = st.one_of(
    st.sampled_from(["192.0.2.1", "2001:db8::1", " 198.51.100.7 ", "2001:DB8:0::5", "300.1.1.1"]),
    _TEXT,
)
_COUNT = st.one_of(st.integers(-5, 10**13).map(str), st.sampled_from(["7.0", " 12 ", "x"]))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def records(draw: st.DrawFn) -> str:
    """A record in any element order, with optional parts left out and random spacing."""
    rng = random.Random(draw(st.integers(0, 2**32)))

    def leaf(tag: str, value: str | None) -> str:
        if value is None:
            return ""
        return f"<{tag}>{_escape(value)}</{tag}>"

    def container(tag: str, parts: list[str]) -> str:
        rng.shuffle(parts)
        space = rng.choice(["", "\n  ", " "])
        return f"<{tag}>{space}{space.join(parts)}{space}</{tag}>"

    def maybe(strategy: st.SearchStrategy[str]) -> str | None:
        return draw(st.one_of(st.none(), strategy))

    evaluated = container(
        "policy_evaluated",
        [
            leaf("disposition", maybe(_WORDS)),
            leaf("dkim", maybe(_WORDS)),
            leaf("spf", maybe(_WORDS)),
        ],
    )
    row = container("row", [leaf("source_ip", draw(_IP)), leaf("count", draw(_COUNT)), evaluated])
    identifiers = container(
        "identifiers",
        [
            leaf("header_from", maybe(_DOMAIN)),
            leaf("envelope_from", maybe(_DOMAIN)),
            leaf("envelope_to", maybe(_DOMAIN)),
        ],
    )
    auth = []
    for kind, qualifier in (("dkim", "selector"), ("spf", "scope")):
        for _ in range(draw(st.integers(0, 2))):
            auth.append(
                container(
                    kind,
                    [
                        leaf("domain", maybe(_DOMAIN)),
                        leaf(qualifier, maybe(_TEXT)),
                        leaf("result", maybe(_WORDS)),
                        leaf("human_result", maybe(_TEXT)),
                    ],
                )
            )
    auth_results = (
        f"<auth_results>{''.join(auth)}</auth_results>" if auth or rng.random() < 0.5 else ""
    )
    return container("record", [row, identifiers, auth_results])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=5))
def test_fast_path_agrees_with_expat(bodies: list[str]) -> None:
    fast = parse(doc("".join(bodies)))
    # An attribute on <record> sends every record through expat.
    slow = parse(doc("".join(b.replace("<record>", '<record x="1">', 1) for b in bodies)))
    assert fast.records == slow.records
    assert fast.repairs == slow.repairs


# -- malformed input raises AggregateError, nothing else ------------------------------------------

VALID = report_xml([random_record(random.Random(i)) for i in range(3)])


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_raise_aggregate_error(data: bytes) -> None:
    with contextlib.suppress(AggregateError):
        parse(data)


@settings(max_examples=500)
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 8), st.binary(max_size=8)),
        min_size=1,
        max_size=6,
    )
)
def test_damaged_reports_only_raise_aggregate_error(edits: list[tuple[int, int, bytes]]) -> None:
    data = VALID
    for position, cut, insert in edits:
        data = data[:position] + insert + data[position + cut :]
    try:
        report = parse(data)
    except AggregateError:
        return
    assert all(record.count >= 0 for record in report.records)


@settings(max_examples=200)
@given(st.text(alphabet="<>/&;!?=\"' abcfdeklnmoprstu_:[]-\n", max_size=300))
def test_markup_soup_only_raises_aggregate_error(soup: str) -> None:
    with contextlib.suppress(AggregateError):
        parse(doc(soup))
