"""Amazon SNS HTTP(S) envelopes: message signature verification and subscription control.

SNS signs a canonical string of selected fields (which ones depends on ``Type``) with RSA:
``SignatureVersion`` 1 is SHA1withRSA, 2 is SHA256withRSA. The certificate is fetched from
``SigningCertURL`` only when that URL is HTTPS on ``sns.<region>.amazonaws.com`` (or
``.amazonaws.com.cn``): anything else could point the fetch at an attacker's certificate or
at the internal network. Certificates are cached in ``ctx.cache``.

SNS retries an HTTP(S) delivery for at most an hour with the original ``Timestamp``, so a
message is stale after ``RETRY_WINDOW + max_age_seconds``; its ``MessageId`` is accepted once.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from deliverwatch.events.providers.base import (
    Control,
    PayloadError,
    SignatureError,
    SourceSettings,
    VerifyContext,
    WebhookError,
    WebhookRequest,
)
from deliverwatch.events.providers.credentials import remember_once
from deliverwatch.events.providers.jsonfields import load_json, parse_time

SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?")
RETRY_WINDOW = timedelta(seconds=3600)  # SNS's hard limit on an HTTP(S) retry policy

#: The fields signed, in order, per message type (Subject only when present).
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED["UnsubscribeConfirmation"] = SIGNED["SubscriptionConfirmation"]
CONTROL = {
    "SubscriptionConfirmation": "subscription_confirmation",
    "UnsubscribeConfirmation": "unsubscribe_confirmation",
}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


class CertificateUnavailable(WebhookError):
    """The signing certificate could not be fetched now: 503, so SNS retries later."""

    status = 503


def is_sns_url(url: str) -> bool:
    """Whether ``url`` is HTTPS on an SNS endpoint host (no credentials, default port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    return (
        parts.scheme == "https"
        and SNS_HOST.fullmatch(host) is not None
        and parts.username is None
        and port in (None, 443)
    )


def envelope(body: bytes) -> dict[str, Any]:
    """The SNS message of a request body, or :class:`PayloadError`."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise PayloadError("the SNS message must be a JSON object")
    return data


def canonical(message: dict[str, Any]) -> bytes:
    """The string SNS signed for this message (its ``Type`` decides the fields)."""
    lines = []
    for key in SIGNED[message["Type"]]:
        value = message.get(key)
        if value is None and key == "Subject":
            continue
        if not isinstance(value, str):
            raise SignatureError(f"SNS field {key} is missing", missing=True)
        lines.append(f"{key}\n{value}\n")
    return "".join(lines).encode()


async def _public_key(url: str, ctx: VerifyContext) -> rsa.RSAPublicKey:
    cache_key = f"sns-certificate:{url}"
    cached = ctx.cache.get(cache_key)
    if isinstance(cached, x509.Certificate):
        certificate = cached
    else:
        if ctx.fetch is None:
            raise CertificateUnavailable("no fetcher for SNS signing certificates")
        try:
            pem = await ctx.fetch(url)
        except Exception:  # the fetch seam's errors are ours, not the sender's
            raise CertificateUnavailable(
                "the SNS signing certificate could not be fetched"
            ) from None
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SignatureError("the SNS signing certificate is not a PEM certificate") from None
        ctx.cache[cache_key] = certificate
    now = ctx.now()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SignatureError("the SNS signing certificate is expired or not yet valid")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("the SNS signing certificate has no RSA key")
    return key


async def verify_envelope(
    request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
) -> dict[str, Any]:
    """The verified SNS message, or :class:`SignatureError` (401 unsigned, 403 otherwise)."""
    message = envelope(request.body)
    kind = message.get("Type")
    if kind not in SIGNED:
        # Raw message delivery sends the bare SES JSON: there is nothing to verify.
        raise SignatureError("not a signed SNS message (raw delivery is refused)", missing=True)
    signature, url = message.get("Signature"), message.get("SigningCertURL")
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if not isinstance(signature, str) or not isinstance(url, str) or not signature:
        raise SignatureError("missing SNS signature", missing=True)
    if algorithm is None:
        raise SignatureError("unsupported SNS SignatureVersion")
    if source.topic_arns and message.get("TopicArn") not in source.topic_arns:
        raise SignatureError("SNS topic not accepted by this source")
    try:
        sent_at = parse_time(message.get("Timestamp"), "Timestamp")
    except PayloadError:
        raise SignatureError("malformed SNS Timestamp") from None
    now, grace = ctx.now(), timedelta(seconds=source.max_age_seconds)
    if now - sent_at > RETRY_WINDOW + grace or sent_at - now > grace:
        raise SignatureError("stale or future SNS message")
    if not is_sns_url(url):
        raise SignatureError("SigningCertURL is not an HTTPS Amazon SNS URL")
    data = canonical(message)
    key = await _public_key(url, ctx)
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, data, padding.PKCS1v15(), algorithm())
    except (binascii.Error, ValueError, InvalidSignature):
        raise SignatureError("SNS signature does not match") from None
    remember_once(ctx, "sns", str(message.get("MessageId")), sent_at + RETRY_WINDOW + grace)
    return message


def control(message: dict[str, Any]) -> Control | None:
    """The subscription action an SNS control message asks for; None for notifications."""
    kind = CONTROL.get(str(message.get("Type")))
    if kind is None:
        return None
    url = message.get("SubscribeURL")
    if not isinstance(url, str) or not is_sns_url(url):
        raise PayloadError("SubscribeURL is not an HTTPS Amazon SNS URL")
    topic = message.get("TopicArn")
    return Control(kind=kind, url=url, topic_arn=topic if isinstance(topic, str) else "")
