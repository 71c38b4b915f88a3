"""Each channel's pure render function: the payload says what, where, how bad, the evidence,
causes, actions and the dashboard link, in the shape the service takes."""

from __future__ import annotations

import json
from datetime import timedelta

from deliverwatch.notify import render
from deliverwatch.notify.channels.alertmanager import alerts_url, label_name, render_alertmanager
from deliverwatch.notify.channels.pagerduty import render_pagerduty
from deliverwatch.notify.channels.slack import render_slack
from deliverwatch.notify.channels.smtp import render_email
from deliverwatch.notify.channels.teams import render_teams
from deliverwatch.notify.channels.webhook import render_webhook, sign, verify_signature
from tests.notify.conftest import START, make_notification

LINK = "https://dw.example.com/domains/example.com"


def every_text(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False)


def assert_complete(text: str) -> None:
    """The questions every message answers."""
    for piece in (
        "Complaint rate above 0.30%",  # what
        "example.com",  # where
        "critical",  # how bad
        "0.42% complaints (95% CI 0.36%-0.49%)",  # evidence
        "a new list segment",  # likely causes
        "pause the campaign",  # recommended actions
        LINK,  # the dashboard
    ):
        assert piece in text, piece


def test_plain_text_and_html_answer_every_question() -> None:
    n = make_notification()
    assert_complete(render.plain_text(n))
    html = render.html(n)
    assert_complete(html)
    assert "<li>pause the campaign</li>" in html


def test_html_escapes_what_it_shows() -> None:
    n = make_notification(summary="<script>alert(1)</script> & more")
    assert "<script>" not in render.html(n)
    assert "&lt;script&gt;" in render.html(n)


def test_slack_has_blocks_a_fallback_and_a_dashboard_button() -> None:
    payload = render_slack(make_notification())
    assert_complete(every_text(payload))
    assert payload["text"].startswith("[FIRING · critical]")
    types = [b["type"] for b in payload["blocks"]]
    assert types[0] == "header" and "actions" in types and types[-1] == "context"
    button = next(b for b in payload["blocks"] if b["type"] == "actions")["elements"][0]
    assert button["url"] == LINK
    assert len(payload["blocks"][0]["text"]["text"]) <= 150


def test_slack_escapes_control_characters_and_cuts_long_text() -> None:
    n = make_notification(summary="<!channel> a&b " + "x" * 5000)
    payload = render_slack(n)
    section = payload["blocks"][1]["text"]["text"]
    assert section.startswith("&lt;!channel&gt; a&amp;b")
    assert len(section) <= 3000


def test_slack_resolved_reads_as_resolved() -> None:
    payload = render_slack(make_notification(kind="resolved"))
    assert payload["text"].startswith("[RESOLVED")
    assert payload["blocks"][0]["text"]["text"].startswith("✅")


def test_teams_posts_an_adaptive_card_in_a_message() -> None:
    payload = render_teams(make_notification())
    assert payload["type"] == "message"
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "Open in the dashboard",
        "url": LINK,
    }
    assert card["body"][0]["color"] == "Attention"
    assert_complete(every_text(payload))


def test_pagerduty_maps_kinds_to_actions_with_the_fingerprint_as_dedup_key() -> None:
    firing = render_pagerduty(make_notification(), "KEY")
    assert firing["event_action"] == "trigger" and firing["dedup_key"] == "fp-1"
    assert firing["routing_key"] == "KEY"
    assert firing["payload"]["severity"] == "critical"
    assert firing["payload"]["source"] == "example.com"
    assert firing["links"][0]["href"] == LINK
    assert_complete(every_text(firing))
    ack = render_pagerduty(make_notification(kind="acknowledged"), "KEY")
    resolved = render_pagerduty(make_notification(kind="resolved"), "KEY")
    assert ack == {"routing_key": "KEY", "event_action": "acknowledge", "dedup_key": "fp-1"}
    assert resolved == {"routing_key": "KEY", "event_action": "resolve", "dedup_key": "fp-1"}
    for ours, theirs in {"info": "info", "warning": "warning", "high": "error"}.items():
        event = render_pagerduty(make_notification(severity=ours), "KEY")
        assert event["payload"]["severity"] == theirs
    long = render_pagerduty(make_notification(title="t" * 2000), "KEY")
    assert len(long["payload"]["summary"]) <= 1024


def test_alertmanager_alert_has_stable_labels_and_times() -> None:
    now = START + timedelta(minutes=5)
    [firing] = render_alertmanager(make_notification(), now, timedelta(hours=6))
    assert firing["labels"] == {
        "alertname": "complaint_rate",
        "provider": "gmail",
        "severity": "critical",
        "dw_fingerprint": "fp-1",
        "domain": "example.com",
    }
    assert firing["startsAt"] == START.isoformat()
    assert firing["endsAt"] == (now + timedelta(hours=6)).isoformat()
    assert firing["generatorURL"] == LINK
    assert_complete(every_text(firing))
    [resolved] = render_alertmanager(make_notification(kind="resolved"), now)
    assert resolved["labels"] == firing["labels"]  # the same alert to Alertmanager
    assert resolved["endsAt"] == START.isoformat()  # when it resolved, not when it was sent


def test_alertmanager_sends_each_member_of_a_group() -> None:
    members = [
        {"fingerprint": "a1", "rule": "complaint_rate", "severity": "critical", "state": "firing"},
        {"fingerprint": "a2", "rule": "bounce_rate", "severity": "warning", "state": "resolved"},
    ]
    members[1]["resolved_at"] = (START - timedelta(minutes=3)).isoformat()
    now = START + timedelta(minutes=1)
    alerts = render_alertmanager(make_notification(alerts=members, labels={}), now)
    assert [a["labels"]["dw_fingerprint"] for a in alerts] == ["a1", "a2"]
    assert [a["labels"]["alertname"] for a in alerts] == ["complaint_rate", "bounce_rate"]
    assert alerts[1]["endsAt"] == (START - timedelta(minutes=3)).isoformat()
    assert alerts[0]["endsAt"] > now.isoformat()


def test_alertmanager_label_names_and_url() -> None:
    assert label_name("mailbox-provider") == "mailbox_provider"
    assert label_name("1st") == "_1st"
    assert alerts_url("http://am:9093/") == "http://am:9093/api/v2/alerts"
    assert alerts_url("http://am:9093/api/v2/alerts") == "http://am:9093/api/v2/alerts"


def test_webhook_body_carries_the_notification_and_text() -> None:
    n = make_notification()
    body = render_webhook(n)
    assert body["version"] == 1 and body["delivery_id"] == n.id and body["status"] == "firing"
    assert body["notification"] == n.to_dict()
    assert_complete(body["text"])


def test_signature_verifies_only_for_the_same_secret_body_and_a_fresh_time() -> None:
    body = b'{"a":1}'
    signature = sign("secret", 1_700_000_000, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature("secret", "1700000000", signature, body, now=1_700_000_100)
    assert not verify_signature("other", "1700000000", signature, body, now=1_700_000_100)
    assert not verify_signature("secret", "1700000000", signature, b'{"a":2}', 1_700_000_100)
    assert not verify_signature("secret", "1700000001", signature, body, now=1_700_000_100)
    assert not verify_signature("secret", "1700000000", signature, body, now=1_700_001_000)


def test_email_has_a_subject_and_text_and_html_alternatives() -> None:
    n = make_notification()
    message = render_email(n, sender="dw@example.com", to=["a@x.com", "b@x.com"], prefix="[dw]")
    assert message["Subject"].startswith("[dw] [FIRING · critical] example.com: Complaint rate")
    assert message["To"] == "a@x.com, b@x.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Deliverwatch-Notification"] == n.id
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert_complete(text.get_content())
    assert_complete(html.get_content())


def test_grouped_notification_lists_its_alerts() -> None:
    members = [{"summary": f"alert {i}", "severity": "warning"} for i in range(25)]
    text = render.plain_text(make_notification(alerts=members))
    assert "Alerts in this group:" in text and "- [warning] alert 19" in text
    assert "alert 20" not in text and "… and 5 more" in text


def test_a_title_with_its_own_tag_keeps_it() -> None:
    n = make_notification(title="[CRITICAL] complaint rate 0.42% at gmail")
    assert render.headline(n) == "[CRITICAL] example.com: complaint rate 0.42% at gmail"
    resolved = make_notification(kind="resolved", title="[RESOLVED] bounce rate", domain=None)
    assert render.headline(resolved) == "[RESOLVED] bounce rate"


def test_a_digest_renders_its_domains_once() -> None:
    n = make_notification(
        kind="digest",
        severity="info",
        title="deliverwatch daily digest: 2 domain(s); 1 need attention",
        domain=None,
        evidence=["example.com: critical, score 41 (F)", "example.org: ok, score 95 (A)"],
        alerts=[{"domain": "example.com"}, {"domain": "example.org"}],
    )
    text = render.plain_text(n)
    assert text.startswith("[DIGEST · info] deliverwatch daily digest")
    assert text.count("example.org") == 1 and "Domains: 2" in text
    assert render_slack(n)["text"].startswith("[DIGEST")
