"""Test helpers: fixture requests, a moved clock, and signers that play each ESP's part.

Every signer signs with keys generated here (an ECDSA P-256 key for SendGrid, an RSA key and
a self-signed certificate for SNS, HMAC secrets for the rest), so verification is exercised
end to end without any network: SNS certificates are served by an in-memory ``fetch``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from deliverwatch.events.providers.base import SourceSettings, VerifyContext, WebhookRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
NOW = datetime(2024, 6, 10, 6, 15, tzinfo=UTC)
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


# --- fixtures -------------------------------------------------------------------------


def fixture_names(provider: str) -> list[str]:
    return sorted(p.name for p in (FIXTURES / provider).iterdir() if p.name != "expected.json")


def expected(provider: str) -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(
        (FIXTURES / provider / "expected.json").read_text()
    )
    return data


def fixture_bytes(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def sns_notification(
    message: dict[str, Any], message_id: str = "m-1", **extra: Any
) -> dict[str, Any]:
    """An (unsigned) SNS Notification envelope around an SES event."""
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(message),
        "Timestamp": "2024-06-10T06:14:00.000Z",
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&x=1",
        **extra,
    }


def mandrill_form(events_json: str) -> bytes:
    return urlencode({"mandrill_events": events_json}).encode()


def body_for(provider: str, raw: bytes, name: str = "") -> tuple[bytes, str]:
    """How the ESP would post a fixture: (body, content type)."""
    if provider == "mandrill":
        return mandrill_form(raw.decode()), "application/x-www-form-urlencoded"
    if provider == "ses" and not name.startswith("sns-"):
        return json.dumps(sns_notification(json.loads(raw))).encode(), "text/plain"
    if name.endswith(".csv"):
        return raw, "text/csv"
    return raw, "application/json"


def fixture_request(provider: str, name: str) -> WebhookRequest:
    body, content_type = body_for(provider, fixture_bytes(provider, name), name)
    return WebhookRequest(body=body, headers={"svix-id": "msg_fixture"}, content_type=content_type)


def plain_source(provider: str, **settings: Any) -> SourceSettings:
    return SourceSettings(name=f"{provider}-test", provider=provider, **settings)


# --- context --------------------------------------------------------------------------


@dataclass
class TokenStore:
    """``ctx.remember_token`` backed by a dict, recording the expiries it was given."""

    seen: dict[str, datetime] = field(default_factory=dict)

    def remember(self, token: str, expires: datetime) -> bool:
        if token in self.seen:
            return False
        self.seen[token] = expires
        return True


def context(
    now: datetime = NOW,
    fetch: Callable[[str], Any] | None = None,
    tokens: TokenStore | None = None,
) -> VerifyContext:
    store = tokens or TokenStore()
    return VerifyContext(now=lambda: now, remember_token=store.remember, fetch=fetch)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# --- signers: one per signing scheme --------------------------------------------------


class Signer:
    """Plays an ESP: builds the sample request signed at a time, with a key, once per nonce."""

    provider: str
    timestamped = True  # stale and future requests are refused
    replay_checked = True  # an identical request is refused the second time
    signs_body = True  # the signature covers the body (Mailgun's covers timestamp+token only)
    signature_scheme = True  # False: credentials only (Basic/bearer), the body is not signed

    def source(self) -> SourceSettings:
        raise NotImplementedError

    def signed(
        self, at: datetime = NOW, *, wrong_key: bool = False, nonce: str = "1"
    ) -> WebhookRequest:
        raise NotImplementedError

    def unsigned(self) -> WebhookRequest:
        request = self.signed()
        drop = {"authorization", "x-twilio-email-event-webhook-signature", "x-mandrill-signature"}
        drop |= {"svix-signature"}
        return replace(request, headers={k: v for k, v in request.headers.items() if k not in drop})


def forge(request: WebhookRequest) -> WebhookRequest:
    """The same request with its recipient changed after signing."""
    body = request.body.replace(b"ana@gmail.com", b"eve@gmail.com")
    body = body.replace(b"ana%40gmail.com", b"eve%40gmail.com")
    assert body != request.body
    return replace(request, body=body)


@cache
def ecdsa_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_der_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


class SendGridSigner(Signer):
    provider = "sendgrid"

    def source(self) -> SourceSettings:
        return plain_source("sendgrid", public_key=public_der_b64(ecdsa_key()))

    def signed(
        self, at: datetime = NOW, *, wrong_key: bool = False, nonce: str = "1"
    ) -> WebhookRequest:
        body = fixture_bytes("sendgrid", "batch.json").replace(
            b"welcome", f"welcome{nonce}".encode()
        )
        key = ec.generate_private_key(ec.SECP256R1()) if wrong_key else ecdsa_key()
        stamp = str(int(at.timestamp()))
        signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
            "x-twilio-email-event-webhook-timestamp": stamp,
        }
        return WebhookRequest(body=body, headers=headers, content_type="application/json")


class MailgunSigner(Signer):
    provider = "mailgun"
    signs_body = False
    key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

    def source(self) -> SourceSettings:
        return plain_source("mailgun", secret=self.key)

    def signed(
        self, at: datetime = NOW, *, wrong_key: bool = False, nonce: str = "1"
    ) -> WebhookRequest:
        payload = json.loads(fixture_bytes("mailgun", "delivered.json"))
        stamp, token = str(int(at.timestamp())), f"token-{nonce}-" + "a" * 40
        key = "key-wrong" if wrong_key else self.key
        digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
        payload["signature"] = {"timestamp": stamp, "token": token, "signature": digest}
        return WebhookRequest(body=json.dumps(payload).encode(), headers={})

    def unsigned(self) -> WebhookRequest:
        payload = json.loads(self.signed().body)
        del payload["signature"]
        return WebhookRequest(body=json.dumps(payload).encode(), headers={})


class MandrillSigner(Signer):
    provider = "mandrill"
    timestamped = False
    key = "Ri7GvXz6c2h7gX0wPy8J0w"
    url = "https://hooks.example.com/mandrill?source=main"

    def source(self) -> SourceSettings:
        return plain_source("mandrill", secret=self.key, url=self.url)

    def signed(
        self, at: datetime = NOW, *, wrong_key: bool = False, nonce: str = "1"
    ) -> WebhookRequest:
        events = (
            fixture_bytes("mandrill", "events.json").decode().replace("newsletter", f"n{nonce}")
        )
        key = "wrong" if wrong_key else self.key
        signed = self.url + "mandrill_events" + events
        digest = hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()
        headers = {"x-mandrill-signature": base64.b64encode(digest).decode()}
        return WebhookRequest(
            body=("mandrill_events=" + quote(events, safe="")).encode(),
            headers=headers,
            url="https://internal:8080/hooks/mandrill",
            content_type="application/x-www-form-urlencoded",
        )


class SvixSigner(Signer):
    provider = "resend"
    secret = "whsec_" + base64.b64encode(b"resend-test-signing-key-32-bytes!").decode()

    def source(self) -> SourceSettings:
        return plain_source("resend", secret=self.secret)

    def signed(
        self, at: datetime = NOW, *, wrong_key: bool = False, nonce: str = "1"
    ) -> WebhookRequest:
        body = fixture_bytes("resend", "delivered.json")
        msg_id, stamp = f"msg_2KWPBgLlAfxdpx2AI54pPJ85f4{nonce}", str(int(at.timestamp()))
        key = b"another key" if wrong_key else base64.b64decode(self.secret[6:])
        digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        signatures = f"v1,{base64.b64encode(b'rotated-out-key-signature').decode()} "
        signatures += f"v1,{base64.b64encode(digest).decode()}"
        headers = {"svix-id": msg_id, "svix-timestamp": stamp, "svix-signature": signatures}
        return WebhookRequest(body=body, headers=headers, content_type="application/json")


class BasicAuthSigner(Signer):
    """Postmark, SparkPost, Mailjet, Brevo, generic: credentials, no signature."""

    timestamped = False
    replay_checked = False
    signs_body = False
    signature_scheme = False
    samples: ClassVar[dict[str, str]] = {
        "postmark": "delivery.json",
        "sparkpost": "batch.json",
        "mailjet": "grouped.json",
        "brevo": "delivered.json",
        "generic": "events.jsonl",
    }

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def source(self) -> SourceSettings:
        return plain_source(self.provider, username="hook", password="s3cret-Pa55", token="tok-123")

    def signed(
        self, at: datetime = NOW, *, wrong_key: bool = False, nonce: str = "1"
    ) -> WebhookRequest:
        body = fixture_bytes(self.provider, self.samples[self.provider])
        auth = basic("hook", "wrong-password" if wrong_key else "s3cret-Pa55")
        return WebhookRequest(body=body, headers={"authorization": auth})


@cache
def sns_identity() -> tuple[rsa.RSAPrivateKey, bytes]:
    """An RSA key and a self-signed certificate standing in for Amazon SNS's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


def sns_sign(
    message: dict[str, Any], version: str = "1", key: rsa.RSAPrivateKey | None = None
) -> dict[str, Any]:
    """``message`` with SignatureVersion and Signature set as SNS would."""
    from deliverwatch.events.providers.sns import canonical

    message = dict(message, SignatureVersion=version)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signer = key or sns_identity()[0]
    signature = signer.sign(canonical(message), padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode()
    return message


@dataclass
class CertificateServer:
    """``ctx.fetch`` serving the SNS test certificate from a dict, counting fetches."""

    documents: dict[str, bytes] = field(default_factory=lambda: {CERT_URL: sns_identity()[1]})
    fetched: list[str] = field(default_factory=list)

    async def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        if url not in self.documents:
            raise OSError(f"404 for {url}")
        return self.documents[url]


class SNSSigner(Signer):
    provider = "ses"

    def source(self) -> SourceSettings:
        return plain_source("ses", topic_arns=(TOPIC,))

    def signed(
        self, at: datetime = NOW, *, wrong_key: bool = False, nonce: str = "1"
    ) -> WebhookRequest:
        inner = json.loads(fixture_bytes("ses", "delivery.json"))
        stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        message = sns_notification(inner, message_id=f"msg-{nonce}", Timestamp=stamp)
        other = (
            rsa.generate_private_key(public_exponent=65537, key_size=1024) if wrong_key else None
        )
        body = json.dumps(sns_sign(message, key=other)).encode()
        return WebhookRequest(body=body, headers={"x-amz-sns-message-type": "Notification"})

    def unsigned(self) -> WebhookRequest:
        message = json.loads(self.signed().body)
        del message["Signature"]
        return WebhookRequest(body=json.dumps(message).encode(), headers={})


SIGNERS: list[Signer] = [
    SendGridSigner(),
    MailgunSigner(),
    MandrillSigner(),
    SvixSigner(),
    SNSSigner(),
    *(BasicAuthSigner(p) for p in BasicAuthSigner.samples),
]
