"""Sending the test message to every seed through the configured relay (aiosmtplib).

One connection, one transaction per seed: each copy carries its own ``To`` (a campaign's
copies do, and some filters score a ``To`` that is not the recipient), and a refusal then
belongs to exactly one seed. A refusal (``RCPT`` or ``DATA`` answered 4xx/5xx) is a result,
``rejected`` with the reply code and text; a failure of the connection itself (refused,
TLS, authentication, timeout) is an ``error`` for every seed not yet sent.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib

from deliverwatch.placement.config import SmtpSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendOutcome:
    address: str
    accepted: bool
    code: int | None = None
    message: str | None = None
    error: str | None = None
    sent_at: float | None = None  # time.monotonic() when the relay accepted it


def tls_context(verify: bool, ca_bundle: str | None) -> ssl.SSLContext:
    """A client context: system CAs (or ``ca_bundle``) and host names checked unless
    ``verify`` is off (a lab relay with a self-signed certificate)."""
    context = ssl.create_default_context(cafile=ca_bundle)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reply(code: int | None, text: str | None) -> str:
    return " ".join(str(text or "").split())[:500]


async def send_to_seeds(
    smtp: SmtpSettings,
    envelope_from: str,
    messages: Sequence[tuple[str, bytes]],
    *,
    ca_bundle: str | None = None,
) -> dict[str, SendOutcome]:
    """Send each ``(recipient, raw)``; an outcome for every recipient, never an exception
    for SMTP trouble. ``smtp.timeout`` bounds each network step; the caller bounds the whole."""
    outcomes: dict[str, SendOutcome] = {}
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        use_tls=smtp.tls,
        start_tls=smtp.starttls if not smtp.tls else False,
        tls_context=tls_context(smtp.verify_tls, ca_bundle)
        if (smtp.tls or smtp.starttls)
        else None,
        validate_certs=smtp.verify_tls,
        timeout=smtp.timeout,
        local_hostname=smtp.local_hostname,
    )
    try:
        await client.connect()
        if smtp.username:
            await client.login(smtp.username, smtp.password or "")
    except (aiosmtplib.SMTPException, OSError) as exc:
        if client.is_connected:
            client.close()
        reason = _connection_error(smtp, exc)
        log.warning("placement: %s", reason)
        return {addr: SendOutcome(addr, False, error=reason) for addr, _ in messages}
    try:
        for address, raw in messages:
            outcomes[address] = await _send_one(client, envelope_from, address, raw)
            if outcomes[address].error and not client.is_connected:
                reason = outcomes[address].error or "smtp: connection lost"
                for rest, _ in messages:
                    outcomes.setdefault(rest, SendOutcome(rest, False, error=reason))
                break
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    return outcomes


async def _send_one(
    client: aiosmtplib.SMTP, envelope_from: str, address: str, raw: bytes
) -> SendOutcome:
    try:
        errors, _ = await client.sendmail(envelope_from, [address], raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients[0] if exc.recipients else None
        code = refused.code if refused else None
        text = refused.message if refused else str(exc)
        return SendOutcome(address, False, code=code, message=_reply(code, text))
    except aiosmtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused
        return SendOutcome(address, False, code=exc.code, message=_reply(exc.code, exc.message))
    except (aiosmtplib.SMTPException, OSError) as exc:
        return SendOutcome(address, False, error=f"smtp: {exc}")
    if address in errors:
        response = errors[address]
        return SendOutcome(
            address, False, code=response.code, message=_reply(response.code, response.message)
        )
    return SendOutcome(address, True, code=250, sent_at=time.monotonic())


def _connection_error(smtp: SmtpSettings, exc: BaseException) -> str:
    where = f"smtp {smtp.host}:{smtp.port}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return f"{where}: authentication failed ({exc.code} {_reply(exc.code, exc.message)})"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{where}: {exc.code} {_reply(exc.code, exc.message)}"
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS failed: {exc.reason or exc}"
    text = str(exc) or type(exc).__name__
    return f"{where}: {text}"
