"""Bearer tokens for the HTTP API and the dashboard.

A token is shown once, when it is created; the store keeps its SHA-256 only. Tokens are 256
bits from ``secrets``, so nobody can search a hash for them, and a lookup by hash is an
index probe: the request's token is never compared character by character with a stored
one (the final check is :func:`hmac.compare_digest` anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.store.engine import from_store_time
from deliverwatch.store.schema import api_tokens

TOKEN_PREFIX = "dw_"  # noqa: S105  (a marker, not a secret)
#: How much of a token is kept in clear to tell tokens apart in listings.
SHOWN_CHARS = 10
#: ``last_used_at`` is refreshed at most this often (seconds): not one write per request.
TOUCH_EVERY = 60


class TokenError(ValueError):
    """A token cannot be created or changed (duplicate name, unknown token)."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    name: str
    prefix: str
    read_only: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "read_only": self.read_only,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    conn: Connection, name: str, *, read_only: bool, now: datetime
) -> tuple[str, ApiToken]:
    """A new token named ``name``: (the token itself, shown once; its stored description)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise TokenError("a token name must be 1 to 64 characters")
    if conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.name == name)).first():
        raise TokenError(f"a token named {name!r} exists (revoke it first, or pick another name)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    result = conn.execute(
        sa.insert(api_tokens).values(
            name=name,
            token_hash=hash_token(token),
            prefix=token[:SHOWN_CHARS],
            read_only=read_only,
            created_at=now,
        )
    )
    (token_id,) = result.inserted_primary_key or (None,)
    stored = get_token(conn, int(token_id)) if token_id is not None else None
    if stored is None:  # pragma: no cover - the row was just inserted
        raise TokenError("the token was not stored")
    return token, stored


def verify_token(conn: Connection, token: str, *, now: datetime | None = None) -> ApiToken | None:
    """The active token ``token`` is, or None. With ``now``, records the use (at most once a
    minute per token)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    row = (
        conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == digest))
        .mappings()
        .first()
    )
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["token_hash"], digest):  # pragma: no cover - by the index
        return None
    found = _token(row)
    last = found.last_used_at
    if now is not None and (last is None or (now - last).total_seconds() >= TOUCH_EVERY):
        conn.execute(
            sa.update(api_tokens).where(api_tokens.c.id == found.id).values(last_used_at=now)
        )
    return found


def get_token(conn: Connection, token_id: int) -> ApiToken | None:
    row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
    return _token(row) if row is not None else None


def list_tokens(conn: Connection, *, include_revoked: bool = False) -> list[ApiToken]:
    query = sa.select(api_tokens).order_by(api_tokens.c.id)
    if not include_revoked:
        query = query.where(api_tokens.c.revoked_at.is_(None))
    return [_token(row) for row in conn.execute(query).mappings()]


def revoke_token(conn: Connection, name: str, *, now: datetime) -> ApiToken:
    """Revoke the active token named ``name``; its name becomes free again."""
    row = (
        conn.execute(
            sa.select(api_tokens).where(
                api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise TokenError(f"no active token named {name!r}")
    # The name is released (renamed with its id) so a replacement can take it.
    conn.execute(
        sa.update(api_tokens)
        .where(api_tokens.c.id == row["id"])
        .values(revoked_at=now, name=f"{name[:40]}~revoked-{row['id']}")
    )
    revoked = get_token(conn, int(row["id"]))
    assert revoked is not None
    return revoked


def count_active(conn: Connection) -> int:
    query = sa.select(sa.func.count()).select_from(api_tokens)
    return int(conn.execute(query.where(api_tokens.c.revoked_at.is_(None))).scalar_one())


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=int(row["id"]),
        name=row["name"],
        prefix=row["prefix"],
        read_only=bool(row["read_only"]),
        created_at=from_store_time(row["created_at"]),
        last_used_at=from_store_time(row["last_used_at"]) if row["last_used_at"] else None,
        revoked_at=from_store_time(row["revoked_at"]) if row["revoked_at"] else None,
    )
