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


async def test_revoking_the_token_ends_its_sessions_at_once(tmp_path: Path) -> None:
    import re

    import httpx

    from deliverwatch.clock import FakeClock
    from deliverwatch.config import Config
    from deliverwatch.service.app import create_app
    from deliverwatch.store import begin_write
    from deliverwatch.store.apitokens import create_token, revoke_token
    from tests.service.support import running

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with begin_write(engine) as conn:
        token, _ = create_token(conn, "ops", read_only=False, now=NOW)
    app = create_app(Config(), engine=engine, clock=FakeClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://dw") as c:
        form = await c.get("/login")
        match = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert match is not None
        signed_in = await c.post(
            "/login", data={"token": token, "csrf": match.group(1), "next": "/alerts"}
        )
        assert signed_in.status_code == 303
        assert (await c.get("/alerts")).status_code == 200
        with begin_write(engine) as conn:
            revoke_token(conn, "ops", now=NOW)
        after = await c.get("/alerts")
        assert after.status_code == 303 and "/login" in after.headers["location"]
    engine.dispose()
