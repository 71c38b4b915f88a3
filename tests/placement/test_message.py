"""The test message: token in a header and every text part, From replaced, DKIM that verifies;
and the ``placement:`` config (secrets from files, never shown)."""

from __future__ import annotations

import base64
import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from deliverwatch.config import ConfigError, load_config
from deliverwatch.placement.config import DkimSettings, PlacementSettings
from deliverwatch.placement.message import (
    TOKEN_HEADER,
    MessageError,
    build_message,
    for_recipient,
    new_token,
)

MULTIPART = b"""From: Someone Else <x@other.test>
To: list@other.test
Subject: Spring sale
Message-ID: <old@other.test>
DKIM-Signature: v=1; a=rsa-sha256; d=other.test; s=x; b=AAAA
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset=utf-8

Spring sale: 20% off.
--b2
Content-Type: text/html; charset=utf-8

<html><body><p>Spring sale: 20% off.</p></body></html>
--b2--
--b1
Content-Type: text/plain; name="terms.txt"
Content-Disposition: attachment; filename="terms.txt"

Terms apply.
--b1--
"""


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_eml_gets_the_token_in_header_and_each_text_part() -> None:
    token = new_token()
    base = build_message(
        MULTIPART, name="sale.eml", sender="Brand <news@brand.test>", subject="x", token=token
    )
    raw = for_recipient(base, "seed@gmail.test", domain="brand.test")
    message = _parse(raw)
    assert message[TOKEN_HEADER] == token
    assert message["From"] == "Brand <news@brand.test>"
    assert message["To"] == "seed@gmail.test" and message["Subject"] == "Spring sale"
    assert "brand.test" in message["Message-ID"] and message["Date"]
    assert "DKIM-Signature" not in message  # the original signature would fail anyway
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert token in plain.get_content() and "20% off" in plain.get_content()
    assert f'<div style="display:none">placement test {token}</div></body>' in html.get_content()
    attachment = next(message.iter_attachments())
    assert token not in attachment.get_content()


def test_templates_and_the_built_in_text() -> None:
    token = new_token()
    html = build_message(
        b"<html><body>Hi</body></html>", name="t.html", sender="n@b.test", subject="S", token=token
    )
    assert html.get_content_type() == "text/html" and html["Subject"] == "S"
    assert token in html.get_content()
    text = build_message(None, sender="n@b.test", subject="S", token=token)
    assert token in text.get_content() and text["Subject"] == "S"
    with pytest.raises(MessageError):
        build_message(
            b"Content-Type: image/png\n\nxx",
            name="a.eml",
            sender="n@b.test",
            subject="S",
            token="t",
        )


def test_dkim_signature_verifies() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = DkimSettings(selector="s1", domain="brand.test", private_key=pem)
    assert pem not in repr(settings) and "private_key" not in settings.model_dump()
    base = build_message(None, sender="n@brand.test", subject="S", token=new_token())
    raw = for_recipient(base, "seed@x.test", domain="brand.test", dkim=settings)
    assert raw.startswith(b"DKIM-Signature:")

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.brand.test."
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    assert dkim.verify(raw, dnsfunc=dnsfunc)


def test_config_reads_secret_files_and_hides_them(tmp_path: Path) -> None:
    (tmp_path / "smtp").write_text("relay-secret\n")
    (tmp_path / "seed").write_text("seed-secret\n")
    (tmp_path / "config.yaml").write_text(
        f"""
placement:
  smtp: {{host: smtp.example.com, port: 587, starttls: true, username: apikey,
          password_file: {tmp_path / "smtp"}}}
  from: "Brand <news@example.com>"
  seeds:
    - address: seed1@gmail.com
      provider: gmail
      imap: {{host: imap.gmail.com, port: 993, tls: true, username: seed1@gmail.com,
              password_file: {tmp_path / "seed"}}}
    - address: seed2@local.test
      imap: {{host: 127.0.0.1, port: 143, tls: false, username: seed2, password: inline-secret}}
"""
    )
    config = load_config(tmp_path / "config.yaml", env={})
    placement = config.placement
    assert placement.smtp is not None and placement.smtp.password == "relay-secret"
    assert placement.seeds[0].imap.password == "seed-secret"
    assert placement.seeds[1].imap.effective_port == 143 and placement.seeds[1].provider == "other"
    assert placement.from_ == "Brand <news@example.com>" and placement.problems() == []
    shown = repr(config) + config.model_dump_json()
    for secret in ("relay-secret", "seed-secret", "inline-secret"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ({"from": "not an address"}, "placement.from"),
        ({"smtp": {"host": "h", "password": "a", "password_file": "/x"}}, "not both"),
        ({"smtp": {"host": "h", "password_file": "/nonexistent/x"}}, "cannot read"),
        ({"cleanup": "shred"}, "placement.cleanup"),
        ({"dkim": {"selector": "s", "domain": "d"}}, "private_key"),
        (
            {
                "seeds": [
                    {"address": "a@x", "imap": {"host": "h", "username": "u"}},
                    {"address": "A@x", "imap": {"host": "h", "username": "u"}},
                ]
            },
            "duplicate",
        ),
    ],
)
def test_bad_config_names_the_key(
    tmp_path: Path, placement: dict[str, object], message: str
) -> None:
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"placement": placement}))
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_implicit_tls_turns_starttls_off_and_problems_are_listed() -> None:
    settings = PlacementSettings.model_validate({"smtp": {"host": "h", "port": 465, "tls": True}})
    assert settings.smtp is not None and not settings.smtp.starttls
    assert settings.problems() == ["placement.from is not set", "placement.seeds is empty"]
