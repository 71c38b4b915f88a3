"""Finding the test message in a seed mailbox over IMAP, and cleaning it up.

Why stdlib ``imaplib`` in threads rather than an async IMAP client: imaplib is complete
(literals, STARTTLS, every response form) and maintained with Python, and a seed check is a
short conversation that spends its life waiting on the network, so a thread per seed costs
little. What threads cannot do — be cancelled — is handled by :meth:`SeedCheck.abort`, which
shuts the socket down from the event loop's side: a blocked read returns at once, so a run
never outlives its deadline waiting on a slow server.

Each check logs in and lists the folders while the message is still being sent, then polls:
``SELECT`` each folder (INBOX first, then junk) and ``UID SEARCH`` for the token in the
header or the body, every ``poll_interval`` seconds until found, the deadline, or
:meth:`abort`. Polling, not IDLE: IDLE watches one folder per connection and the message may
land in either, and a poll every few seconds costs the server nothing.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from deliverwatch.placement.config import ImapSettings, SeedConfig
from deliverwatch.placement.folders import (
    GMAIL_CATEGORIES,
    FolderKind,
    folders_to_search,
    gmail_tab,
    parse_gm_labels,
    parse_list_line,
    quoted,
)
from deliverwatch.placement.message import TOKEN_HEADER
from deliverwatch.placement.send import tls_context

log = logging.getLogger(__name__)
#: The longest any one IMAP exchange may take before the seed is an error.
STEP_TIMEOUT = 30.0


class ImapError(Exception):
    """The mailbox could not be checked; the message is safe to show (no secrets)."""


@dataclass
class Found:
    folder: str
    kind: FolderKind
    headers: list[tuple[str, str]]
    found_at: float  # time.monotonic()
    tab: str | None = None
    uids: list[bytes] = field(default_factory=list)  # every copy found (a relay may resend)


@dataclass
class CheckOutcome:
    found: Found | None = None
    error: str | None = None
    logged_in: bool = False
    cleanup_error: str | None = None
    folders: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Cleanup:
    mode: str = "delete"  # delete | move | keep
    folder: str = "Trash"


class SeedCheck:
    """One seed's search, run in a worker thread by :meth:`run`."""

    def __init__(
        self,
        seed: SeedConfig,
        token: str,
        *,
        deadline: float,
        poll_interval: float,
        cleanup: Cleanup,
        ca_bundle: str | None = None,
    ) -> None:
        self.seed = seed
        self.token = token
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.cleanup = cleanup
        self.ca_bundle = ca_bundle
        self.sent = threading.Event()  # set when sending is over (accepted or not)
        self.skip = False  # the message was not accepted for this seed: do not search
        self.stopping = threading.Event()
        self.started = False  # a worker thread took it (with fewer workers than seeds, later)
        self._imap: imaplib.IMAP4 | None = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        imap = self.seed.imap
        return f"imap {imap.host}:{imap.effective_port}"

    def abort(self) -> None:
        """Stop the check now, from any thread: wake its waits and break its socket."""
        self.stopping.set()
        self.sent.set()
        with self._lock:
            imap = self._imap
        if imap is not None:
            with contextlib.suppress(OSError, AttributeError):
                imap.sock.shutdown(socket.SHUT_RDWR)

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def run(self) -> CheckOutcome:
        self.started = True
        outcome = CheckOutcome()
        try:
            imap = self._connect()
            outcome.logged_in = True
            capabilities = self._capabilities(imap)
            folders = self._folders(imap)
            outcome.folders = [name for name, _ in folders]
            self.sent.wait(max(0.0, self._remaining()))
            if self.skip or self.stopping.is_set():
                return outcome
            outcome.found = self._poll(imap, folders, capabilities)
            if outcome.found is not None and self.cleanup.mode != "keep":
                try:
                    self._clean(imap, outcome.found, capabilities)
                except (imaplib.IMAP4.error, OSError) as exc:
                    outcome.cleanup_error = f"{self.where}: cleanup failed: {_text(exc)}"
        except ImapError as exc:
            if not self.stopping.is_set():  # else: cut short at the deadline, said by the run
                outcome.error = str(exc)
        except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
            if self.stopping.is_set():
                return outcome  # aborted at the deadline: not an error of the mailbox
            outcome.error = f"{self.where}: {_text(exc)}"
        finally:
            self._logout()
        return outcome

    # -- steps ---------------------------------------------------------------------------------

    def _connect(self) -> imaplib.IMAP4:
        settings: ImapSettings = self.seed.imap
        port = settings.effective_port
        step = max(0.1, min(STEP_TIMEOUT, self._remaining()))
        context = None
        if settings.tls or settings.starttls:
            context = tls_context(settings.verify_tls, self.ca_bundle)
        try:
            imap: imaplib.IMAP4
            if settings.tls:
                imap = imaplib.IMAP4_SSL(settings.host, port, ssl_context=context, timeout=step)
            else:
                imap = imaplib.IMAP4(settings.host, port, timeout=step)
        except ssl.SSLCertVerificationError as exc:
            raise ImapError(
                f"{self.where}: TLS certificate not trusted: {exc.verify_message}"
            ) from None
        except TimeoutError:
            raise ImapError(f"{self.where}: no answer before the timeout") from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"{self.where}: cannot connect: {_text(exc)}") from None
        with self._lock:
            self._imap = imap
        if self.stopping.is_set():
            raise ImapError(f"{self.where}: stopped")
        if settings.starttls and not settings.tls:
            try:
                imap.starttls(context)
            except ssl.SSLCertVerificationError as exc:
                raise ImapError(
                    f"{self.where}: TLS certificate not trusted: {exc.verify_message}"
                ) from None
            except (imaplib.IMAP4.error, OSError) as exc:
                raise ImapError(f"{self.where}: STARTTLS failed: {_text(exc)}") from None
        try:
            imap.login(settings.username, settings.password or "")
        except imaplib.IMAP4.error as exc:
            raise ImapError(
                f"{self.where}: login as {settings.username} failed: {_text(exc)}"
            ) from None
        return imap

    def _capabilities(self, imap: imaplib.IMAP4) -> set[str]:
        """Capabilities after login (servers announce more once authenticated)."""
        typ, data = imap.capability()
        if typ != "OK" or not data or not data[0]:
            return {c.upper() for c in imap.capabilities}
        raw = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
        return {c.upper() for c in raw.split()}

    def _folders(self, imap: imaplib.IMAP4) -> list[tuple[str, FolderKind]]:
        typ, data = imap.list('""', "*")
        if typ != "OK":
            raise ImapError(f"{self.where}: LIST failed")
        mailboxes = [m for m in (parse_list_line(line) for line in data if line) if m]
        return folders_to_search(mailboxes, tuple(self.seed.junk_folders))

    def _poll(
        self, imap: imaplib.IMAP4, folders: list[tuple[str, FolderKind]], caps: set[str]
    ) -> Found | None:
        while not self.stopping.is_set():
            for folder, kind in folders:
                typ, _ = imap.select(quoted(folder))
                if typ != "OK":
                    continue
                uids = self._search(imap)
                if uids:
                    return self._describe(imap, folder, kind, uids, caps)
            remaining = self._remaining()
            if remaining <= 0:
                return None
            self.stopping.wait(min(self.poll_interval, remaining))
        return None

    def _search(self, imap: imaplib.IMAP4) -> list[bytes]:
        token = f'"{self.token}"'
        typ, data = imap.uid("SEARCH", "OR", "HEADER", TOKEN_HEADER, token, "BODY", token)
        if typ != "OK" or not data or not data[0]:
            return []
        first = data[0]
        return first.split() if isinstance(first, bytes) else []

    def _describe(
        self, imap: imaplib.IMAP4, folder: str, kind: FolderKind, uids: list[bytes], caps: set[str]
    ) -> Found:
        found_at = time.monotonic()
        uid = uids[0].decode()
        gmail = "X-GM-EXT-1" in caps
        items = "(BODY.PEEK[HEADER] X-GM-LABELS)" if gmail else "(BODY.PEEK[HEADER])"
        typ, data = imap.uid("FETCH", uid, items)
        header_bytes = b""
        envelope = ""
        for item in data if typ == "OK" else []:
            if isinstance(item, tuple):
                envelope += item[0].decode("utf-8", "replace")
                header_bytes = item[1]
            elif isinstance(item, bytes):
                envelope += item.decode("utf-8", "replace")
        parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(header_bytes)
        headers = [(name, str(value)) for name, value in parsed.items()]
        found = Found(folder=folder, kind=kind, headers=headers, found_at=found_at, uids=uids)
        if gmail and kind == "inbox":
            found.tab = gmail_tab(parse_gm_labels(envelope)) or self._gmail_category(imap, uid)
        return found

    def _gmail_category(self, imap: imaplib.IMAP4, uid: str) -> str | None:
        """Gmail's own search knows the tab: ``X-GM-RAW "category:promotions"``."""
        for category in GMAIL_CATEGORIES:
            typ, data = imap.uid("SEARCH", "UID", uid, "X-GM-RAW", f'"category:{category}"')
            if typ == "OK" and data and data[0] and uid.encode() in data[0].split():
                return category
        return None

    def _clean(self, imap: imaplib.IMAP4, found: Found, caps: set[str]) -> None:
        if not found.uids:
            return
        uid_set = b",".join(found.uids).decode()
        if self.cleanup.mode == "move":
            target = quoted(self.cleanup.folder)
            if "MOVE" in caps:
                typ, data = imap.uid("MOVE", uid_set, target)
                _check(typ, data, "MOVE")
                return
            typ, data = imap.uid("COPY", uid_set, target)
            _check(typ, data, "COPY")
        typ, data = imap.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
        _check(typ, data, "STORE")
        if "UIDPLUS" in caps:
            typ, data = imap.uid("EXPUNGE", uid_set)
        else:
            typ, data = imap.expunge()
        _check(typ, data, "EXPUNGE")

    def _logout(self) -> None:
        with self._lock:
            imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            if not self.stopping.is_set():
                imap.sock.settimeout(max(0.1, min(5.0, self._remaining() + 1)))
                imap.logout()
            else:
                imap.shutdown()
        except (imaplib.IMAP4.error, OSError, AttributeError):
            with contextlib.suppress(OSError):
                imap.shutdown()


def _check(typ: str, data: list[Any], command: str) -> None:
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{command}: {_text(data)}")


def _text(value: object) -> str:
    if isinstance(value, BaseException) and value.args:
        value = value.args[0]
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(str(value).split())
    return text or "connection closed"
