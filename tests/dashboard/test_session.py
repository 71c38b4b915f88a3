"""Session cookies: signed, expiring, never forgeable; the server secret is made once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from deliverwatch.service.dashboard import session
from deliverwatch.store import open_store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRET = b"k" * 32


def test_a_cookie_round_trips_until_it_expires() -> None:
    made = session.new_session("ops", False, NOW)
    value = session.encode(made, SECRET)
    assert session.decode(value, SECRET, NOW) == made
    later = NOW + timedelta(seconds=session.MAX_AGE - 1)
    assert session.decode(value, SECRET, later) == made
    assert session.decode(value, SECRET, NOW + timedelta(seconds=session.MAX_AGE)) is None


def test_tampered_or_foreign_cookies_are_refused() -> None:
    value = session.encode(session.new_session("viewer", True, NOW), SECRET)
    body, signature = value.rsplit(".", 1)
    forged = session.encode(session.new_session("viewer", False, NOW), b"other" * 8)
    assert session.decode(forged, SECRET, NOW) is None
    assert session.decode(forged.rsplit(".", 1)[0] + "." + signature, SECRET, NOW) is None
    assert session.decode(body + "." + signature[:-2] + "AA", SECRET, NOW) is None
    for junk in (None, "", "no-dot", ".", "x.y"):
        assert session.decode(junk, SECRET, NOW) is None


def test_csrf_tokens_compare_exactly() -> None:
    made = session.new_session("ops", False, NOW)
    assert made.valid_csrf(made.csrf)
    assert not made.valid_csrf(None)
    assert not made.valid_csrf("")
    assert not made.valid_csrf(made.csrf + "x")
    assert session.new_session("ops", False, NOW).csrf != made.csrf


def test_server_secret_is_generated_once_and_shared(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    first = session.server_secret(None, engine)
    assert len(first) == 64
    assert session.server_secret(None, engine) == first  # read back, not made again
    assert session.server_secret("configured-secret-value", engine) == b"configured-secret-value"
    engine.dispose()
