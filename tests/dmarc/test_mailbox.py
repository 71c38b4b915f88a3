"""Polling a real Dovecot IMAP server (``tests/servers/dovecot.py``) for reports: TLS verified,
reports of every kind imported, processed messages moved, bad ones moved to the error folder,
nothing deleted unless asked, the MOVE-less fallback, and a store outage leaving mail alone."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.dmarc.config import MailboxSettings
from deliverwatch.dmarc.mailbox import (
    MailboxError,
    connect,
    encode_folder,
    poll,
    poll_mailbox,
    search_criteria,
)
from deliverwatch.store import open_store
from deliverwatch.store.schema import dmarc_failure_reports, dmarc_reports, smtp_tls_reports
from tests.dmarc.support import CORPUS, needs_corpus, report_xml
from tests.servers.dovecot import AVAILABLE, SKIP_REASON, DovecotServer
from tests.servers.ports import free_port

pytestmark = [pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON), needs_corpus]

PASSWORD = "s3cret-Pw"
_users = itertools.count()


#: Users are all made before the first login: Dovecot re-reads its passwd-file at most once
#: a second, so a user added right after a login may not be known yet.
USERS = [f"dmarc{n}@reports.test" for n in range(1, 9)]


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer(tls=True) as server:
        for name in USERS:
            server.add_user(name, PASSWORD)
        yield server


@pytest.fixture
def user(dovecot: DovecotServer) -> str:
    return USERS[next(_users)]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'dw.db'}")
    yield engine
    engine.dispose()


def settings(dovecot: DovecotServer, user: str, **overrides: Any) -> MailboxSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": dovecot.imaps_port,
        "ca_bundle": str(dovecot.ca_file),
        "username": user,
        "password": PASSWORD,
    }
    values.update(overrides)
    return MailboxSettings.model_validate(values)


def aggregate_email(report_id: str, *, attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "noreply-dmarc@reporter.test"
    message["To"] = "dmarc@reports.test"
    message["Subject"] = f"Report domain: example.test Report-ID: {report_id}"
    message.set_content("Aggregate report attached.")
    data = attachment or gzip.compress(
        report_xml([{"ip": "192.0.2.7", "count": 2}], report_id=report_id)
    )
    message.add_attachment(
        data, maintype="application", subtype="gzip", filename=f"{report_id}.xml.gz"
    )
    return message.as_bytes()


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def subjects(dovecot: DovecotServer, user: str, folder: str) -> list[str]:
    found = []
    for raw in dovecot.messages(user, folder):
        for line in raw.splitlines():
            if line.startswith(b"Subject:"):
                found.append(line.decode(errors="replace")[9:].strip())
                break
    return sorted(found)


async def test_poll_imports_every_kind_and_files_messages(
    dovecot: DovecotServer, user: str, engine: Engine
) -> None:
    dovecot.deliver(user, aggregate_email("agg-1"))
    dovecot.deliver(user, (CORPUS / "failure" / "dmarc_ruf_report_linkedin.eml").read_bytes())
    dovecot.deliver(user, (CORPUS / "smtp_tls" / "google.com_smtp_tls_report.eml").read_bytes())
    dovecot.deliver(user, b"Subject: lunch?\r\nFrom: a@b.test\r\n\r\nnot a report\r\n")
    dovecot.deliver(user, aggregate_email("agg-bad", attachment=b"\x1f\x8b\x08\x00broken"))
    config = Config.model_validate(
        {"dmarc": {"mailbox": settings(dovecot, user).model_dump() | {"password": PASSWORD}}}
    )
    clock = FakeClock(datetime(2026, 11, 28, 3, 0, tzinfo=UTC))

    summary = await poll(config, engine, clock)

    assert summary.at == clock.now()
    assert [m.action for m in summary.messages] == [
        "processed",
        "processed",
        "processed",
        "error",
        "error",
    ]
    assert summary.by_kind()["aggregate"] == {"imported": 1}
    assert summary.by_kind()["unknown"] == {"error": 2}  # refused before their kind was known
    assert summary.by_kind()["failure"] == {"imported": 1}
    assert summary.by_kind()["smtp_tls"] == {"imported": 1}
    bad = summary.messages[4]
    assert (bad.moved_to, bad.reason) == ("Errors", "agg-bad.xml.gz: truncated gzip data")
    assert summary.messages[3].reason == "no DMARC or SMTP TLS report found in this email"
    assert summary.messages[0].name.startswith(f"imap://{user}@127.0.0.1/INBOX;UID=")
    assert (count(engine, dmarc_reports), count(engine, dmarc_failure_reports)) == (1, 1)
    assert count(engine, smtp_tls_reports) == 1
    assert dovecot.messages(user, "INBOX") == []
    assert len(dovecot.messages(user, "Processed")) == 3
    assert subjects(dovecot, user, "Errors") == [
        "Report domain: example.test Report-ID: agg-bad",
        "lunch?",
    ]
    assert PASSWORD not in repr(summary.to_dict())

    # Nothing left to do; the same report delivered again is a duplicate, still processed.
    assert (await poll(config, engine, clock)).messages == []
    dovecot.deliver(user, aggregate_email("agg-1"))
    again = await poll(config, engine, clock)
    assert [(m.action, m.moved_to) for m in again.messages] == [("processed", "Processed")]
    assert again.totals() == {"duplicate": 1}
    assert count(engine, dmarc_reports) == 1
    assert len(dovecot.messages(user, "Processed")) == 4


def test_copy_fallback_batches_and_delete(
    dovecot: DovecotServer, user: str, engine: Engine
) -> None:
    for n in range(3):
        dovecot.deliver(user, aggregate_email(f"copy-{n}"))
    mailbox = settings(dovecot, user, processed_folder="Done/DMARC", batch_size=2)
    first = poll_mailbox(mailbox, engine, use_move=False)
    assert [m.moved_to for m in first.messages] == ["Done/DMARC", "Done/DMARC"]
    assert len(dovecot.messages(user, "INBOX")) == 1
    assert len(dovecot.messages(user, "Done/DMARC")) == 2
    # The copies are marked seen, and the originals are gone (expunged), not left deleted.
    assert all(":2,S" in p.name for p in (dovecot.maildir(user, "Done/DMARC") / "cur").iterdir())
    poll_mailbox(mailbox, engine, use_move=False)
    assert dovecot.messages(user, "INBOX") == []
    assert count(engine, dmarc_reports) == 3

    dovecot.deliver(user, aggregate_email("delete-me"))
    deleted = poll_mailbox(settings(dovecot, user, delete=True), engine)
    assert [(m.action, m.moved_to) for m in deleted.messages] == [("processed", "(deleted)")]
    assert dovecot.messages(user, "INBOX") == []
    assert len(dovecot.messages(user, "Done/DMARC")) == 3  # nothing else moved
    assert count(engine, dmarc_reports) == 4


def test_without_folders_messages_stay_marked(
    dovecot: DovecotServer, user: str, engine: Engine
) -> None:
    dovecot.deliver(user, aggregate_email("stay"))
    dovecot.deliver(user, b"Subject: junk\r\n\r\nno report\r\n")
    mailbox = settings(dovecot, user, processed_folder=None, error_folder=None)
    assert search_criteria(mailbox) == ["UNDELETED", "UNSEEN", "UNFLAGGED"]
    summary = poll_mailbox(mailbox, engine)
    assert [(m.action, m.moved_to) for m in summary.messages] == [
        ("processed", None),
        ("error", None),
    ]
    flags = sorted(p.name.rsplit(",", 1)[1] for p in (dovecot.maildir(user) / "cur").iterdir())
    assert flags == ["F", "S"]  # the error flagged (left unseen), the report seen
    assert len(dovecot.messages(user, "INBOX")) == 2  # nothing moved, nothing deleted
    assert poll_mailbox(mailbox, engine).messages == []


def test_store_outage_leaves_mail_in_place(dovecot: DovecotServer, user: str) -> None:
    dovecot.deliver(user, aggregate_email("later-1"))
    dovecot.deliver(user, aggregate_email("later-2"))
    down = sa.create_engine(f"postgresql+psycopg://dw:dw@127.0.0.1:{free_port()}/dw")
    summary = poll_mailbox(settings(dovecot, user), down)
    assert [m.action for m in summary.messages] == ["retry"]  # stops at the first
    assert summary.outcomes[0].retry
    assert len(dovecot.messages(user, "INBOX")) == 2
    assert dovecot.messages(user, "Errors") == []


def test_starttls_oversized_messages_and_refusals(
    dovecot: DovecotServer, user: str, engine: Engine
) -> None:
    from deliverwatch.dmarc.containers import Limits

    dovecot.deliver(user, aggregate_email("big") + b"x" * 5000)
    mailbox = settings(dovecot, user, tls=False, starttls=True, port=dovecot.port)
    summary = poll_mailbox(mailbox, engine, Limits(max_message_bytes=4000))
    [message] = summary.messages
    assert message.action == "error" and message.moved_to == "Errors"
    assert message.reason is not None and "larger than 4000 bytes" in message.reason

    with pytest.raises(MailboxError, match="TLS certificate not trusted"):
        connect(settings(dovecot, user, ca_bundle=None))
    with pytest.raises(MailboxError, match=r"login as .* failed") as failed:
        connect(settings(dovecot, user, password="wrong-password"))
    assert "wrong-password" not in str(failed.value)
    with pytest.raises(MailboxError, match="without TLS to a non-loopback host"):
        connect(settings(dovecot, user, host="imap.example.net", tls=False))
    plain = connect(settings(dovecot, user, tls=False, port=dovecot.port))  # loopback: allowed
    plain.logout()


def test_settings_read_the_password_file_and_keep_it_secret(tmp_path: Path) -> None:
    secret = tmp_path / "imap-password"
    secret.write_text("from-a-file\n")
    mailbox = MailboxSettings.model_validate(
        {"host": "imap.example.net", "username": "u", "password_file": str(secret)}
    )
    assert mailbox.password == "from-a-file"
    assert mailbox.effective_port == 993
    assert "from-a-file" not in repr(mailbox) + mailbox.model_dump_json()
    with pytest.raises(ValueError, match="password or password_file is required"):
        MailboxSettings.model_validate({"host": "h", "username": "u"})
    with pytest.raises(ValueError, match="processed_folder must differ"):
        MailboxSettings.model_validate(
            {"host": "h", "username": "u", "password": "p", "processed_folder": "INBOX"}
        )


def test_folder_names_are_encoded_as_imap_utf7() -> None:
    assert encode_folder("Processed") == "Processed"
    assert encode_folder("R&D") == "R&-D"
    assert encode_folder("Entwürfe") == "Entw&APw-rfe"
    assert encode_folder("台北") == "&U,BTFw-"
