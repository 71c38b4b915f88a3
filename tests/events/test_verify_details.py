"""Scheme details: Basic/bearer handling, SendGrid key formats, Svix rotation, Mandrill URLs."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization

from deliverwatch.events.providers import PROVIDERS
from deliverwatch.events.providers.base import PayloadError, SignatureError, WebhookRequest
from tests.events.support import (
    MailgunSigner,
    MandrillSigner,
    SendGridSigner,
    SvixSigner,
    basic,
    context,
    ecdsa_key,
    plain_source,
)

CREDENTIALS = plain_source("postmark", username="hook", password="s3cret-Pa55", token="tok-123")
BASIC_ONLY = replace(CREDENTIALS, token=None)
TOKEN_ONLY = replace(CREDENTIALS, username=None, password=None)


async def status_of(authorization: str | None, source: object = CREDENTIALS) -> int | None:
    headers = {"authorization": authorization} if authorization is not None else {}
    request = WebhookRequest(body=b"{}", headers=headers)
    try:
        await PROVIDERS["postmark"].verify(request, source, context())  # type: ignore[arg-type]
    except SignatureError as exc:
        return exc.status
    return None


@pytest.mark.parametrize(
    ("authorization", "source", "status"),
    [
        (basic("hook", "s3cret-Pa55"), CREDENTIALS, None),
        ("Bearer tok-123", CREDENTIALS, None),
        ("bearer   tok-123 ", CREDENTIALS, None),
        ("Bearer tok-123", TOKEN_ONLY, None),
        (basic("hook", "s3cret-Pa55"), BASIC_ONLY, None),
        (None, CREDENTIALS, 401),
        ("", CREDENTIALS, 401),
        ("   ", CREDENTIALS, 401),
        (basic("hook", "wrong"), CREDENTIALS, 403),
        (basic("other", "s3cret-Pa55"), CREDENTIALS, 403),
        (basic("hook", "s3cret-Pa55x"), CREDENTIALS, 403),
        (basic("hook:s3cret", "Pa55"), CREDENTIALS, 403),
        ("Basic !!!notbase64", CREDENTIALS, 403),
        ("Basic " + base64.b64encode(b"no-colon").decode(), CREDENTIALS, 403),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), CREDENTIALS, 403),
        ("Bearer wrong", CREDENTIALS, 403),
        ("Bearer tok-123", BASIC_ONLY, 403),  # a scheme the source has no secret for
        (basic("hook", "s3cret-Pa55"), TOKEN_ONLY, 403),
        ("Digest username=hook", CREDENTIALS, 403),
        ("Bearer tok-123", plain_source("postmark"), 403),  # nothing configured: fail closed
    ],
)
async def test_basic_and_bearer(
    authorization: str | None, source: object, status: int | None
) -> None:
    assert await status_of(authorization, source) == status


async def test_sendgrid_accepts_a_pem_key_and_refuses_a_bad_one() -> None:
    signer = SendGridSigner()
    pem = (
        ecdsa_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    sendgrid = PROVIDERS["sendgrid"]
    await sendgrid.verify(
        signer.signed(), plain_source("sendgrid", public_key=pem.decode()), context()
    )
    for key in ("not base64 !", base64.b64encode(b"not DER").decode()):
        with pytest.raises(SignatureError) as caught:
            await sendgrid.verify(
                signer.signed(), plain_source("sendgrid", public_key=key), context()
            )
        assert caught.value.status == 403 and "public_key" in caught.value.reason


@pytest.mark.parametrize("stamp", ["abc", "-5", "1e9", "17180000001234", "１７１８０００１００"])
async def test_malformed_timestamps_are_refused(stamp: str) -> None:
    signer = SendGridSigner()
    request = signer.signed()
    headers = dict(request.headers, **{"x-twilio-email-event-webhook-timestamp": stamp})
    with pytest.raises(SignatureError) as caught:
        await PROVIDERS["sendgrid"].verify(
            replace(request, headers=headers), signer.source(), context()
        )
    assert caught.value.status == 403


async def test_svix_ignores_other_signature_versions() -> None:
    signer = SvixSigner()
    request = signer.signed()
    good = request.headers["svix-signature"].split()[-1]
    for header in (f"v1a,{good[3:]}", f"v2,{good[3:]}", good[3:]):
        bad = replace(request, headers=dict(request.headers, **{"svix-signature": header}))
        with pytest.raises(SignatureError):
            await PROVIDERS["resend"].verify(bad, signer.source(), context())
    await PROVIDERS["resend"].verify(request, signer.source(), context())


async def test_svix_secret_must_be_base64() -> None:
    signer = SvixSigner()
    source = plain_source("resend", secret="whsec_%%%")
    with pytest.raises(SignatureError) as caught:
        await PROVIDERS["resend"].verify(signer.signed(), source, context())
    assert caught.value.status == 403


async def test_mandrill_signs_the_configured_url_not_the_request_url() -> None:
    signer = MandrillSigner()
    request = signer.signed()
    mandrill = PROVIDERS["mandrill"]
    await mandrill.verify(request, signer.source(), context())
    without_url = replace(signer.source(), url=None)
    with pytest.raises(SignatureError):  # the request URL (behind a proxy) differs
        await mandrill.verify(request, without_url, context())
    await mandrill.verify(replace(request, url=signer.url), without_url, context())


def test_mandrill_form_needs_one_events_field() -> None:
    mandrill, source = PROVIDERS["mandrill"], plain_source("mandrill")
    for body in (
        b"",
        b"other=1",
        b"mandrill_events=[]&mandrill_events=[]",
        b"mandrill_events=%7B%7D",
    ):
        with pytest.raises(PayloadError):
            mandrill.parse(WebhookRequest(body=body, headers={}), source)
    assert (
        mandrill.parse(WebhookRequest(body=b"mandrill_events=%5B%5D", headers={}), source).events
        == []
    )


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "not an object",
        {"timestamp": "1718000100", "token": "t"},
        {"timestamp": 1, "token": "t", "signature": "s"},
    ],
)
async def test_mailgun_without_a_usable_signature_is_401(signature: object) -> None:
    signer = MailgunSigner()
    payload = json.loads(signer.signed().body)
    payload["signature"] = signature
    request = WebhookRequest(body=json.dumps(payload).encode(), headers={})
    with pytest.raises(SignatureError) as caught:
        await PROVIDERS["mailgun"].verify(request, signer.source(), context())
    assert caught.value.status == 401


async def test_mailgun_body_that_is_not_json_is_400() -> None:
    with pytest.raises(PayloadError):
        await PROVIDERS["mailgun"].verify(
            WebhookRequest(body=b"timestamp=1&token=2", headers={}),
            MailgunSigner().source(),
            context(),
        )
