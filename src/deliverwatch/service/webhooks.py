"""``POST /webhooks/{source}``: the HTTP face of :mod:`deliverwatch.events.receive`.

Batches are all-or-nothing: a request is stored whole or not at all, and one malformed item
fails the request with 400 naming it. A body over ``server.max_body_bytes`` is refused with
413 as soon as its size is known, before it is read whole.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from deliverwatch.events.providers.base import WebhookRequest
from deliverwatch.events.receive import Receiver
from deliverwatch.store.writer import StoreUnavailable

router = APIRouter(tags=["webhooks"])


class BodyTooLarge(Exception):
    pass


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


@router.post("/webhooks/{source}")
async def receive_webhook(source: str, request: Request) -> JSONResponse:
    """Verify, parse and durably store one ESP webhook request.

    200: stored (``inserted`` new, ``duplicates`` already stored). 400: malformed, nothing
    stored. 401/403: missing or bad signature, nothing stored. 404: unknown source. 413: body
    too large. 503: the store is unavailable; the ESP should retry.
    """
    receiver: Receiver = request.app.state.receiver
    try:
        body = await read_body(request, request.app.state.max_body_bytes)
    except BodyTooLarge:
        limit = request.app.state.max_body_bytes
        return JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413)
    webhook = WebhookRequest(
        body=body,
        headers={k.lower(): v for k, v in request.headers.items()},
        url=str(request.url),
        content_type=request.headers.get("content-type", ""),
    )
    try:
        outcome = await receiver.receive(source, webhook)
    except StoreUnavailable as exc:
        return JSONResponse({"error": str(exc)}, status_code=503)
    except OSError as exc:  # an outbound confirmation fetch failed
        return JSONResponse({"error": f"upstream fetch failed: {exc}"}, status_code=502)
    return JSONResponse(outcome.body, status_code=outcome.status)
