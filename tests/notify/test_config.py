"""The ``notifications:`` section: channel types, secrets from files, secrets never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from deliverwatch.config import ConfigError, load_config
from deliverwatch.notify.config import (
    AlertmanagerChannelConfig,
    EmailChannelConfig,
    PagerDutyChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)

YAML = """
notifications:
  dashboard_url: https://dw.example.com/
  channels:
    - name: ops-slack
      type: slack
      url_file: {slack}
    - name: mail
      type: email
      host: smtp.example.com
      username: alerts
      password_file: {password}
      from: deliverwatch@example.com
      to: [ops@example.com, oncall@example.com]
    - name: hook
      type: webhook
      url: https://hooks.example.com/in
      secret: s3cret-signing-key
      headers: {Authorization: "Bearer hdr-token"}
    - name: pd
      type: pagerduty
      routing_key: R0UT1NGKEY
    - name: teams
      type: teams
      url: https://prod.example.logic.azure.com/workflows/abc?sig=teams-sig
    - name: am
      type: alertmanager
      urls: [http://am1:9093, http://am2:9093]
  delivery:
    max_attempts: 5
    max_age_seconds: 3600
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "slack").write_text("https://hooks.slack.com/services/T/B/slack-token\n")
    (tmp_path / "password").write_text("smtp-pass\n")
    path = tmp_path / "deliverwatch.yaml"
    text = text.replace("{slack}", str(tmp_path / "slack"))
    path.write_text(text.replace("{password}", str(tmp_path / "password")))
    return path


def test_every_channel_type_loads_with_its_own_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, YAML), env={})
    n = config.notifications
    assert [c.type for c in n.channels] == [
        "slack",
        "email",
        "webhook",
        "pagerduty",
        "teams",
        "alertmanager",
    ]
    mail = n.channel("mail")
    assert isinstance(mail, EmailChannelConfig)
    assert mail.password is not None and mail.password.get_secret_value() == "smtp-pass"
    assert mail.to == ["ops@example.com", "oncall@example.com"]
    assert mail.effective_port == 587 and mail.starttls and not mail.tls
    slack = n.channel("ops-slack")
    assert isinstance(slack, SlackChannelConfig)
    assert slack.url.get_secret_value().endswith("slack-token")
    pd = n.channel("pd")
    assert isinstance(pd, PagerDutyChannelConfig)
    assert pd.url == "https://events.pagerduty.com/v2/enqueue"
    am = n.channel("am")
    assert isinstance(am, AlertmanagerChannelConfig) and am.all_urls == [
        "http://am1:9093",
        "http://am2:9093",
    ]
    assert n.delivery.max_attempts == 5


def test_secrets_never_appear_in_reprs_dumps_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(write(tmp_path, YAML), env={})
    shown = repr(config) + str(config) + config.model_dump_json()
    logging.getLogger("test").warning("config: %s / %r", config, config.notifications)
    shown += caplog.text
    for secret in (
        "slack-token",
        "smtp-pass",
        "s3cret-signing-key",
        "hdr-token",
        "R0UT1NGKEY",
        "teams-sig",
    ):
        assert secret not in shown
    assert "ops-slack" in shown  # the rest is still there


def test_an_unknown_type_or_a_key_of_another_type_is_named(tmp_path: Path) -> None:
    bad_type = "notifications:\n  channels:\n    - {name: x, type: carrier-pigeon}\n"
    with pytest.raises(ConfigError, match=r"carrier-pigeon|tag"):
        load_config(write(tmp_path, bad_type), env={})
    wrong_key = (
        "notifications:\n  channels:\n"
        "    - {name: x, type: slack, url: 'https://a', routing_key: k}\n"
    )
    with pytest.raises(ConfigError, match="routing_key: unknown key"):
        load_config(write(tmp_path, wrong_key), env={})


def test_duplicate_channel_names_are_refused(tmp_path: Path) -> None:
    text = (
        "notifications:\n  channels:\n"
        "    - {name: x, type: slack, url: 'https://a'}\n"
        "    - {name: x, type: teams, url: 'https://b'}\n"
    )
    with pytest.raises(ConfigError, match="duplicate name"):
        load_config(write(tmp_path, text), env={})


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    text = (
        "notifications:\n  channels:\n"
        "    - {name: x, type: webhook, url: 'https://a', secret_file: /nonexistent/s}\n"
    )
    with pytest.raises(ConfigError, match="secret_file: cannot read /nonexistent/s"):
        load_config(write(tmp_path, text), env={})


def test_implicit_tls_defaults_to_port_465_without_starttls() -> None:
    mail = EmailChannelConfig.model_validate(
        {"name": "m", "type": "email", "host": "h", "tls": True, "from": "a@b.c", "to": ["x@y.z"]}
    )
    assert mail.effective_port == 465 and not mail.starttls


def test_urls_must_be_http_and_alertmanager_needs_one() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookChannelConfig.model_validate({"name": "w", "type": "webhook", "url": "ftp://x"})
    with pytest.raises(ValueError, match="url or urls"):
        AlertmanagerChannelConfig.model_validate({"name": "a", "type": "alertmanager"})


def test_backoff_bounds_are_ordered(tmp_path: Path) -> None:
    text = "notifications:\n  delivery: {base_backoff_seconds: 100, max_backoff_seconds: 10}\n"
    with pytest.raises(ConfigError, match="base_backoff_seconds"):
        load_config(write(tmp_path, text), env={})


def test_digest_channels_must_name_configured_channels(tmp_path: Path) -> None:
    ok = (
        "notifications:\n  digest_channels: [x]\n  channels:\n"
        "    - {name: x, type: slack, url: 'https://a'}\n"
    )
    assert load_config(write(tmp_path, ok), env={}).notifications.digest_channels == ["x"]
    with pytest.raises(ConfigError, match="digest_channels: unknown channel"):
        load_config(write(tmp_path, ok.replace("[x]", "[x, y]")), env={})
