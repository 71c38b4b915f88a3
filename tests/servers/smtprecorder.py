"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts.

Optional STARTTLS (``tls_context``), implicit TLS (``implicit_tls=True``), AUTH PLAIN/LOGIN
against ``auth={"user": "password"}``, and scripted refusals: ``fail_next(2, "451 4.3.0
try later")`` answers the next two DATA commands with that reply, then accepts again.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.servers.ports import free_port


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    authenticated_as: str | None
    tls: bool

    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpRecorder:
    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        auth: dict[str, str] | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self.auth = auth
        self.port = free_port()
        self._lock = threading.Lock()
        self._failures: deque[str] = deque()
        self.controller = _Controller(self, tls_context, implicit_tls)

    def fail_next(self, count: int, reply: str) -> None:
        with self._lock:
            self._failures.extend([reply] * count)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
            login = session.auth_data if session.authenticated else None
            self.messages.append(
                Received(
                    sender=str(envelope.mail_from),
                    recipients=[str(r) for r in envelope.rcpt_tos],
                    data=bytes(envelope.original_content or b""),
                    authenticated_as=None if login is None else str(login),
                    tls=_on_tls(server),
                )
            )
        return "250 2.0.0 OK queued"

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.auth is None:
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        ok = self.auth.get(user) == password
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    def start(self) -> SmtpRecorder:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _on_tls(server: SMTPServer) -> bool:
    """Whether this connection is encrypted now (after STARTTLS, or from the first byte)."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _Controller(Controller):
    def __init__(
        self, recorder: SmtpRecorder, tls_context: ssl.SSLContext | None, implicit_tls: bool
    ) -> None:
        self.recorder = recorder
        self.starttls_context = None if implicit_tls else tls_context
        super().__init__(
            recorder,
            hostname="127.0.0.1",
            port=recorder.port,
            ssl_context=tls_context if implicit_tls else None,
            ready_timeout=5.0,
        )

    def factory(self) -> SMTPServer:
        return SMTPServer(
            self.handler,
            hostname="smtp.recorder.test",
            tls_context=self.starttls_context,
            require_starttls=False,
            authenticator=self.recorder._authenticate if self.recorder.auth else None,
            auth_require_tls=True,
            auth_required=self.recorder.auth is not None,
        )
