"""The ASGI application: webhook endpoints now; the API and dashboard mount here later.

    app = create_app(load_config())
    uvicorn.run(app)

The store is opened (and migrated) when the app starts, and the group-commit writer runs for
the app's lifetime; shutdown finishes every queued write before the process exits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.types import Receive, Scope, Send

from deliverwatch import __version__
from deliverwatch.config import Config
from deliverwatch.dns import Resolver
from deliverwatch.events.receive import Receiver
from deliverwatch.http import Fetcher, HttpSettings
from deliverwatch.service import webhooks
from deliverwatch.store import open_store
from deliverwatch.store.writer import GroupCommitWriter

SNS_CERTIFICATE_MAX_BYTES = 64_000


def create_app(
    config: Config,
    *,
    engine: Engine | None = None,
    now: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The service app for ``config``; ``engine`` and ``now`` are seams for tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = engine or open_store(config.database_url)
        writer = GroupCommitWriter(store)
        await writer.start()
        resolver = Resolver(
            config.dns.nameservers, timeout=config.dns.timeout, retries=config.dns.retries
        )
        fetcher = Fetcher(resolver, _http_settings(config)) if config.http.enabled else None

        async def fetch(url: str) -> bytes:
            assert fetcher is not None
            result = await fetcher.get(url, max_bytes=SNS_CERTIFICATE_MAX_BYTES)
            if not result.ok:
                raise OSError(result.error)
            return result.body

        app.state.engine = store
        app.state.writer = writer
        app.state.max_body_bytes = config.server.max_body_bytes
        app.state.receiver = Receiver(
            engine=store,
            writer=writer,
            sources={s.name: s.settings() for s in config.sources},
            fetch=fetch if fetcher is not None else None,
            now=now or (lambda: datetime.now(UTC)),
        )
        try:
            yield
        finally:
            await writer.stop()
            if fetcher is not None:
                await fetcher.aclose()
            if engine is None:
                store.dispose()

    app = App(title="deliverwatch", version=__version__, lifespan=lifespan)
    app.include_router(webhooks.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz() -> JSONResponse | dict[str, str]:
        """The store answers."""
        try:
            with app.state.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
        return {"status": "ok"}

    return app


class App(FastAPI):
    """FastAPI, with webhook posts dispatched straight to :func:`webhooks.asgi_webhook`.

    A webhook post needs none of the middleware, routing and dependency machinery, which
    costs more CPU than verifying and parsing a single-event post; the fast path answers
    exactly as the ``/webhooks/{source}`` route does. Middleware added to the app does not
    see webhook posts.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = webhooks.fast_path_source(scope)
        if source is not None:
            await webhooks.asgi_webhook(self.state, source, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _http_settings(config: Config) -> HttpSettings:
    return HttpSettings(
        timeout=config.http.timeout,
        max_bytes=config.http.max_bytes,
        allow_private=config.http.allow_private,
        ca_bundle=config.http.ca_bundle,
        https_port=config.http.https_port,
    )
