"""``POST /webhooks/{source}``: the HTTP face of :mod:`deliverwatch.events.receive`.

Batches are all-or-nothing: a request is stored whole or not at all, and one malformed item
fails the request with 400 naming it. A body over ``server.max_body_bytes`` is refused with
413 as soon as its size is known, before it is read whole.

The route is served twice over the same code: :func:`asgi_webhook` is the plain ASGI handler
the app dispatches webhook posts to before FastAPI's middleware and dependency machinery
(which cost more CPU per request than verifying and parsing a single-event post), and
:func:`receive_webhook` is the FastAPI route, which documents the endpoint in the OpenAPI
schema and serves any request the fast path does not take.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import URL
from starlette.types import Receive, Scope, Send

from deliverwatch.events.providers.base import WebhookRequest
from deliverwatch.events.receive import Outcome, Receiver
from deliverwatch.service import metrics
from deliverwatch.store.writer import StoreUnavailable

router = APIRouter(tags=["webhooks"])
PREFIX = "/webhooks/"


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client disconnected before the body was read: nothing to answer."""


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def handle(
    receiver: Receiver, source: str, webhook: WebhookRequest
) -> tuple[int, dict[str, Any]]:
    """Status and JSON body answering one webhook request."""
    started = time.perf_counter()
    try:
        outcome: Outcome = await receiver.receive(source, webhook)
    except StoreUnavailable as exc:
        status, body = 503, {"error": str(exc)}
    except OSError as exc:  # an outbound confirmation fetch failed
        status, body = 502, {"error": f"upstream fetch failed: {exc}"}
    else:
        status, body = outcome.status, outcome.body
    _count(source if source in receiver.sources else "unknown", status, body, started)
    return status, body


def _count(source: str, status: int, body: dict[str, Any], started: float) -> None:
    metrics.WEBHOOK_LATENCY.labels(source).observe(time.perf_counter() - started)
    metrics.WEBHOOK_REQUESTS.labels(source, str(status)).inc()
    if status == 200:
        for outcome in ("inserted", "duplicates"):
            count = body.get(outcome)
            if isinstance(count, int) and count:
                metrics.WEBHOOK_EVENTS.labels(source, outcome).inc(count)


def too_large(limit: int) -> tuple[int, dict[str, Any]]:
    return 413, {"error": f"body larger than {limit} bytes"}


@router.post("/webhooks/{source}")
async def receive_webhook(source: str, request: Request) -> JSONResponse:
    """Verify, parse and durably store one ESP webhook request.

    200: stored (``inserted`` new, ``duplicates`` already stored). 400: malformed, nothing
    stored. 401/403: missing or bad signature, nothing stored. 404: unknown source. 413: body
    too large. 503: the store is unavailable; the ESP should retry.
    """
    limit: int = request.app.state.max_body_bytes
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        status, answer = too_large(limit)
        return JSONResponse(answer, status_code=status)
    webhook = WebhookRequest(
        body=body,
        headers={k.lower(): v for k, v in request.headers.items()},
        url=str(request.url),
        content_type=request.headers.get("content-type", ""),
    )
    status, answer = await handle(request.app.state.receiver, source, webhook)
    return JSONResponse(answer, status_code=status)


def fast_path_source(scope: Scope) -> str | None:
    """The source name when ``scope`` is a webhook post :func:`asgi_webhook` takes."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX) or scope.get("root_path"):
        return None
    source = path[len(PREFIX) :]
    return source if source and "/" not in source else None


async def asgi_webhook(state: Any, source: str, scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /webhooks/{source}`` as a plain ASGI handler (same answers as the route)."""
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
    limit: int = state.max_body_bytes
    try:
        body = await _read(receive, headers, limit)
    except ClientGone:
        return
    except BodyTooLarge:
        await _answer(send, *too_large(limit))
        return
    webhook = WebhookRequest(
        body=body,
        headers=headers,
        url=str(URL(scope=scope)),
        content_type=headers.get("content-type", ""),
    )
    await _answer(send, *await handle(state.receiver, source, webhook))


async def _read(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _answer(send: Send, status: int, answer: dict[str, Any]) -> None:
    body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
