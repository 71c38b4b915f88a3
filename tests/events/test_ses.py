"""SES through SNS: signature versions, certificate URL rules and caching, topics, control."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from deliverwatch.events.providers import PROVIDERS
from deliverwatch.events.providers.base import (
    Control,
    PayloadError,
    SignatureError,
    VerifyContext,
    WebhookRequest,
)
from deliverwatch.events.providers.sns import CertificateUnavailable, canonical, is_sns_url
from tests.events.support import (
    CERT_URL,
    NOW,
    TOPIC,
    CertificateServer,
    TokenStore,
    context,
    fixture_bytes,
    plain_source,
    sns_identity,
    sns_notification,
    sns_sign,
)

SES = PROVIDERS["ses"]
SOURCE = plain_source("ses", topic_arns=(TOPIC,))


def request(message: dict[str, Any]) -> WebhookRequest:
    return WebhookRequest(body=json.dumps(message).encode(), headers={})


def delivery(**extra: Any) -> dict[str, Any]:
    return sns_notification(json.loads(fixture_bytes("ses", "delivery.json")), **extra)


async def verify(
    message: dict[str, Any], server: CertificateServer | None = None, **kw: Any
) -> None:
    fetch = (server or CertificateServer()).fetch
    await SES.verify(request(message), kw.pop("source", SOURCE), context(fetch=fetch, **kw))


@pytest.mark.parametrize("version", ["1", "2"])
async def test_both_signature_versions_verify(version: str) -> None:
    await verify(sns_sign(delivery(), version))


async def test_version_1_signature_does_not_pass_as_version_2() -> None:
    message = sns_sign(delivery(), "1")
    message["SignatureVersion"] = "2"
    with pytest.raises(SignatureError) as caught:
        await verify(message)
    assert caught.value.status == 403


async def test_unknown_signature_version_is_refused() -> None:
    message = sns_sign(delivery(), "1")
    message["SignatureVersion"] = "3"
    with pytest.raises(SignatureError):
        await verify(message)


async def test_subject_is_signed_when_present() -> None:
    message = sns_sign(delivery(Subject="Amazon SES Email Event Notification"))
    await verify(message)
    assert b"Subject\nAmazon SES" in canonical(message)
    with pytest.raises(SignatureError):
        await verify(dict(message, Subject="changed"))
    assert b"\nSubject\n" not in canonical(dict(message, Subject=None))


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.test/cert.pem",
        "https://evil.test/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.us-east-1.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
        "https://127.0.0.1/cert.pem",
        "https://sns.us_east.amazonaws.com/cert.pem",
        "https://[::1/cert.pem",
        "file:///etc/passwd",
    ],
)
async def test_certificate_urls_off_amazon_sns_are_never_fetched(url: str) -> None:
    server = CertificateServer()
    server.documents[url] = sns_identity()[1]
    with pytest.raises(SignatureError) as caught:
        await verify(sns_sign(delivery(SigningCertURL=url)), server)
    assert caught.value.status == 403
    assert server.fetched == []
    assert not is_sns_url(url)


def test_china_and_other_regions_are_sns_urls() -> None:
    assert is_sns_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem")
    assert is_sns_url("https://sns.eu-central-1.amazonaws.com:443/x.pem")


async def test_certificate_is_fetched_once_then_cached() -> None:
    server = CertificateServer()
    ctx = context(fetch=server.fetch)
    await SES.verify(request(sns_sign(delivery(MessageId="a"))), SOURCE, ctx)
    await SES.verify(request(sns_sign(delivery(MessageId="b"))), SOURCE, ctx)
    assert server.fetched == [CERT_URL]


async def test_unfetchable_certificate_answers_503() -> None:
    message = sns_sign(delivery(SigningCertURL=CERT_URL.replace(".pem", "-gone.pem")))
    with pytest.raises(CertificateUnavailable) as caught:
        await verify(message)
    assert caught.value.status == 503
    ctx = VerifyContext(now=lambda: NOW, remember_token=TokenStore().remember, fetch=None)
    with pytest.raises(CertificateUnavailable):
        await SES.verify(request(sns_sign(delivery())), SOURCE, ctx)


def expired_certificate() -> bytes:
    key = sns_identity()[0]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=400))
        .not_valid_after(NOW - timedelta(days=35))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


async def test_a_non_certificate_or_expired_certificate_is_refused() -> None:
    server = CertificateServer(documents={CERT_URL: b"<html>not a certificate</html>"})
    with pytest.raises(SignatureError):
        await verify(sns_sign(delivery()), server)
    server = CertificateServer(documents={CERT_URL: expired_certificate()})
    with pytest.raises(SignatureError) as caught:
        await verify(sns_sign(delivery()), server)
    assert "expired" in caught.value.reason


async def test_topic_must_be_configured_one() -> None:
    message = sns_sign(delivery(TopicArn="arn:aws:sns:us-east-1:999999999999:other"))
    with pytest.raises(SignatureError) as caught:
        await verify(message)
    assert caught.value.status == 403
    await verify(message, source=plain_source("ses"))  # no topic_arns: any topic


async def test_sns_retries_within_the_hour_are_fresh() -> None:
    message = sns_sign(delivery(Timestamp="2024-06-10T05:20:00.000Z"))  # 55 minutes before NOW
    await verify(message)


async def test_raw_message_delivery_is_unsigned() -> None:
    with pytest.raises(SignatureError) as caught:
        await verify(json.loads(fixture_bytes("ses", "delivery.json")))
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "name", ["sns-subscription-confirmation.json", "sns-unsubscribe-confirmation.json"]
)
async def test_subscription_messages_verify_and_give_control(name: str) -> None:
    message = json.loads(fixture_bytes("ses", name)) | {"SigningCertURL": CERT_URL}
    signed = sns_sign(message)
    await verify(signed)
    parsed = SES.parse(request(signed), SOURCE)
    assert parsed.events == []
    assert isinstance(parsed.control, Control)
    assert parsed.control.url == message["SubscribeURL"]
    assert parsed.control.topic_arn == TOPIC
    assert parsed.control.kind.endswith("_confirmation")
    with pytest.raises(SignatureError):  # the Token is signed
        await verify(dict(signed, Token="other"))


def test_subscribe_url_must_be_amazon_sns() -> None:
    message = json.loads(fixture_bytes("ses", "sns-subscription-confirmation.json"))
    message["SubscribeURL"] = "https://attacker.test/confirm"
    with pytest.raises(PayloadError):
        SES.parse(request(message), SOURCE)


def test_notification_message_must_be_ses_json() -> None:
    with pytest.raises(PayloadError, match="Message"):
        SES.parse(request(delivery(Message="not json")), SOURCE)
    with pytest.raises(PayloadError):
        SES.parse(request({"Type": "Weird"}), SOURCE)


def test_one_event_per_bounced_recipient_with_distinct_ids() -> None:
    message = sns_notification(json.loads(fixture_bytes("ses", "bounce-permanent.json")))
    events = SES.parse(request(message), SOURCE).events
    assert [e.recipient for e in events] == ["nobody@gmail.com", "gone@example.net"]
    assert len({e.event_id for e in events}) == 2


async def test_message_id_is_remembered_until_sns_gives_up() -> None:
    tokens = TokenStore()
    await verify(sns_sign(delivery()), tokens=tokens)
    (expires,) = tokens.seen.values()
    assert expires == NOW.replace(minute=14) + timedelta(hours=1, seconds=300)
    replayed = replace(SOURCE)
    with pytest.raises(SignatureError, match="replay"):
        await verify(sns_sign(delivery()), tokens=tokens, source=replayed)
