"""Polling an IMAP mailbox for DMARC aggregate, failure and SMTP TLS reports (``dmarc.mailbox``).

One poll: log in (implicit TLS or STARTTLS, certificate verified), select ``folder``, take up to
``batch_size`` messages that are still to do (oldest first), and for each:

* download it (``BODY.PEEK[]``: reading does not mark it seen) unless ``RFC822.SIZE`` is over
  ``Limits.max_message_bytes``, and import its reports (:func:`importer.import_bytes`: each
  report all or nothing, committed before the message is moved, duplicates recognised,
  bombs refused);
* every report imported or already stored: move it to ``processed_folder`` (marked seen);
  with ``delete: true`` delete it instead; with neither, mark it seen and leave it;
* a report or the message refused: move it to ``error_folder`` and log why; with no error
  folder, flag it (``\\Flagged``) and leave it;
* the store failed (not the report): leave it untouched and stop; the next poll retries.

"Still to do" is every undeleted message of the folder when processed messages leave it
(a processed folder or delete), else the unseen ones; without an error folder, flagged
messages are skipped too. Moving uses ``MOVE`` (RFC 6851) when the server has it, else
``COPY``, ``STORE \\Deleted`` and ``UID EXPUNGE`` (RFC 4315; plain ``EXPUNGE`` without
UIDPLUS). Nothing is deleted unless ``delete: true``.

imaplib is blocking: :func:`poll` runs the whole poll in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import imaplib
import ipaddress
import logging
import re
import ssl
from typing import TYPE_CHECKING, Any

from deliverwatch.dmarc.containers import Limits
from deliverwatch.dmarc.importer import ImportSummary, MessageOutcome, import_bytes

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from deliverwatch.clock import Clock
    from deliverwatch.config import Config
    from deliverwatch.dmarc.config import MailboxSettings

log = logging.getLogger(__name__)

_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class MailboxError(Exception):
    """The mailbox cannot be polled (connection, TLS, login, folder); says which, never the
    password."""


async def poll(
    config: Config, engine: Engine, clock: Clock, *, limits: Limits | None = None
) -> ImportSummary:
    """One poll of ``config.dmarc.mailbox`` (nothing when it is not configured); raises
    MailboxError when the mailbox cannot be used at all."""
    settings = config.dmarc.mailbox
    summary = ImportSummary(at=clock.now())
    if settings is None:
        return summary
    summary.extend(await asyncio.to_thread(poll_mailbox, settings, engine, limits))
    return summary


def poll_mailbox(
    settings: MailboxSettings,
    engine: Engine,
    limits: Limits | None = None,
    *,
    use_move: bool | None = None,
) -> ImportSummary:
    """The blocking poll :func:`poll` runs. ``use_move=False`` forces the COPY/EXPUNGE path
    (for servers without MOVE; tests use it against a server that has it)."""
    limits = limits or Limits()
    summary = ImportSummary()
    client = connect(settings)
    try:
        capabilities = _capabilities(client)
        move = ("MOVE" in capabilities) if use_move is None else use_move
        mover = _Mover(client, move=move, uidplus="UIDPLUS" in capabilities)
        for folder in (settings.processed_folder, settings.error_folder):
            if folder is not None and not (folder == settings.processed_folder and settings.delete):
                _ensure_folder(client, folder)
        _ok(client.select(quote(settings.folder)), f"select {settings.folder!r}")
        _, data = _ok(client.uid("SEARCH", *search_criteria(settings)), "search")
        found = data[0] if data and isinstance(data[0], bytes) else b""
        uids = sorted(int(uid) for uid in found.split())[: settings.batch_size]
        for uid in uids:
            outcome = _handle(client, mover, settings, engine, limits, uid, summary)
            summary.messages.append(outcome)
            if outcome.action == "retry":
                log.error("DMARC mailbox: store failed, stopping this poll: %s", outcome.reason)
                break
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailboxError(f"{_where(settings)}: {_describe(exc)}") from None
    finally:
        _logout(client)
    return summary


def search_criteria(settings: MailboxSettings) -> list[str]:
    """The IMAP SEARCH keys of the messages still to do (see the module docstring)."""
    criteria = ["UNDELETED"]
    if settings.processed_folder is None and not settings.delete:
        criteria.append("UNSEEN")
    if settings.error_folder is None:
        criteria.append("UNFLAGGED")
    return criteria


def connect(settings: MailboxSettings) -> imaplib.IMAP4:
    """A logged-in connection (TLS verified); raises MailboxError."""
    where = _where(settings)
    if not settings.tls and not settings.starttls and not is_loopback(settings.host):
        raise MailboxError(f"{where}: refusing to log in without TLS to a non-loopback host")
    try:
        context = ssl.create_default_context(cafile=settings.ca_bundle)
        client: imaplib.IMAP4
        if settings.tls:
            client = imaplib.IMAP4_SSL(
                settings.host,
                settings.effective_port,
                ssl_context=context,
                timeout=settings.timeout,
            )
        else:
            client = imaplib.IMAP4(settings.host, settings.effective_port, timeout=settings.timeout)
            if settings.starttls:
                client.starttls(ssl_context=context)
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailboxError(f"{where}: cannot connect: {_describe(exc)}") from None
    try:
        client.login(settings.username, settings.password or "")
    except (imaplib.IMAP4.error, OSError) as exc:
        _logout(client)
        raise MailboxError(
            f"{where}: login as {settings.username} failed: {_describe(exc)}"
        ) from None
    return client


def _handle(
    client: imaplib.IMAP4,
    mover: _Mover,
    settings: MailboxSettings,
    engine: Engine,
    limits: Limits,
    uid: int,
    summary: ImportSummary,
) -> MessageOutcome:
    name = f"imap://{settings.username}@{settings.host}/{settings.folder};UID={uid}"
    _, data = _ok(client.uid("FETCH", str(uid), "(RFC822.SIZE)"), "fetch size")
    size = _fetched_size(data)
    if size is None:  # gone meanwhile (another client moved it)
        return MessageOutcome(name, uid, "processed", reason="message vanished before reading")
    if size > limits.max_message_bytes:
        reason = f"message larger than {limits.max_message_bytes} bytes ({size})"
        return _failed(mover, settings, name, uid, reason, 0)
    _, data = _ok(client.uid("FETCH", str(uid), "(BODY.PEEK[])"), "fetch message")
    body = _fetched_body(data)
    if body is None:
        return MessageOutcome(name, uid, "processed", reason="message vanished before reading")
    result = import_bytes(engine, name, body, limits)
    summary.extend(result)
    retry = [outcome for outcome in result.outcomes if outcome.retry]
    if retry:
        return MessageOutcome(name, uid, "retry", reason=retry[0].reason, reports=0)
    if result.errors:
        reason = "; ".join(_part_reason(name, o.name, o.reason) for o in result.errors)
        return _failed(mover, settings, name, uid, reason, len(result.outcomes))
    reports = len(result.outcomes)
    if settings.delete:
        mover.delete(uid)
        return MessageOutcome(name, uid, "processed", "(deleted)", reports=reports)
    mover.flag(uid, "\\Seen")
    if settings.processed_folder is not None:
        mover.move(uid, settings.processed_folder)
    return MessageOutcome(name, uid, "processed", settings.processed_folder, reports=reports)


def _part_reason(message: str, part: str, reason: str | None) -> str:
    """``report.xml.gz: truncated gzip data``, or just the reason for the message itself."""
    inner = part.removeprefix(message).lstrip(" ›")
    return f"{inner}: {reason}" if inner else str(reason)


def _failed(
    mover: _Mover, settings: MailboxSettings, name: str, uid: int, reason: str, reports: int
) -> MessageOutcome:
    folder = settings.error_folder
    log.warning(
        "DMARC mailbox: %s: %s; %s", name, reason, f"moved to {folder}" if folder else "flagged"
    )
    if folder is not None:
        mover.move(uid, folder)
    else:
        mover.flag(uid, "\\Flagged")
    return MessageOutcome(name, uid, "error", folder, reason, reports)


class _Mover:
    """Moves, flags and deletes by UID, with MOVE or the COPY/STORE/EXPUNGE fallback."""

    def __init__(self, client: imaplib.IMAP4, *, move: bool, uidplus: bool) -> None:
        self.client = client
        self.use_move = move
        self.uidplus = uidplus

    def flag(self, uid: int, flag: str) -> None:
        _ok(self.client.uid("STORE", str(uid), "+FLAGS.SILENT", f"({flag})"), "store flags")

    def move(self, uid: int, folder: str) -> None:
        if self.use_move:
            _ok(self.client.uid("MOVE", str(uid), quote(folder)), f"move to {folder!r}")
            return
        _ok(self.client.uid("COPY", str(uid), quote(folder)), f"copy to {folder!r}")
        self.delete(uid)

    def delete(self, uid: int) -> None:
        self.flag(uid, "\\Deleted")
        if self.uidplus:
            _ok(self.client.uid("EXPUNGE", str(uid)), "expunge")
        else:  # also expunges what others marked deleted: the best IMAP4rev1 offers
            _ok(self.client.expunge(), "expunge")


def _ensure_folder(client: imaplib.IMAP4, folder: str) -> None:
    _, listed = _ok(client.list('""', quote(folder)), "list folders")
    if any(item for item in listed if item):
        return
    typ, data = client.create(quote(folder))
    if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(d for d in data if isinstance(d, bytes)):
        raise imaplib.IMAP4.error(f"cannot create folder {folder!r}: {_text(data)}")


def _ok(response: tuple[str, Any], what: str) -> tuple[str, list[Any]]:
    """The response's data; raises for anything but OK (imaplib types the data loosely)."""
    typ, data = response
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{what}: {typ} {_text(data)}")
    return typ, list(data)


def _fetched_size(data: list[Any]) -> int | None:
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if isinstance(line, bytes) and (match := _SIZE.search(line)):
            return int(match.group(1))
    return None


def _fetched_body(data: list[Any]) -> bytes | None:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _capabilities(client: imaplib.IMAP4) -> set[str]:
    typ, data = client.capability()
    words = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
    return {word.upper() for word in words.split()} if typ == "OK" else set()


def _logout(client: imaplib.IMAP4) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        client.logout()


def quote(folder: str) -> str:
    """A folder name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3)."""
    encoded = encode_folder(folder)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_folder(folder: str) -> str:
    """IMAP's modified UTF-7: printable ASCII as is (``&`` as ``&-``), other characters as
    ``&`` + modified base64 of their UTF-16BE + ``-``."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in folder:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _where(settings: MailboxSettings) -> str:
    return f"dmarc.mailbox {settings.host}:{settings.effective_port}"


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message or text}"
    return text


def _text(data: list[Any]) -> str:
    parts = [d.decode("utf-8", "replace") for d in data if isinstance(d, bytes)]
    return " ".join(parts)


__all__ = ["MailboxError", "connect", "encode_folder", "poll", "poll_mailbox", "search_criteria"]
