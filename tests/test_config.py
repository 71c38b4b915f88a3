"""deliverwatch.yaml: validation errors name the key; env overrides; *_FILE secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliverwatch.config import DEFAULT_DNSBL_ZONES, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deliverwatch.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert config.dns.timeout == 2.0
    assert config.blocklists.dnsbl == DEFAULT_DNSBL_ZONES
    assert config.domains == []


def test_reads_domains(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
domains:
  - name: Example.COM.
    dkim_selectors: [s1, s2]
    sending_ips: [192.0.2.1, "2001:db8::1"]
""",
    )
    config = load_config(path, env={})
    assert config.domain("example.com").dkim_selectors == ["s1", "s2"]
    assert config.domain("other.test").dkim_selectors == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dns:\n  timeout: -1\n", "dns.timeout: Input should be greater than 0"),
        ("dns:\n  tiemout: 3\n", "dns.tiemout: unknown key"),
        (
            "dns:\n  nameservers: [dns.google]\n",
            "dns.nameservers: Value error, 'dns.google' is not an IP address",
        ),
        ("domains:\n  - name: a.test\n    sending_ips: [999.1.1.1]\n", "domains.0.sending_ips"),
        ("check:\n  fail_on: sometimes\n", "check.fail_on"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("dns: [unclosed\n", "not valid YAML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert message in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "dns:\n  timeout: 3\n")
    env = {
        "DELIVERWATCH_DNS__TIMEOUT": "7.5",
        "DELIVERWATCH_DNS__NAMESERVERS": "127.0.0.1:5300, ::1",
        "DELIVERWATCH_BLOCKLISTS__DNSBL": "dnsbl.example.test",
        "UNRELATED": "x",
    }
    config = load_config(path, env=env)
    assert config.dns.timeout == 7.5
    assert config.dns.nameservers == ["127.0.0.1:5300", "::1"]
    assert config.blocklists.dnsbl == ["dnsbl.example.test"]


def test_file_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "db"
    secret.write_text("postgresql://user:pw@localhost/dw\n")
    config = load_config(None, env={"DELIVERWATCH_DATABASE_URL_FILE": str(secret)})
    assert config.database_url == "postgresql://user:pw@localhost/dw"
    with pytest.raises(ConfigError, match="DELIVERWATCH_DATABASE_URL_FILE"):
        load_config(None, env={"DELIVERWATCH_DATABASE_URL_FILE": str(tmp_path / "absent")})


def test_config_path_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "check:\n  concurrency: 5\n")
    assert load_config(None, env={"DELIVERWATCH_CONFIG": str(path)}).check.concurrency == 5


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml", env={})
