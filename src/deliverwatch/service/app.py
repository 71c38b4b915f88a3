"""The ASGI application: webhooks, the JSON API, the dashboard, health and metrics.

    app = create_app(load_config(), scheduler=True)
    uvicorn.run(app)

The store is opened (and migrated) when the app starts; the group-commit writer and, when
asked, the scheduler run for the app's lifetime. Shutdown finishes every queued write, gives
running jobs time to end, and releases the scheduler's leadership.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from deliverwatch import __version__, gcpace
from deliverwatch.clock import Clock, SystemClock
from deliverwatch.config import Config
from deliverwatch.dns import Resolver
from deliverwatch.events.receive import Receiver
from deliverwatch.http import Fetcher, HttpSettings
from deliverwatch.service import api, metrics, webhooks
from deliverwatch.service.dashboard import install_dashboard
from deliverwatch.service.readcache import ReadCache
from deliverwatch.store import open_store
from deliverwatch.store.writer import GroupCommitWriter

log = logging.getLogger(__name__)

SNS_CERTIFICATE_MAX_BYTES = 64_000


class _CallableClock:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now


def create_app(
    config: Config,
    *,
    engine: Engine | None = None,
    now: Callable[[], datetime] | None = None,
    clock: Clock | None = None,
    scheduler: bool = False,
) -> FastAPI:
    """The service app for ``config``. ``scheduler`` runs the scheduled jobs in the app's
    lifetime (``serve`` does; tests of the HTTP faces need not). ``engine``, ``now`` and
    ``clock`` are seams for tests."""
    the_clock: Clock = clock or (_CallableClock(now) if now is not None else SystemClock())

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
        app.state.resolver = resolver
        app.state.max_body_bytes = config.server.max_body_bytes
        app.state.receiver = Receiver(
            engine=store,
            writer=writer,
            sources={s.name: s.settings() for s in config.sources},
            fetch=fetch if fetcher is not None else None,
            now=the_clock.now,
        )
        app.state.read_cache = ReadCache(
            config.server.read_cache_seconds, lambda: writer.stats.groups
        )
        app.state.store_metrics = metrics.store_registry(
            lambda: read_store_gauges(store, config, the_clock)
        )
        runner = None
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        if scheduler and config.scheduler.enabled:
            from deliverwatch.scheduler.runner import Scheduler

            runner = Scheduler(config, store, the_clock, on_run=app.state.read_cache.changed)
            task = asyncio.create_task(runner.run(stop), name="scheduler")
        app.state.scheduler_leading = lambda: runner.leading if runner is not None else None
        # Everything loaded so far lives as long as the process: out of the collector's sight,
        # full collections no longer walk it, which took 60-80 ms pauses out of page loads.
        thresholds = gcpace.settle(collect=True)
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            stop.set()
            if task is not None:
                await task
            await writer.stop()
            if fetcher is not None:
                await fetcher.aclose()
            await resolver.aclose()
            if engine is None:
                store.dispose()

    app = App(
        title="deliverwatch",
        version=__version__,
        lifespan=lifespan,
        description="Email deliverability monitoring: webhooks, API, dashboard. "
        "API routes need `Authorization: Bearer <token>` (`deliverwatch tokens create`).",
    )
    app.state.config = config
    app.state.clock = the_clock
    app.state.scheduler_leading = lambda: None
    app.include_router(webhooks.router)
    app.include_router(api.router)
    install_dashboard(app, config, clock=the_clock)
    _install_errors(app)
    _install_request_metrics(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    def readyz() -> JSONResponse | dict[str, str]:
        """The store answers and its schema is current."""
        from deliverwatch.store.migrations import current_revision, head_revision

        try:
            with app.state.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                revision = current_revision(conn)
        except sa.exc.SQLAlchemyError as exc:
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
        head = head_revision()
        if revision != head:
            return JSONResponse(
                {"status": "migrations pending", "revision": revision, "head": head}, 503
            )
        return {"status": "ok", "revision": revision or ""}

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def prometheus(request: Request) -> Response:
        """Prometheus metrics (docs/metrics.md)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if config.server.metrics_require_token:
            from deliverwatch.service.security import require_token

            require_token(request)
        body = generate_latest(metrics.process_registry())
        body += generate_latest(app.state.store_metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


def app_from_environment() -> FastAPI:
    """The app of one ``serve --workers N`` process: the config from ``DELIVERWATCH_CONFIG``
    (or ./deliverwatch.yaml) and the environment, as the parent process read it."""
    from deliverwatch.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    return create_app(load_config(), scheduler=True)


def read_store_gauges(engine: Engine, config: Config, clock: Clock) -> dict[str, Any]:
    from deliverwatch.service.metricsread import read_gauges

    return read_gauges(engine, config, clock)


def _install_errors(app: FastAPI) -> None:
    """Errors as ``{"error": ..., "fields": [{"field", "message"}]}``: the field is named."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for error in exc.errors():
            loc = [
                str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
            ]
            fields.append({"field": ".".join(loc) or "body", "message": error.get("msg", "")})
        names = ", ".join(f["field"] for f in fields)
        return JSONResponse({"error": f"invalid {names}", "fields": fields}, status_code=422)

    @app.exception_handler(api.FieldError)
    async def field_error(_request: Request, exc: api.FieldError) -> JSONResponse:
        body = {
            "error": f"invalid {exc.field}: {exc.message}",
            "fields": [{"field": exc.field, "message": exc.message}],
        }
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _install_request_metrics(app: FastAPI) -> None:
    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        if request.method not in ("GET", "HEAD") and response.status_code < 400:
            request.app.state.read_cache.changed()  # an action (ack, silence, upload…)
        route = request.scope.get("route")
        name = getattr(route, "path", None) or "unmatched"
        if name != "/metrics":
            metrics.API_LATENCY.labels(name).observe(time.perf_counter() - started)
            metrics.API_REQUESTS.labels(name, str(response.status_code)).inc()
        return response


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
