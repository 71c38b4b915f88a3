"""Bearer-token authentication for the API (the dashboard adds sessions on top, see
``service/dashboard``). Webhook routes do not use this: providers sign their posts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from deliverwatch.store.apitokens import ApiToken, verify_token

BEARER = "bearer "


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[: len(BEARER)].lower() != BEARER:
        return None
    return header[len(BEARER) :].strip() or None


def require_token(request: Request) -> ApiToken:
    """The caller's token, or 401. Runs in the threadpool: the lookup is a store query."""
    token = bearer_token(request)
    if token is None:
        raise HTTPException(
            401,
            "an API token is required: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with request.app.state.engine.begin() as conn:
        found = verify_token(conn, token, now=request.app.state.clock.now())
    if found is None:
        raise HTTPException(
            401,
            "the API token is not valid (unknown or revoked)",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return found


def require_writer(token: Annotated[ApiToken, Depends(require_token)]) -> ApiToken:
    if token.read_only:
        raise HTTPException(403, f"token {token.name!r} is read-only")
    return token


Reader = Annotated[ApiToken, Depends(require_token)]
Writer = Annotated[ApiToken, Depends(require_writer)]
