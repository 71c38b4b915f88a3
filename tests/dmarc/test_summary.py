"""The summary computations, on hand-made volumes."""

from __future__ import annotations

from deliverwatch.dmarc.rdns import SourceName
from deliverwatch.dmarc.summary import Volume, ips_by_volume, summarize


def volume(
    ip: str,
    count: int,
    *,
    dkim: bool = False,
    spf: bool = False,
    disposition: str = "none",
    reporter: str = "google.com",
    domain: str = "example.test",
) -> Volume:
    return Volume(domain, ip, reporter, dkim or spf, dkim, spf, disposition, count)


VOLUMES = [
    # a legitimate sender (DKIM-signed), with some forwarded mail that breaks
    volume("192.0.2.1", 900, dkim=True, spf=True),
    volume("192.0.2.1", 10),
    # an ESP that signs but is not in SPF
    volume("192.0.2.2", 80, dkim=True, reporter="Outlook.com"),
    # an ESP nobody set up
    volume("192.0.2.3", 5, disposition="quarantine"),
    # a spoofer without reverse DNS
    volume(
        "198.51.100.9", 5, disposition="reject", reporter="Outlook.com", domain="sub.example.test"
    ),
]
NAMES = {
    "192.0.2.1": SourceName("192.0.2.1", "ok", "mail-1.google.com", True, "google.com", "Google"),
    "192.0.2.2": SourceName("192.0.2.2", "ok", "o1.sendgrid.net", True, "sendgrid.net", "SendGrid"),
    "192.0.2.3": SourceName("192.0.2.3", "ok", "m1.mailgun.net", True, "mailgun.net", "Mailgun"),
    "198.51.100.9": SourceName("198.51.100.9", "none"),
}


def test_totals_rates_dispositions_reporters() -> None:
    summary = summarize(VOLUMES, NAMES, domain="example.test", reports=3)
    data = summary.to_dict()
    assert data["messages"] == 1000
    assert data["dmarc_pass"] == {"count": 980, "total": 1000, "rate": 0.98}
    assert data["dkim_aligned"]["count"] == 980
    assert data["spf_aligned"]["count"] == 900
    assert data["dispositions"] == {"none": 990, "quarantine": 5, "reject": 5}
    assert [(r["reporter"], r["messages"]) for r in data["reporters"]] == [
        ("google.com", 915),
        ("Outlook.com", 85),
    ]
    assert [(d["domain"], d["messages"]) for d in data["domains"]] == [
        ("example.test", 995),
        ("sub.example.test", 5),
    ]
    assert data["sources"] == 4


def test_groups() -> None:
    summary = summarize(VOLUMES, NAMES)
    assert [(g.name, g.tally.messages, g.tally.dmarc_pass) for g in summary.by_esp] == [
        ("Google", 910, 900),
        ("SendGrid", 80, 80),
        ("Mailgun", 5, 0),
    ]
    assert [(g.name, g.kind) for g in summary.by_rdns] == [
        ("google.com", "rdns"),
        ("sendgrid.net", "rdns"),
        ("(no reverse DNS)", "no-rdns"),
        ("mailgun.net", "rdns"),
    ]


def test_failing_sources_and_verdicts() -> None:
    failing = summarize(VOLUMES, NAMES).failing
    assert [(s.name.ip, s.tally.failed, s.legitimate) for s in failing] == [
        ("192.0.2.1", 10, True),
        ("192.0.2.3", 5, False),
        ("198.51.100.9", 5, False),
    ]
    assert failing[0].verdict.startswith("legitimate")
    assert "Mailgun is not authorized" in failing[1].verdict
    assert failing[2].verdict.startswith("never passes: spoofing")


def test_readiness() -> None:
    readiness = summarize(VOLUMES, NAMES).readiness
    assert readiness.legitimate_messages == 990
    assert readiness.would_fail == 10
    assert readiness.share is not None and round(readiness.share, 4) == 0.0101
    assert readiness.ready is False  # just over 1 %
    assert [c.name.ip for c in readiness.causes] == ["192.0.2.1"]
    assert readiness.cause_groups == (("Google", 10),)
    fixed = summarize([v for v in VOLUMES if v.count != 10], NAMES).readiness
    assert fixed.ready is True and fixed.would_fail == 0
    nothing_passes = summarize([volume("192.0.2.9", 3)]).readiness
    assert nothing_passes.ready is None


def test_without_reverse_dns() -> None:
    summary = summarize(VOLUMES)
    assert summary.by_esp == ()
    assert [(g.name, len(g.ips)) for g in summary.by_rdns] == [("(not looked up)", 4)]
    assert ips_by_volume(VOLUMES) == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.9"]
