"""An SMTP receiver (aiosmtpd) that behaves like a mailbox provider in front of Dovecot.

Each accepted message gets the receiver's own headers — ``Received``, ``Authentication-Results``
(DKIM checked with dkimpy against keys the test hands in, as a provider would look them up in
DNS) and SpamAssassin-style ``X-Spam-Flag``/``X-Spam-Status``/``X-Spam-Score`` — and is filed
into the recipient's INBOX or junk folder by a verdict, written straight into the Dovecot
Maildir (:meth:`tests.servers.dovecot.DovecotServer.deliver`).

The verdict is :func:`rule_verdict` unless the test passes another: a small rule of our own
(spam words and SpamAssassin's GTUBE test string, 5 points or more is spam), because it is
instant and deterministic, which a benchmark of 50 seeds needs. :func:`spamd_verdict` asks a real
SpamAssassin spamd instead (the placement tests use it once, where spamd is installed).

Misbehaviour a test can ask for:

* ``reject={"seed@x": "5.1.1 mailbox unavailable"}`` — ``RCPT TO`` answered ``550``;
* ``lost={"seed@x"}`` — accepted (250) and then never delivered anywhere;
* ``delays={"seed@x": 2.0}`` — delivered that many seconds after acceptance
  (``arrivals`` records when each user's copy was filed, for benchmarks);
* ``junk_folders={"seed@x": "Bulk"}`` — spam filed in another folder (found by name only).

``auth={"user": "password"}`` requires SMTP AUTH; ``tls_context`` offers STARTTLS.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import ssl
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import dkim
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.servers.dovecot import DovecotServer
from tests.servers.ports import free_port

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
SPAM_WORDS = {
    "viagra": 3.0,
    "winner": 2.0,
    "free money": 3.0,
    "act now": 2.0,
    "100% free": 2.5,
    "click here": 1.0,
    "!!!": 1.5,
    "$$$": 2.0,
}
THRESHOLD = 5.0


@dataclass(frozen=True)
class Verdict:
    spam: bool
    score: float
    tests: list[str] = field(default_factory=list)


VerdictFunction = Callable[[bytes], Awaitable[Verdict]]


async def rule_verdict(raw: bytes) -> Verdict:
    """Our own rule: points per spam word (once each), GTUBE is 1000; 5 or more is spam."""
    text = raw.decode("utf-8", "replace").lower()
    tests, score = [], 0.0
    if GTUBE.lower() in text:
        tests.append("GTUBE")
        score += 1000
    for word, points in SPAM_WORDS.items():
        if word in text:
            tests.append("WORD_" + re.sub(r"\W+", "_", word).strip("_").upper())
            score += points
    return Verdict(score >= THRESHOLD, score, tests)


def spamd_verdict(host: str, port: int) -> VerdictFunction:
    """A verdict from a real spamd (``CHECK``/``REPORT`` over its protocol)."""
    from deliverwatch.content.external import SpamdClient

    client = SpamdClient(host, port, timeout=60)

    async def verdict(raw: bytes) -> Verdict:
        report = await client.report(raw)
        return Verdict(report.spam, report.score, [s.name for s in report.symbols])

    return verdict


@dataclass
class Delivery:
    recipient: str
    folder: str | None  # None: lost
    verdict: Verdict
    message: bytes


class SeedBed:
    """Start with :meth:`start` (or ``with``); ``port`` takes SMTP on 127.0.0.1."""

    def __init__(
        self,
        dovecot: DovecotServer,
        *,
        verdict: VerdictFunction = rule_verdict,
        reject: dict[str, str] | None = None,
        lost: set[str] | None = None,
        delays: dict[str, float] | None = None,
        junk_folders: dict[str, str] | None = None,
        dkim_keys: dict[tuple[str, str], bytes] | None = None,
        auth: dict[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        authserv_id: str = "mx.seedbed.test",
    ) -> None:
        self.dovecot = dovecot
        self.verdict = verdict
        self.reject = {k.lower(): v for k, v in (reject or {}).items()}
        self.lost = {a.lower() for a in lost or set()}
        self.delays = {k.lower(): v for k, v in (delays or {}).items()}
        self.junk_folders = {k.lower(): v for k, v in (junk_folders or {}).items()}
        self.dkim_keys = dict(dkim_keys or {})
        self.auth = auth
        self.authserv_id = authserv_id
        self.deliveries: list[Delivery] = []
        self.arrivals: dict[str, float] = {}  # user -> time.monotonic() it was filed
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = _Controller(self, tls_context)

    def start(self) -> SeedBed:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SeedBed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the provider's behaviour ----------------------------------------------------------------

    def _user(self, address: str) -> str | None:
        return next((u for u in self.dovecot.users if u.lower() == address.lower()), None)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        key = address.lower()
        if key in self.reject:
            return f"550 {self.reject[key]}"
        if key not in self.lost and self._user(address) is None:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        verdict = await self.verdict(raw)
        stamped = self._stamp(raw, session, envelope, verdict)
        loop = asyncio.get_running_loop()
        for recipient in envelope.rcpt_tos:
            key = recipient.lower()
            user = self._user(recipient)
            folder = None
            if key not in self.lost and user is not None:
                folder = self.junk_folders.get(key, "Junk") if verdict.spam else "INBOX"
            with self.lock:
                self.deliveries.append(Delivery(recipient, folder, verdict, stamped))
            if folder is None or user is None:
                continue
            delay = self.delays.get(key, 0.0)
            if delay > 0:
                loop.call_later(delay, self._deliver, user, stamped, folder)
            else:
                self._deliver(user, stamped, folder)
        return "250 2.0.0 queued"

    def _deliver(self, user: str, message: bytes, folder: str) -> None:
        self.dovecot.deliver(user, message, folder=folder)
        with self.lock:
            self.arrivals[user] = time.monotonic()

    def _stamp(self, raw: bytes, session: Session, envelope: Envelope, verdict: Verdict) -> bytes:
        header_from = email.utils.parseaddr(_header(raw, "From") or "")[1]
        from_domain = header_from.rsplit("@", 1)[-1].lower()
        dkim_result, signing_domain = self._dkim(raw)
        dmarc = "pass" if dkim_result == "pass" and signing_domain == from_domain else "fail"
        results = (
            f"{self.authserv_id}; dkim={dkim_result}"
            + (f" header.d={signing_domain}" if signing_domain else "")
            + f"; spf=none (not checked by the test bed) smtp.mailfrom={envelope.mail_from}"
            + f"; dmarc={dmarc} header.from={from_domain}"
        )
        status = "Yes" if verdict.spam else "No"
        tests = ",".join(verdict.tests) or "none"
        lines = [
            f"Received: from {session.host_name or 'unknown'} (127.0.0.1) by {self.authserv_id}"
            f" with ESMTP; {email.utils.formatdate()}",
            f"Authentication-Results: {results}",
            f"X-Spam-Flag: {'YES' if verdict.spam else 'NO'}",
            f"X-Spam-Score: {verdict.score:.1f}",
            f"X-Spam-Status: {status}, score={verdict.score:.1f} required={THRESHOLD:.1f}"
            f" tests={tests}",
        ]
        return ("\r\n".join(lines) + "\r\n").encode() + raw

    def _dkim(self, raw: bytes) -> tuple[str, str | None]:
        if b"dkim-signature:" not in raw[:20000].lower():
            return "none", None
        match = re.search(rb"(?im)^dkim-signature:.*?\bd=([^;\s]+)", raw)
        domain = match.group(1).decode().lower() if match else None

        def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
            parts = name.decode().rstrip(".").split("._domainkey.")
            if len(parts) != 2:
                return None
            return self.dkim_keys.get((parts[0], parts[1].lower()))

        try:
            ok = dkim.verify(raw, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False
        return ("pass" if ok else "fail"), domain


def _header(raw: bytes, name: str) -> str | None:
    match = re.search(rb"(?im)^" + name.encode() + rb":[ \t]*(.*(?:\r?\n[ \t].*)*)", raw)
    return match.group(1).decode("utf-8", "replace").strip() if match else None


class _Controller(Controller):
    def __init__(self, bed: SeedBed, tls_context: ssl.SSLContext | None) -> None:
        self.bed = bed
        self.tls = tls_context
        super().__init__(bed, hostname="127.0.0.1", port=bed.port, ready_timeout=10)

    def factory(self) -> SMTPServer:
        bed = self.bed
        authenticator = None
        if bed.auth is not None:
            users = bed.auth

            def authenticator(
                server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
            ) -> AuthResult:
                if isinstance(data, LoginPassword):
                    login, password = data.login.decode(), data.password.decode()
                    if users.get(login) == password:
                        return AuthResult(success=True)
                return AuthResult(success=False, handled=False)

        with warnings.catch_warnings():
            # AUTH over plain text is what a lab relay on loopback does; aiosmtpd warns about it
            warnings.simplefilter("ignore", UserWarning)
            return SMTPServer(
                bed,
                hostname=bed.authserv_id,
                tls_context=self.tls,
                require_starttls=self.tls is not None,
                authenticator=authenticator,
                auth_required=bed.auth is not None,
                auth_require_tls=self.tls is not None,
            )
