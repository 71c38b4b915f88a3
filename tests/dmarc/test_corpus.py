"""The shared corpus of real reports: every aggregate sample parses (the empty file gets a
clear error), with record counts and message totals counted by hand from the XML; failure
and SMTP TLS reports parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliverwatch.dmarc.aggregate import AggregateReader, parse_aggregate
from deliverwatch.dmarc.containers import Payload, Rejected, iter_payloads, stream_repairs
from deliverwatch.dmarc.errors import AggregateError
from deliverwatch.dmarc.failure import read_failure
from deliverwatch.dmarc.model import AggregateReport
from deliverwatch.dmarc.smtp_tls import read_smtp_tls
from tests.dmarc.support import CORPUS, needs_corpus

pytestmark = needs_corpus

#: file (relative to the corpus) → (org_name, report_id, records, messages), counted by hand.
AGGREGATE = {
    "aggregate/!example.com!1538204542!1538463818.xml": (
        "accurateplastics.com",
        "example.com:1538463741",
        1,
        1,
    ),
    "aggregate/!large-example.com!1711897200!1711983600.xml": (
        "accurateplastics.com",
        "example.com:1711897200",
        2286,
        2286,
    ),
    "aggregate/Report domain- borschow.com Submitter- google.com Report-ID- "
    "949348866075514174.eml": ("google.com", "949348866075514174", 1, 1),
    "aggregate/addisonfoods.com!example.com!1536105600!1536191999.xml": (
        "addisonfoods.com",
        "3ceb5548498640beaeb47327e202b0b9",
        1,
        1,
    ),
    "aggregate/empty_reason.xml": ("example.org", "20240125141224705995", 1, 2),
    "aggregate/estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip": (
        "XYZ Corporation",
        "2940",
        1,
        1,
    ),
    "aggregate/example.net!example.com!1529366400!1529452799.xml": (
        "example.net",
        "b043f0e264cf4ea995e93765242f6dfb",
        1,
        1,
    ),
    "aggregate/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz": (
        "FastMail Pty Ltd",
        "102675056",
        1,
        1,
    ),
    "aggregate/ikea.com!example.de!1538690400!1538776800.xml": (
        "ikea.com",
        "aggr_report_2018_10_05_5bc7e9b4f3e8a",
        1,
        1,
    ),
    "aggregate/invalid_utf_8.xml": ("accurateplastics.com", "example.com:1538463741", 1, 1),
    "aggregate/invalid_xml.xml": ("veeam.com", "sonexushealth.com:1530233361", 1, 1),
    "aggregate/mimecast-weird-gzip.eml": (
        "Mimecast",
        "157a5fe30ec76f4bc0d8bccfc96c118a167a1280fee7c7465af5115e73082e5e",
        1,
        1,
    ),
    "aggregate/old_draft_from_wiki.xml": ("acme.com", "9391651994964116463", 1, 2),
    "aggregate/protection.outlook.com!example.com!1711756800!1711843200.xml": (
        "Outlook.com",
        "cfeafefe4129445e8c81018bd9177197",
        1,
        1,
    ),
    "aggregate/rfc9990-example.net!example.com!1700000000!1700086399.xml": (
        "example.net",
        "dmarcbis-test-report-001",
        2,
        7,
    ),
    "aggregate/rfc9990-sample.xml": ("Sample Reporter", "3v98abbp8ya9n3va8yr8oa3ya", 1, 123),
    "aggregate/twilight.eml": ("google.com", "1627703331531660819", 1, 1),
    "aggregate/usssa.com!example.com!1538784000!1538870399.xml": (
        "usssa.com",
        "8953b4d4a4ee4218b6ac0e2cb2667ee1",
        2,
        2,
    ),
    "aggregate/veeam.com!example.com!1530133200!1530219600.xml": (
        "veeam.com",
        "sonexushealth.com:1530233361",
        1,
        1,
    ),
    "aggregate_invalid/report_with_upper_cased_pass.xml": (
        "example.com",
        "aggr_report_example.com_20191202_1638",
        1,
        1,
    ),
    "extract_report/changed-input.xml": ("fred.com", "11038226378739404135", 20, 3047),
    "extract_report/nice-input.xml": ("google.com", "11038226378739404135", 20, 3047),
    "extract_report/nice-input.xml.gz": ("google.com", "11038226378739404135", 20, 3047),
    "extract_report/nice-input.xml.zip": ("google.com", "11038226378739404135", 20, 3047),
}


def only_payload(path: Path) -> Payload:
    found = list(iter_payloads(path))
    assert len(found) == 1, found
    assert isinstance(found[0], Payload), found[0]
    return found[0]


def parse(relative: str) -> tuple[AggregateReport, list[str]]:
    payload = only_payload(CORPUS / relative)
    assert payload.kind == "aggregate"
    with payload.open() as stream:
        report = parse_aggregate(stream)
        return report, stream_repairs(stream)


def test_every_aggregate_sample_is_listed() -> None:
    samples = {
        str(path.relative_to(CORPUS))
        for folder in ("aggregate", "aggregate_invalid", "extract_report")
        for path in (CORPUS / folder).iterdir()
    }
    assert samples == set(AGGREGATE)


@pytest.mark.parametrize("relative", sorted(AGGREGATE))
def test_aggregate_sample_parses(relative: str) -> None:
    org_name, report_id, records, messages = AGGREGATE[relative]
    report, _ = parse(relative)
    assert report.metadata.org_name == org_name
    assert report.metadata.report_id == report_id
    assert len(report.records) == records
    assert report.message_count == messages
    assert report.policy.domain


def test_empty_file_gets_a_clear_error() -> None:
    (rejected,) = iter_payloads(CORPUS / "empty.xml")
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "empty file"
    with (
        pytest.raises(AggregateError, match="empty document"),
        (CORPUS / "empty.xml").open("rb") as stream,
    ):
        AggregateReader(stream)


def test_records_of_a_google_report() -> None:
    report, _ = parse("extract_report/nice-input.xml")
    first = [(r.source_ip, r.count, r.disposition, r.dkim, r.spf) for r in report.records[:6]]
    assert first == [
        ("209.85.220.69", 1, "none", "fail", "pass"),
        ("209.85.220.41", 2, "none", "pass", "fail"),
        ("54.240.48.90", 40, "none", "pass", "fail"),
        ("54.240.8.31", 40, "none", "pass", "fail"),
        ("54.240.8.33", 33, "none", "pass", "fail"),
        ("54.240.48.92", 40, "none", "pass", "fail"),
    ]
    second = report.records[1]
    assert [(d.domain, d.result) for d in second.dkim_results] == [
        ("example.com", "pass"),
        ("amazonses.com", "pass"),
    ]
    assert second.dmarc_pass and second.dkim_aligned and not second.spf_aligned
    assert report.policy.np == "none"


def test_dmarcbis_report() -> None:
    report, _ = parse("aggregate/rfc9990-example.net!example.com!1700000000!1700086399.xml")
    policy = report.policy
    assert (policy.p, policy.sp, policy.np, policy.testing, policy.discovery_method) == (
        "reject",
        "quarantine",
        "reject",
        "y",
        "treewalk",
    )
    assert report.header.version == "2.0"
    spoof = report.records[1]
    assert (spoof.source_ip, spoof.count, spoof.disposition, spoof.dmarc_pass) == (
        "203.0.113.10",
        2,
        "reject",
        False,
    )
    assert [(r.type, r.comment) for r in spoof.reasons] == [("other", "sender not authorized")]
    assert spoof.envelope_from == "spoofed.example.com"

    sample, _ = parse("aggregate/rfc9990-sample.xml")
    assert sample.header.namespace == "urn:ietf:params:xml:ns:dmarc-2.0"
    assert sample.metadata.generator == "Example DMARC Aggregate Reporter v1.2"
    assert sample.records[0].dkim_results[0].selector == "abc123"


@pytest.mark.parametrize(
    ("relative", "repair"),
    [
        ("aggregate/ikea.com!example.de!1538690400!1538776800.xml", "ignored a stray <xs:schema>"),
        ("aggregate/invalid_xml.xml", "escaped stray '<' or '&'"),
        ("aggregate/invalid_utf_8.xml", "replaced invalid UTF-8"),
        ("aggregate_invalid/report_with_upper_cased_pass.xml", "lower-cased result words"),
        ("aggregate/!example.com!1538204542!1538463818.xml", "empty org_name"),
        ("aggregate/old_draft_from_wiki.xml", "DKIM result without a selector"),
        ("aggregate/mimecast-weird-gzip.eml", "ignored 2 bytes after the end of the gzip data"),
    ],
)
def test_quirks_are_repaired_and_recorded(relative: str, repair: str) -> None:
    report, container = parse(relative)
    assert any(text.startswith(repair) for text in [*report.repairs, *container]), (
        report.repairs,
        container,
    )


def test_repaired_values() -> None:
    broken, _ = parse("aggregate/invalid_xml.xml")
    assert broken.metadata.email == "<bad-xml@bad-xml.net>"
    assert broken.records[0].header_from == "bad<xml.net"
    upper, _ = parse("aggregate_invalid/report_with_upper_cased_pass.xml")
    record = upper.records[0]
    assert (record.disposition, record.dkim, record.spf) == ("none", "pass", "pass")
    assert record.dkim_results[0].result == "pass"
    assert upper.metadata.org_name == "example.com"
    bad_utf8, _ = parse("aggregate/invalid_utf_8.xml")
    assert bad_utf8.records[0].header_from == "bad_byte\ufffd"


FAILURE = {
    "DMARC Failure Report for domain.de (mail-from=sharepoint@domain.de, ip=10.10.10.10).eml": (
        "arf",
        "10.10.10.10",
        "domain.de",
        "Subject",
    ),
    "[Netease DMARC Failure Report] Rent Reminder.eml": (
        "arf",
        "167.89.69.24",
        "cardinal.com",
        "Rent Reminder",
    ),
    "dmarc_ruf_report_linkedin.crlf.eml": (
        "arf",
        "10.10.10.10",
        "example.com",
        "Subject line, could be UTF8 encoded",
    ),
    "dmarc_ruf_report_linkedin.eml": (
        "arf",
        "10.10.10.10",
        "example.com",
        "Subject line, could be UTF8 encoded",
    ),
    "exim_plain_text_only_no_arf_part.eml": (
        "text",
        "203.0.113.68",
        "example.com",
        "Payment from your account.",
    ),
}


@pytest.mark.parametrize("name", sorted(FAILURE))
def test_failure_report_parses(name: str) -> None:
    report_format, source_ip, domain, subject = FAILURE[name]
    payload = only_payload(CORPUS / "failure" / name)
    assert payload.kind == "failure"
    with payload.open() as stream:
        report = read_failure(stream)
    assert report.format == report_format
    assert report.source_ip == source_ip
    assert report.reported_domain == domain
    assert report.sample_headers.get("subject") == subject
    assert report.arrival_date is not None
    assert report.to_dict()["source_ip"] == source_ip


SMTP_TLS = {
    "google.com_smtp_tls_report.eml": ("Google Inc.", "cardinalhealth.ca", 48, 0),
    "mail.ru.json": ("Mail.ru", "example.com", 0, 1),
    "rfc8460.json": ("Company-X", "company-y.example", 5326, 303),
    "smtp_tls.json": ("Example Inc.", "example.com", 0, 3),
}


@pytest.mark.parametrize("name", sorted(SMTP_TLS))
def test_smtp_tls_report_parses(name: str) -> None:
    organization, domain, successes, failures = SMTP_TLS[name]
    payload = only_payload(CORPUS / "smtp_tls" / name)
    assert payload.kind == "smtp_tls"
    with payload.open() as stream:
        report = read_smtp_tls(stream)
    assert report.organization_name == organization
    policy = report.policies[0]
    assert (policy.policy_domain, policy.successful_sessions, policy.failed_sessions) == (
        domain,
        successes,
        failures,
    )
    assert sum(f.failed_session_count for f in policy.failures) >= failures


def test_rfc8460_failure_details() -> None:
    with (CORPUS / "smtp_tls" / "rfc8460.json").open("rb") as stream:
        report = read_smtp_tls(stream)
    details = report.policies[0].failures
    assert [(d.result_type, d.failed_session_count) for d in details] == [
        ("certificate-expired", 100),
        ("starttls-not-supported", 200),
        ("validation-failure", 3),
    ]
    assert details[0].sending_mta_ip == "2001:db8:abcd:12::1"
    assert report.policies[0].mx_hosts == ("*.mail.company-y.example",)
