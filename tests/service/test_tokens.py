"""API tokens: stored hashed, shown once, revocable; and the ``tokens`` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.store import begin_write
from deliverwatch.store.apitokens import (
    TOUCH_EVERY,
    TokenError,
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
    verify_token,
)
from deliverwatch.store.schema import api_tokens

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def test_token_is_stored_only_as_its_hash(engine: Engine) -> None:
    with begin_write(engine) as conn:
        token, stored = create_token(conn, "grafana", read_only=True, now=NOW)
    assert token.startswith("dw_") and len(token) > 40
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_tokens)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["token_hash"] == hash_token(token)
    assert token not in {str(value) for value in row.values()}
    assert stored.prefix == token[:10] and stored.read_only and stored.name == "grafana"


def test_verify_accepts_the_token_and_nothing_close_to_it(engine: Engine) -> None:
    with begin_write(engine) as conn:
        token, stored = create_token(conn, "ci", read_only=False, now=NOW)
    with begin_write(engine) as conn:
        found = verify_token(conn, token, now=NOW)
        assert found is not None and found.id == stored.id and not found.read_only
        assert verify_token(conn, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert verify_token(conn, token + "x") is None
        assert verify_token(conn, "") is None
        assert verify_token(conn, "Bearer " + token) is None


def test_use_is_recorded_at_most_once_a_minute(engine: Engine) -> None:
    with begin_write(engine) as conn:
        token, _ = create_token(conn, "ci", read_only=False, now=NOW)
    with begin_write(engine) as conn:
        verify_token(conn, token, now=NOW)
        verify_token(conn, token, now=NOW + timedelta(seconds=TOUCH_EVERY - 1))
    with engine.connect() as conn:
        (listed,) = list_tokens(conn)
    assert listed.last_used_at == NOW
    with begin_write(engine) as conn:
        verify_token(conn, token, now=NOW + timedelta(seconds=TOUCH_EVERY))
    with engine.connect() as conn:
        (listed,) = list_tokens(conn)
    assert listed.last_used_at == NOW + timedelta(seconds=TOUCH_EVERY)


def test_revoked_token_is_refused_and_its_name_free_again(engine: Engine) -> None:
    with begin_write(engine) as conn:
        token, _ = create_token(conn, "ci", read_only=False, now=NOW)
        with pytest.raises(TokenError, match="exists"):
            create_token(conn, "ci", read_only=False, now=NOW)
    with begin_write(engine) as conn:
        revoked = revoke_token(conn, "ci", now=NOW)
        assert revoked.revoked_at == NOW
        assert verify_token(conn, token) is None
        replacement, _ = create_token(conn, "ci", read_only=True, now=NOW)
        assert verify_token(conn, replacement) is not None
        with pytest.raises(TokenError, match="no active token"):
            revoke_token(conn, "nope", now=NOW)
    with engine.connect() as conn:
        assert [t.name for t in list_tokens(conn)] == ["ci"]
        assert len(list_tokens(conn, include_revoked=True)) == 2


def _cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DELIVERWATCH_DATABASE_URL=f"sqlite:///{db}")
    return subprocess.run(
        [sys.executable, "-m", "deliverwatch", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=db.parent,
        check=False,
    )


def test_tokens_commands(tmp_path: Path) -> None:
    db = tmp_path / "dw.db"
    created = _cli("tokens", "create", "grafana", "--read-only", db=db)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("dw_") and "shown once" in created.stderr
    listed = _cli("tokens", "list", "--format", "json", db=db)
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["name"] == "grafana" and entry["read_only"] is True
    assert token not in listed.stdout
    again = _cli("tokens", "create", "grafana", db=db)
    assert again.returncode == 2 and "exists" in again.stderr
    revoked = _cli("tokens", "revoke", "grafana", db=db)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(_cli("tokens", "list", "--format", "json", db=db).stdout) == []
    missing = _cli("tokens", "revoke", "grafana", db=db)
    assert missing.returncode == 2 and "no active token" in missing.stderr
