"""The test message: a real ``.eml`` or a template, marked with a unique token, DKIM-signed.

The token goes in a header (:data:`TOKEN_HEADER`) *and* in every text part of the body: some
receivers and forwarding hops rewrite or drop unknown headers, the body survives. The finder
searches for either.

Use::

    token = new_token()
    base = build_message(path.read_bytes(), name=path.name, sender=..., subject=..., token=token)
    raw = for_recipient(base, "seed1@gmail.com", domain="example.com", dkim=config.dkim)
"""

from __future__ import annotations

import copy
import email.utils
import secrets
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from deliverwatch.placement.config import DkimSettings

TOKEN_HEADER = "X-Deliverwatch-Test"  # noqa: S105  (a test marker, not a secret)
TOKEN_PREFIX = "dwpt-"  # noqa: S105
DEFAULT_TEXT = (
    "This is a deliverwatch inbox placement test.\n\n"
    "It checks where mail from this sender lands at each mailbox provider and is deleted\n"
    "automatically once found.\n"
)


class MessageError(Exception):
    """The message file cannot be used (unreadable, not a message, no body)."""


def new_token() -> str:
    """A token no real message contains: 24 hex digits after a fixed prefix."""
    return TOKEN_PREFIX + secrets.token_hex(12)


def _parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def looks_like_message(data: bytes) -> bool:
    head = data.lstrip()[:2000].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = [line for line in head.splitlines() if line and not line[:1].isspace()]
    return bool(lines) and all(b":" in line and b" " not in line.split(b":")[0] for line in lines)


def build_message(
    data: bytes | None,
    *,
    name: str = "",
    sender: str,
    subject: str,
    token: str,
) -> EmailMessage:
    """The message to send, without recipient-specific headers (see :func:`for_recipient`).

    ``data`` is an ``.eml`` (its From is replaced by ``sender`` so the test exercises the
    configured domain's authentication; its Subject is kept), an HTML template
    (``.html``/``.htm``), a text template, or None for a short built-in text.
    """
    if data is None:
        message = EmailMessage()
        message.set_content(DEFAULT_TEXT)
        message["Subject"] = subject
    elif name.lower().endswith(".eml") or (
        not name.lower().endswith((".html", ".htm", ".txt")) and looks_like_message(data)
    ):
        message = _parse(data)
        if message.get_body(("plain", "html")) is None:
            raise MessageError(f"{name or 'message'}: no text or HTML body to mark")
        if "Subject" not in message:
            message["Subject"] = subject
    else:
        text = data.decode("utf-8", "replace")
        message = EmailMessage()
        if name.lower().endswith((".html", ".htm")) or "<html" in text[:1000].lower():
            message.set_content(text, subtype="html")
        else:
            message.set_content(text)
        message["Subject"] = subject
    for header in ("From", "Sender", "To", "Cc", "Bcc", "Message-ID", "Date", TOKEN_HEADER):
        del message[header]
    for header in ("DKIM-Signature", "Authentication-Results", "Received", "Return-Path"):
        del message[header]
    message["From"] = sender
    message[TOKEN_HEADER] = token
    _mark_body(message, token)
    return message


def _mark_body(message: EmailMessage, token: str) -> None:
    """Append the token to every inline text part (not attachments)."""
    parts = [message] if not message.is_multipart() else list(message.walk())
    marked = 0
    for part in parts:
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        assert isinstance(part, EmailMessage)
        subtype = part.get_content_subtype()
        if subtype not in ("plain", "html"):
            continue
        content = part.get_content()
        if subtype == "html":
            marker = f'<div style="display:none">placement test {token}</div>'
            at = content.lower().rfind("</body>")
            content = content[:at] + marker + content[at:] if at >= 0 else content + marker
        else:
            content = content.rstrip("\n") + f"\n\n--\nplacement test {token}\n"
        part.set_content(content, subtype=subtype, charset="utf-8")
        marked += 1
    if not marked:
        raise MessageError("the message has no text or HTML part to carry the test token")


def for_recipient(
    base: EmailMessage,
    recipient: str,
    *,
    domain: str,
    dkim: DkimSettings | None = None,
    now: float | None = None,
) -> bytes:
    """The bytes sent to one seed: its own To, Date and Message-ID, signed when configured."""
    message = copy.deepcopy(base)
    message["To"] = recipient
    message["Date"] = email.utils.formatdate(now, localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    raw = message.as_bytes(policy=policy.SMTP)
    if dkim is not None:
        raw = sign(raw, dkim)
    return raw


def sign(raw: bytes, settings: DkimSettings) -> bytes:
    """``raw`` with a DKIM-Signature prepended: relaxed/relaxed, rsa-sha256 for a PEM key,
    ed25519-sha256 for a raw base64 one (RFC 8463)."""
    import dkim

    assert settings.private_key is not None
    key = settings.private_key.encode()
    headers = [h.encode() for h in settings.headers]
    try:
        signature = dkim.sign(
            raw,
            settings.selector.encode(),
            settings.domain.encode(),
            key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers,
            signature_algorithm=b"rsa-sha256" if b"-----BEGIN" in key else b"ed25519-sha256",
        )
    except dkim.DKIMException as exc:
        raise MessageError(f"dkim: cannot sign: {exc}") from None
    return bytes(signature) + raw
