"""Email through an SMTP submission server (aiosmtplib): STARTTLS or implicit TLS, AUTH, and
a ``multipart/alternative`` message with a text and an HTML part.

SMTP replies say themselves whether to retry (RFC 5321 §4.2.1): 4yz is transient, 5yz
permanent. Connection failures and timeouts are transient.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib

from deliverwatch.notify import render
from deliverwatch.notify.channels.base import PermanentError, TemporaryError
from deliverwatch.notify.channels.context import ChannelContext
from deliverwatch.notify.config import EmailChannelConfig
from deliverwatch.notify.model import Notification

SUBJECT_MAX = 200


def render_email(n: Notification, *, sender: str, to: list[str], prefix: str) -> EmailMessage:
    """The message for ``n``: subject from the headline, text and HTML alternatives."""
    message = EmailMessage()
    subject = f"{prefix} {render.headline(n)}".strip()
    message["Subject"] = render.truncate(" ".join(subject.split()), SUBJECT_MAX)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(n.created_at)
    domain = sender.rpartition("@")[2] or "deliverwatch.invalid"
    message["Message-ID"] = make_msgid("deliverwatch", domain=domain)
    message["X-Deliverwatch-Notification"] = n.id
    message["X-Deliverwatch-Fingerprint"] = n.fingerprint
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(render.plain_text(n))
    message.add_alternative(render.html(n), subtype="html")
    return message


class EmailChannel:
    def __init__(self, config: EmailChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config
        self._context = context

    async def send(self, notification: Notification) -> None:
        c = self._config
        message = render_email(notification, sender=c.from_, to=list(c.to), prefix=c.subject_prefix)
        tls_context = ssl.create_default_context(cafile=c.ca_bundle) if c.ca_bundle else None
        try:
            await aiosmtplib.send(
                message,
                hostname=c.host,
                port=c.effective_port,
                username=c.username,
                password=c.password.get_secret_value() if c.password else None,
                use_tls=c.tls,
                start_tls=c.starttls if not c.tls else False,
                timeout=c.timeout,
                tls_context=tls_context,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if all(500 <= code < 600 for code in codes):
                raise PermanentError(f"all recipients refused: {text}") from None
            raise TemporaryError(f"recipients refused: {text}") from None
        except aiosmtplib.SMTPResponseException as exc:
            text = f"SMTP {exc.code} {exc.message}".strip()
            if 500 <= exc.code < 600:
                raise PermanentError(text) from None
            raise TemporaryError(text) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # connect errors, timeouts, TLS failures, a server that went away
            raise TemporaryError(f"{exc.__class__.__name__}: {exc}") from None
