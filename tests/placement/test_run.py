"""Placement runs against the local test bed: Dovecot over IMAP (TLS verified against the test
CA) behind an aiosmtpd receiver that files mail into INBOX or Junk by a verdict."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from deliverwatch.placement.run import PlacementError, run_placement
from tests.placement.conftest import PASSWORD, placement_settings, seed_entry
from tests.servers.dovecot import DovecotServer
from tests.servers.seedbed import GTUBE, SeedBed

CLEAN = (
    b"Subject: Your November newsletter\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Hello,\r\n\r\nhere is what changed in our product this month.\r\n"
)
SPAMMY = (
    b"Subject: WINNER!!! Act now\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><body><p>You are a WINNER!!! 100% free money, act now and click here.</p>"
    b"</body></html>\r\n"
)


async def test_clean_message_lands_in_inbox_signed_and_cleaned_up(
    dovecot: DovecotServer, bed: Callable[..., SeedBed], seeds: Callable[..., list[str]]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    receiver = bed(dkim_keys={("s1", "brand.test"): txt})
    first, second = seeds(2)
    settings = placement_settings(
        dovecot,
        receiver,
        [
            seed_entry(dovecot, first, provider="gmail"),
            seed_entry(dovecot, second, mode="starttls"),
        ],
        dkim={"selector": "s1", "domain": "brand.test", "private_key": pem},
    )
    run = await run_placement(settings, message=CLEAN, message_name="news.eml")
    assert [r.placement for r in run.results] == ["inbox", "inbox"]
    assert all(r.folder == "INBOX" and r.seconds is not None for r in run.results)
    assert run.results[0].authentication == {"dkim": "pass", "spf": "none", "dmarc": "pass"}
    assert run.results[0].spam_headers["X-Spam-Flag"] == "NO"
    assert run.results[0].spam_score == 0.0
    assert run.inbox_rate == 1.0 and not run.timed_out
    assert run.to_dict()["providers"]["gmail"]["inbox_rate"] == 1.0
    # what the provider received carried the token in a header and in the body
    delivered = receiver.deliveries[0].message
    assert f"X-Deliverwatch-Test: {run.token}".encode() in delivered
    assert delivered.count(run.token.encode()) == 2
    assert run.subject == "Your November newsletter"
    # cleanup "delete": nothing left behind
    assert dovecot.messages(first) == [] and dovecot.messages(second) == []


async def test_spammy_message_lands_in_junk_by_special_use_and_by_name(
    dovecot: DovecotServer, bed: Callable[..., SeedBed], seeds: Callable[..., list[str]]
) -> None:
    special, named = seeds(2, folders=("Bulk",))
    receiver = bed(junk_folders={named: "Bulk"})
    settings = placement_settings(
        dovecot,
        receiver,
        [seed_entry(dovecot, special, provider="a"), seed_entry(dovecot, named, provider="b")],
        cleanup="move",
        cleanup_folder="Trash",
    )
    run = await run_placement(settings, message=SPAMMY, message_name="offer.eml")
    assert [(r.placement, r.folder) for r in run.results] == [("spam", "Junk"), ("spam", "Bulk")], [
        r.error for r in run.results
    ]
    assert run.results[0].spam_headers["X-Spam-Flag"] == "YES"
    assert run.results[0].spam_score is not None and run.results[0].spam_score >= 5
    assert run.overall.to_dict()["spam_rate"] == 1.0 and run.inbox_rate == 0.0
    # cleanup "move": out of the junk folders, into Trash
    assert dovecot.messages(special, "Junk") == [] and dovecot.messages(named, "Bulk") == []
    assert len(dovecot.messages(special, "Trash")) == 1


async def test_lost_rejected_and_wrong_password_are_per_seed(
    dovecot: DovecotServer,
    bed: Callable[..., SeedBed],
    seeds: Callable[..., list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    good, lost, refused, locked = seeds(4)
    receiver = bed(lost={lost}, reject={refused: "5.2.1 mailbox disabled"})
    wrong = "Wrong-Password-77ab"
    settings = placement_settings(
        dovecot,
        receiver,
        [
            seed_entry(dovecot, good, provider="gmail"),
            seed_entry(dovecot, lost, provider="gmail"),
            seed_entry(dovecot, refused, provider="yahoo"),
            seed_entry(dovecot, locked, provider="outlook", password=wrong, mode="plain"),
        ],
        timeout=4,
    )
    caplog.set_level(logging.DEBUG)
    run = await run_placement(settings, message=CLEAN)
    by = {r.address: r for r in run.results}
    assert by[good].placement == "inbox"
    assert by[lost].placement == "missing" and by[lost].smtp_code == 250
    assert by[refused].placement == "rejected"
    assert (by[refused].smtp_code, by[refused].smtp_message) == (550, "5.2.1 mailbox disabled")
    assert by[locked].placement == "error"
    assert by[locked].error is not None and f"login as {locked} failed" in by[locked].error
    assert "AUTHENTICATIONFAILED" in by[locked].error
    overall = run.overall
    assert overall.counted == 3 and overall.counts["error"] == 1
    assert run.to_dict()["providers"]["gmail"]["missing_rate"] == 0.5
    assert run.timed_out  # the lost seed was searched for until the end
    text = caplog.text + json.dumps(run.to_dict()) + repr(settings)
    assert PASSWORD not in text and wrong not in text
    assert settings.model_dump_json().find(PASSWORD) == -1


@pytest.fixture
def silent_imap() -> Iterator[int]:
    """A TCP server that accepts and never says a word (a hung IMAP server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


async def test_the_run_never_exceeds_its_timeout(
    dovecot: DovecotServer,
    bed: Callable[..., SeedBed],
    seeds: Callable[..., list[str]],
    silent_imap: int,
) -> None:
    late, hung, prompt = seeds(3)
    receiver = bed(delays={late: 30.0})
    hung_seed = seed_entry(dovecot, hung, mode="plain")
    hung_seed["imap"]["port"] = silent_imap
    settings = placement_settings(
        dovecot,
        receiver,
        [seed_entry(dovecot, late), hung_seed, seed_entry(dovecot, prompt)],
        poll_interval=0.5,
    )
    began = time.monotonic()
    run = await run_placement(settings, message=CLEAN, timeout=2.5)
    elapsed = time.monotonic() - began
    assert elapsed <= 2.5, elapsed
    assert run.duration <= 2.5 and run.timed_out
    assert [r.placement for r in run.results] == ["missing", "error", "inbox"]
    error = run.results[1].error or ""
    assert error.endswith(("no answer before the timeout", "not reached before the timeout"))


async def test_untrusted_imap_certificate_is_an_error_for_that_seed(
    dovecot: DovecotServer, bed: Callable[..., SeedBed], seeds: Callable[..., list[str]]
) -> None:
    (address,) = seeds(1)
    settings = placement_settings(
        dovecot, bed(), [seed_entry(dovecot, address)], ca_bundle=None, timeout=5
    )
    run = await run_placement(settings, message=CLEAN)
    result = run.results[0]
    assert result.placement == "error"
    assert result.error is not None and "certificate" in result.error


async def test_smtp_starttls_and_auth(
    dovecot: DovecotServer,
    bed: Callable[..., SeedBed],
    seeds: Callable[..., list[str]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import ssl

    from tests.servers.https import make_certificates

    ca, cert, key = make_certificates(tmp_path, ["localhost"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    receiver = bed(auth={"relay-user": "relay-Pass-31"}, tls_context=context)
    (address,) = seeds(1)
    secret = tmp_path / "smtp-password"
    secret.write_text("relay-Pass-31\n")
    smtp = {
        "host": "127.0.0.1",
        "port": receiver.port,
        "starttls": True,
        "username": "relay-user",
        "password_file": str(secret),
    }
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.read_bytes() + Path(str(dovecot.ca_file)).read_bytes())  # noqa: ASYNC240
    settings = placement_settings(
        dovecot, receiver, [seed_entry(dovecot, address)], smtp=smtp, ca_bundle=str(bundle)
    )
    caplog.set_level(logging.DEBUG)
    run = await run_placement(settings, message=CLEAN)
    assert run.results[0].placement == "inbox"
    ours = [
        r.getMessage() for r in caplog.records if r.name.startswith(("deliverwatch", "aiosmtplib"))
    ]
    assert ours and not any("relay-Pass-31" in line for line in ours)
    assert "relay-Pass-31" not in repr(settings) + settings.model_dump_json()
    # a wrong relay password: every seed is an error saying so, nothing is searched
    secret.write_text("nope\n")
    settings = placement_settings(
        dovecot, receiver, [seed_entry(dovecot, address)], smtp=smtp, ca_bundle=str(bundle)
    )
    run = await run_placement(settings, message=CLEAN)
    assert run.results[0].placement == "error"
    assert "authentication failed" in (run.results[0].error or "")
    assert "nope" not in json.dumps(run.to_dict())


async def test_incomplete_config_is_a_placement_error() -> None:
    from deliverwatch.placement.config import PlacementSettings

    with pytest.raises(PlacementError, match=r"placement\.smtp is not set"):
        await run_placement(PlacementSettings(), message=CLEAN)


async def test_gtube_through_real_spamd_lands_in_junk(
    dovecot: DovecotServer,
    bed: Callable[..., SeedBed],
    seeds: Callable[..., list[str]],
    spamd: tuple[str, int],
) -> None:
    from tests.servers.seedbed import spamd_verdict

    receiver = bed(verdict=spamd_verdict(*spamd))
    clean_seed, spam_seed = seeds(2)
    settings = placement_settings(dovecot, receiver, [seed_entry(dovecot, clean_seed)], timeout=60)
    run = await run_placement(settings, message=CLEAN)
    assert run.results[0].placement == "inbox"
    settings = placement_settings(dovecot, receiver, [seed_entry(dovecot, spam_seed)], timeout=60)
    spammy = CLEAN.replace(b"Hello,", GTUBE.encode())
    run = await run_placement(settings, message=spammy)
    assert run.results[0].placement == "spam"
    assert "GTUBE" in run.results[0].spam_headers["X-Spam-Status"]


async def test_fewer_workers_than_seeds_still_checks_every_seed(
    dovecot: DovecotServer, bed: Callable[..., SeedBed], seeds: Callable[..., list[str]]
) -> None:
    addresses = seeds(3)
    settings = placement_settings(
        dovecot, bed(), [seed_entry(dovecot, a) for a in addresses], concurrency=1
    )
    run = await run_placement(settings, message=CLEAN)
    assert [r.placement for r in run.results] == ["inbox", "inbox", "inbox"]
