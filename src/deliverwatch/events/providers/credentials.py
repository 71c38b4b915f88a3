"""Checks shared by the providers' ``verify()``: passwords, tokens, freshness, replays.

All comparisons of secrets are constant-time (:func:`hmac.compare_digest` on bytes), and no
message names a secret or the value that was sent: a 401/403 body says what was wrong, never
what was expected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from deliverwatch.events.providers.base import (
    SignatureError,
    SourceSettings,
    VerifyContext,
    WebhookRequest,
)


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time equality of two secrets (str is compared as its UTF-8 bytes)."""
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def hmac_digest(key: bytes, message: bytes, algorithm: str) -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def _authorization(request: WebhookRequest) -> tuple[str, str]:
    value = request.header("authorization")
    if not value or not value.strip():
        raise SignatureError("missing Authorization header", missing=True)
    scheme, _, credentials = value.strip().partition(" ")
    return scheme.lower(), credentials.strip()


def _basic_ok(credentials: str, source: SourceSettings) -> bool:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise SignatureError("malformed Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise SignatureError("malformed Basic credentials")
    # Both halves are always compared, so timing does not tell which one was wrong.
    user_ok = same(username, source.username or "")
    password_ok = same(password, source.password or "")
    return user_ok & password_ok


def check_authorization(request: WebhookRequest, source: SourceSettings) -> None:
    """Accept ``Authorization: Basic`` (username/password) or ``Bearer`` (token) as configured.

    Missing credentials answer 401; wrong ones, or a scheme the source has no secret for,
    403. A source with neither configured refuses everything (fail closed).
    """
    has_basic = bool(source.username and source.password)
    has_token = bool(source.token)
    if not (has_basic or has_token):
        raise SignatureError(f"source '{source.name}' has no credentials configured")
    scheme, credentials = _authorization(request)
    if scheme == "basic" and has_basic:
        if _basic_ok(credentials, source):
            return
        raise SignatureError("wrong username or password")
    if scheme == "bearer" and has_token:
        if same(credentials, source.token or ""):
            return
        raise SignatureError("wrong bearer token")
    raise SignatureError(f"Authorization scheme '{scheme[:16]}' is not accepted here")


def signed_time(value: str | None) -> datetime:
    """A Unix-seconds timestamp from a signature header or field; 403 when malformed."""
    text = (value or "").strip()
    if not text.isdigit() or not text.isascii() or len(text) > 11:
        raise SignatureError("malformed signature timestamp")
    return datetime.fromtimestamp(int(text), UTC)


def check_fresh(signed_at: datetime, source: SourceSettings, ctx: VerifyContext) -> datetime:
    """Refuse a signed timestamp more than ``max_age_seconds`` away from now (either side).

    Returns when a token signed at that time expires, for :func:`remember_once`.
    """
    window = timedelta(seconds=source.max_age_seconds)
    if abs(ctx.now() - signed_at) > window:
        raise SignatureError("stale or future timestamp")
    return signed_at + window


def remember_once(ctx: VerifyContext, provider: str, token: str, expires: datetime) -> None:
    """Refuse a token (nonce, message id, signature) that was accepted before: a replay."""
    key = f"{provider}:{hashlib.sha256(token.encode()).hexdigest()}"
    if not ctx.remember_token(key, expires):
        raise SignatureError("replayed request")
