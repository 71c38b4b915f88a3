"""diff_audits: every kind of change, its hint, and DNS failures never read as removals."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from deliverwatch.history.changes import Change, baseline_report, diff_audits
from tests.history.reports import KEY_1024, changed, finding, good_report, unknown
from tests.history.strategies import REPORT


def one(changes: list[Change], section: str, field: str) -> Change:
    found = [c for c in changes if c.section == section and c.field == field]
    assert len(found) == 1, changes
    return found[0]


def test_identical_reports_have_no_changes() -> None:
    assert diff_audits(good_report(), good_report()) == []


def test_first_audit_compares_with_nothing() -> None:
    assert diff_audits({}, good_report()) == []


def test_spf_record_changed_and_lookup_limit_crossed() -> None:
    old = good_report()
    new = changed(old, spf={"record": "v=spf1 include:a include:b -all", "dns_lookups": 12})
    changes = diff_audits(old, new)
    record = one(changes, "spf", "record")
    assert (record.kind, record.severity_hint) == ("changed", "neutral")
    assert record.after == "v=spf1 include:a include:b -all"
    lookups = one(changes, "spf", "dns_lookups")
    assert (lookups.before, lookups.after, lookups.severity_hint) == (3, 12, "worse")
    assert "12 DNS lookups" in lookups.message and "limit 10" in lookups.message
    back = one(diff_audits(new, old), "spf", "dns_lookups")
    assert back.severity_hint == "better"


def test_spf_lookups_under_the_limit_are_neutral() -> None:
    old = good_report()
    new = changed(old, spf={"dns_lookups": 7})
    assert one(diff_audits(old, new), "spf", "dns_lookups").severity_hint == "neutral"


def test_record_removed_and_added() -> None:
    old = good_report()
    new = changed(old, dmarc={"record": None, "policy": None, "rua": []})
    removed = one(diff_audits(old, new), "dmarc", "record")
    assert (removed.kind, removed.severity_hint, removed.after) == ("removed", "worse", None)
    assert "DMARC record removed" in removed.message
    added = one(diff_audits(new, old), "dmarc", "record")
    assert (added.kind, added.severity_hint) == ("added", "better")


def test_dmarc_policy_weakened_and_strengthened() -> None:
    old = good_report()
    new = changed(
        old,
        dmarc={"record": "v=DMARC1; p=none", "policy": "none", "subdomain_policy": "none"},
    )
    changes = diff_audits(old, new)
    p = one(changes, "dmarc", "p")
    assert (p.before, p.after, p.severity_hint) == ("reject", "none", "worse")
    assert p.message == "DMARC policy weakened from reject to none"
    assert one(changes, "dmarc", "sp").severity_hint == "worse"
    assert one(diff_audits(new, old), "dmarc", "p").severity_hint == "better"


def test_dmarc_pct_and_rua() -> None:
    old = good_report()
    new = changed(old, dmarc={"pct": 25, "rua": []})
    changes = diff_audits(old, new)
    pct = one(changes, "dmarc", "pct")
    assert (pct.before, pct.after, pct.severity_hint) == (100, 25, "worse")
    rua = one(changes, "dmarc", "rua")
    assert (rua.kind, rua.severity_hint) == ("removed", "worse")
    assert rua.before == ["mailto:dmarc@shop.test"]
    # pct under p=none enforces nothing either way
    none = changed(old, dmarc={"policy": "none"})
    assert one(
        diff_audits(none, changed(none, dmarc={"pct": 10})), "dmarc", "pct"
    ).severity_hint == ("neutral")


def test_dkim_key_removed_shortened_added() -> None:
    old = good_report()
    gone = changed(old, dkim={"selectors": []})
    removed = one(diff_audits(old, gone), "dkim", "selector:s1")
    assert (removed.kind, removed.severity_hint) == ("removed", "worse")
    short = changed(
        old,
        dkim={
            "selectors": [
                {
                    "selector": "s1",
                    "found": True,
                    "key_type": "rsa",
                    "key_bits": 1024,
                    "record": KEY_1024,
                    "usable": True,
                }
            ]
        },
    )
    bits = one(diff_audits(old, short), "dkim", "selector:s1:key_bits")
    assert (bits.before, bits.after, bits.severity_hint) == (2048, 1024, "worse")
    assert "shortened from 2048 to 1024 bits" in bits.message
    two = changed(
        old,
        dkim={
            "selectors": [
                *old["dkim"]["selectors"],
                {"selector": "s2", "found": True, "key_bits": 2048, "usable": True},
            ]
        },
    )
    added = one(diff_audits(old, two), "dkim", "selector:s2")
    assert (added.kind, added.severity_hint) == ("added", "neutral")


def test_dkim_key_rotated_is_neutral() -> None:
    old = good_report()
    new = changed(
        old,
        dkim={"selectors": [{**old["dkim"]["selectors"][0], "record": "v=DKIM1; p=NEWKEY"}]},
    )
    change = one(diff_audits(old, new), "dkim", "selector:s1")
    assert (change.kind, change.severity_hint) == ("changed", "neutral")


def test_mx_hosts() -> None:
    old = good_report()
    new = changed(old, mx={"hosts": [{"host": "mx2.shop.test", "preference": 20}]})
    changes = diff_audits(old, new)
    assert one(changes, "mx", "host:mx2.shop.test").kind == "added"
    assert one(changes, "mx", "host:mx1.shop.test").kind == "removed"
    empty = changed(old, mx={"hosts": []})
    last = one(diff_audits(old, empty), "mx", "host:mx1.shop.test")
    assert last.severity_hint == "worse" and "no MX host is left" in last.message


def test_bimi_mta_sts_tlsrpt() -> None:
    old = good_report()
    new = changed(
        old,
        bimi={
            "published": True,
            "record": "v=BIMI1; l=https://shop.test/logo.svg",
            "logo_url": "https://shop.test/logo.svg",
        },
        mta_sts={"policy": {"mode": "testing", "mx": ["mx1.shop.test"]}},
        tlsrpt={"record": None, "rua": []},
    )
    changes = diff_audits(old, new)
    assert one(changes, "bimi", "record").severity_hint == "better"
    mode = one(changes, "mta_sts", "mode")
    assert (mode.before, mode.after, mode.severity_hint) == ("enforce", "testing", "worse")
    assert one(changes, "tlsrpt", "record").kind == "removed"


def test_mta_sts_mode_not_compared_when_policy_not_fetched() -> None:
    old = good_report()
    new = changed(old, mta_sts={"policy": None, "fetched": False, "status": "not_checked"})
    assert diff_audits(old, new) == []


def test_blocklist_listing_and_delisting() -> None:
    old = good_report()
    entries = [dict(e) for e in old["blocklists"]["entries"]]
    entries[0].update(listed=True, codes=["127.0.0.2"], reason="spam source")
    new = changed(old, blocklists={"entries": entries, "status": "error"})
    listing = one(diff_audits(old, new), "blocklists", "dnsbl.bl.test:198.18.0.10")
    assert (listing.kind, listing.severity_hint) == ("added", "worse")
    assert listing.message == "198.18.0.10 is now listed on dnsbl.bl.test (127.0.0.2: spam source)"
    delisting = one(diff_audits(new, old), "blocklists", "dnsbl.bl.test:198.18.0.10")
    assert (delisting.kind, delisting.severity_hint) == ("removed", "better")


def test_blocklist_entry_whose_lookup_failed_is_not_a_delisting() -> None:
    old = good_report()
    entries = [dict(e) for e in old["blocklists"]["entries"]]
    entries[0]["listed"] = True
    listed = changed(old, blocklists={"entries": entries})
    failed = [dict(e) for e in entries]
    failed[0]["listed"] = None
    assert diff_audits(listed, changed(listed, blocklists={"entries": failed})) == []


def test_blocklists_that_answered_are_compared_when_another_failed() -> None:
    old = good_report()
    entries = [dict(e) for e in old["blocklists"]["entries"]]
    entries[0]["listed"] = None  # this lookup failed…
    entries[1].update(listed=True, codes=["127.0.1.2"])  # …this one answered: listed
    new = changed(old, blocklists={"entries": entries, "status": "unknown"})
    changes = diff_audits(old, new)
    assert [(c.kind, c.section, c.field) for c in changes] == [
        ("unknown", "blocklists", "status"),
        ("added", "blocklists", "dbl.bl.test:shop.test"),
    ]


def test_findings_appear_disappear_and_change_severity() -> None:
    old = changed(good_report(), findings=[finding("spf.too_many_lookups", "error")])
    new = changed(
        good_report(),
        findings=[finding("dmarc.policy_none", "warning", "p=none"), finding("mx.null_mx", "info")],
    )
    changes = diff_audits(old, new)
    added = one(changes, "findings", "dmarc.policy_none")
    assert (added.kind, added.code, added.severity_hint) == ("added", "dmarc.policy_none", "worse")
    assert added.message == "New warning dmarc.policy_none: p=none"
    assert one(changes, "findings", "mx.null_mx").severity_hint == "neutral"
    gone = one(changes, "findings", "spf.too_many_lookups")
    assert (gone.kind, gone.severity_hint) == ("removed", "better")
    worse = changed(good_report(), findings=[finding("dmarc.policy_none", "error")])
    up = one(diff_audits(new, worse), "findings", "dmarc.policy_none")
    assert (up.kind, up.severity_hint) == ("changed", "worse")


def test_requirements_and_sending_ips() -> None:
    old = good_report()
    new = changed(old, sending_ips=[{"address": "198.18.0.10", "ptr": [], "fcrdns": False}])
    new["requirements"]["google"]["items"][1]["met"] = False
    changes = diff_audits(old, new)
    assert one(changes, "sending_ips", "fcrdns:198.18.0.10").severity_hint == "worse"
    req = one(changes, "requirements", "google.dmarc")
    assert (req.before, req.after, req.severity_hint) == (True, False, "worse")


def test_unknown_section_is_never_a_removal() -> None:
    old = changed(good_report(), findings=[finding("spf.too_many_lookups", "error")])
    new = unknown(old, "spf")
    new["findings"] = [f for f in new["findings"] if not f["code"].startswith("spf.")]
    changes = diff_audits(old, new)
    assert [(c.kind, c.section, c.severity_hint) for c in changes] == [
        ("unknown", "spf", "neutral")
    ]
    assert "could not be checked" in changes[0].message
    # and coming back is compared like any other audit, with no "added" either
    assert diff_audits(new, old) == []


def test_each_section_unknown_hides_only_itself() -> None:
    old = good_report()
    for section in ("spf", "dmarc", "dkim", "bimi", "mta_sts", "tlsrpt", "mx", "blocklists"):
        new = changed(unknown(old, section), tlsrpt={"rua": ["mailto:other@x.test"]})
        changes = diff_audits(old, new)
        kinds = {(c.kind, c.section) for c in changes}
        assert ("unknown", section) in kinds
        assert not any(c.kind == "removed" for c in changes), (section, changes)
        if section != "tlsrpt":
            assert ("changed", "tlsrpt") in kinds


def test_baseline_takes_unknown_sections_from_the_last_known_audit() -> None:
    first = good_report()
    outage = unknown(first, "dmarc")
    base = baseline_report([outage, first])
    assert base is not None and base["dmarc"] == first["dmarc"]
    weakened = changed(first, dmarc={"policy": "none"})
    assert one(diff_audits(base, weakened), "dmarc", "p").severity_hint == "worse"
    assert baseline_report([]) is None
    assert baseline_report([first]) == first


def test_change_round_trips_through_dict() -> None:
    change = one(
        diff_audits(good_report(), changed(good_report(), dmarc={"pct": 50})), "dmarc", "pct"
    )
    assert Change.from_dict(change.to_dict()) == change
    assert set(change.to_dict()) == {
        "kind",
        "section",
        "field",
        "code",
        "before",
        "after",
        "message",
        "severity_hint",
    }


# -- never crashes ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(REPORT, REPORT)
def test_diff_audits_never_crashes(old: dict[str, Any], new: dict[str, Any]) -> None:
    changes = diff_audits(old, new)
    for change in changes:
        assert change.kind in ("added", "removed", "changed", "unknown")
        assert change.severity_hint in ("worse", "better", "neutral")
        assert isinstance(change.message, str) and change.message
        assert Change.from_dict(change.to_dict()) == change
    base = baseline_report([new, old])
    assert base is None or isinstance(base, dict)
    diff_audits(base or {}, old)


@settings(max_examples=60, deadline=None)
@given(REPORT)
def test_a_report_compared_with_itself_has_no_changes(report: dict[str, Any]) -> None:
    assert [c for c in diff_audits(report, report) if c.kind != "unknown"] == []
