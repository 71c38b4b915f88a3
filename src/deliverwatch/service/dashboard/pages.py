"""The dashboard's routes: login and logout, the overview, a domain, alerts (with their
actions) and placement. Handlers are plain functions (FastAPI runs them in its thread pool,
so store reads never block the event loop); all they do is check the session, call a view
and render a template."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.engine import Engine

from deliverwatch.clock import Clock, SystemClock
from deliverwatch.config import Config
from deliverwatch.service import readers, views
from deliverwatch.service.dashboard import charts, session
from deliverwatch.service.dashboard.session import Session

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
SILENCE_HOURS = (1, 4, 24, 168)
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def install_dashboard(app: FastAPI, config: Config, *, clock: Clock | None = None) -> None:
    """Add the dashboard's routes and ``/static`` to ``app``. The store is read through
    ``app.state.engine`` (set when the app starts)."""
    dashboard = Dashboard(config, clock or SystemClock())
    app.state.dashboard = dashboard
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(dashboard.router())


class Dashboard:
    def __init__(self, config: Config, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._secret: bytes | None = None
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(
            pct=_pct, when=self._when, number=_number, score=_score, short=_short
        )
        self.templates.globals.update(
            line_chart=_markup(charts.line_chart),
            sparkline=_markup(charts.sparkline),
            line=_line,
            provider_lines=_provider_lines,
            ChartThreshold=charts.Threshold,
            windows=views.WINDOWS,
            silence_hours=SILENCE_HOURS,
        )

    # -- plumbing ------------------------------------------------------------------------------

    def secret(self, engine: Engine) -> bytes:
        if self._secret is None:
            self._secret = session.server_secret(self.config.server.session_secret, engine)
        return self._secret

    def session(self, request: Request) -> Session | None:
        """The signed-in session, if its token has not been revoked since."""
        engine: Engine = request.app.state.engine
        value = request.cookies.get(session.COOKIE)
        found = session.decode(value, self.secret(engine), self.clock.now())
        if found is None:
            return None
        with engine.connect() as conn:
            return found if readers.token_active(conn, found.token_id) else None

    def render(
        self, name: str, request: Request, user: Session | None, status: int = 200, **data: Any
    ) -> HTMLResponse:
        html = self.templates.get_template(name).render(
            request=request, user=user, path=request.url.path, **data
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def _when(self, value: Any) -> str:
        """An instant as "5 min ago (2026-11-28 03:10 UTC)"."""
        moment = readers.parse_time(value)
        if moment is None:
            return "—"
        seconds = int((self.clock.now() - moment).total_seconds())
        if seconds < 0:
            ago = "in the future"
        elif seconds < 90:
            ago = "just now"
        elif seconds < 5400:
            ago = f"{seconds // 60} min ago"
        elif seconds < 2 * 86400:
            ago = f"{seconds // 3600} h ago"
        else:
            ago = f"{seconds // 86400} days ago"
        return f"{ago} ({moment:%Y-%m-%d %H:%M} UTC)"

    # -- routes --------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)

        def login_required(request: Request) -> RedirectResponse:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", 303)

        @router.get("/login")
        def login_form(request: Request, next: str = "/") -> HTMLResponse:
            token = request.cookies.get(session.LOGIN_COOKIE) or secrets.token_urlsafe(24)
            response = self.render("login.html", request, None, next=_safe_next(next), csrf=token)
            _set_cookie(response, request, session.LOGIN_COOKIE, token, max_age=3600)
            return response

        @router.post("/login", response_model=None)
        def login(
            request: Request,
            token: Annotated[str, Form()] = "",
            csrf: Annotated[str, Form()] = "",
            next: Annotated[str, Form()] = "/",
        ) -> Response:
            expected = request.cookies.get(session.LOGIN_COOKIE)
            if not expected or not secrets.compare_digest(expected, csrf):
                return self.render(
                    "login.html",
                    request,
                    None,
                    403,
                    next=_safe_next(next),
                    csrf=expected or "",
                    error="The form expired; please sign in again.",
                )
            engine: Engine = request.app.state.engine
            with engine.connect() as conn:
                identity = readers.verify_token(conn, token.strip()) if token.strip() else None
            if identity is None:
                return self.render(
                    "login.html",
                    request,
                    None,
                    401,
                    next=_safe_next(next),
                    csrf=expected,
                    error="That token is not valid.",
                )
            made = session.new_session(
                identity.name, identity.read_only, self.clock.now(), identity.id
            )
            response = RedirectResponse(_safe_next(next), 303, headers=SECURITY_HEADERS)
            _set_cookie(
                response,
                request,
                session.COOKIE,
                session.encode(made, self.secret(engine)),
                max_age=session.MAX_AGE,
            )
            response.delete_cookie(session.LOGIN_COOKIE, path="/")
            return response

        @router.post("/logout", response_model=None)
        def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
            user = self.session(request)
            if user is not None and not user.valid_csrf(csrf):
                return _refuse("missing or wrong CSRF token")
            response = RedirectResponse("/login", 303, headers=SECURITY_HEADERS)
            response.delete_cookie(session.COOKIE, path="/")
            return response

        @router.get("/", response_model=None)
        def overview_page(request: Request) -> Response:
            user = self.session(request)
            if user is None:
                return login_required(request)

            def read() -> list[views.DomainOverview]:
                with request.app.state.engine.connect() as conn:
                    return views.overview(conn, self.config, self.clock)

            rows = request.app.state.read_cache.get("overview", read)
            counts = {status: 0 for status in views.STATUS_ORDER}
            for row in rows:
                counts[row.status] += 1
            return self.render(
                "overview.html",
                request,
                user,
                rows=rows,
                counts=counts,
                thresholds=views.thresholds_for(self.config),
            )

        @router.get("/domains/{domain}", response_model=None)
        def domain_page(request: Request, domain: str, window: str = "7d") -> Response:
            user = self.session(request)
            if user is None:
                return login_required(request)
            if window not in views.WINDOW_STEPS:
                window = "7d"
            with request.app.state.engine.connect() as conn:
                detail = views.domain_detail(conn, self.config, domain, window, self.clock)
            time_format = "%H:%M" if detail.step < 86400 and window == "24h" else "%b %d"
            return self.render(
                "domain.html",
                request,
                user,
                d=detail,
                time_format=time_format,
            )

        @router.get("/alerts", response_model=None)
        def alerts_list(request: Request, done: str = "") -> Response:
            user = self.session(request)
            if user is None:
                return login_required(request)
            with request.app.state.engine.connect() as conn:
                page = views.alerts_page(conn, self.clock)
            return self.render("alerts.html", request, user, page=page, done=done)

        def act(request: Request, csrf: str) -> Session | Response:
            user = self.session(request)
            if user is None:
                return _refuse("not signed in", 401)
            if not user.valid_csrf(csrf):
                return _refuse("missing or wrong CSRF token")
            if user.read_only:
                return _refuse("this token is read-only")
            return user

        @router.post("/alerts/{alert_id}/ack", response_model=None)
        def acknowledge(
            request: Request, alert_id: int, csrf: Annotated[str, Form()] = ""
        ) -> Response:
            user = act(request, csrf)
            if not isinstance(user, Session):
                return user
            try:
                found = readers.acknowledge(
                    request.app.state.engine, alert_id, user.name, self.clock
                )
            except ValueError as exc:  # resolved meanwhile
                return _refuse(str(exc), 409)
            if not found:
                return _refuse(f"no alert {alert_id}", 404)
            return RedirectResponse("/alerts?done=acknowledged", 303, headers=SECURITY_HEADERS)

        @router.post("/silences", response_model=None)
        def silence(
            request: Request,
            csrf: Annotated[str, Form()] = "",
            domain: Annotated[str, Form()] = "",
            rule: Annotated[str, Form()] = "",
            fingerprint: Annotated[str, Form()] = "",
            hours: Annotated[int, Form()] = 4,
            comment: Annotated[str, Form()] = "",
        ) -> Response:
            user = act(request, csrf)
            if not isinstance(user, Session):
                return user
            given = (("domain", domain), ("rule", rule), ("fingerprint", fingerprint))
            matchers = {key: value.strip() for key, value in given if value.strip()}
            if not matchers or not 0 < hours <= 24 * 90:
                return _refuse(
                    "a silence needs a domain, a rule or an alert, and 1 h to 90 days", 400
                )
            ends_at = self.clock.now() + timedelta(hours=hours)
            try:
                readers.add_silence(
                    request.app.state.engine,
                    matchers,
                    ends_at,
                    user.name,
                    comment.strip() or "silenced from the dashboard",
                    self.clock,
                )
            except ValueError as exc:
                return _refuse(str(exc), 400)
            return RedirectResponse("/alerts?done=silenced", 303, headers=SECURITY_HEADERS)

        @router.post("/silences/{silence_id}/expire", response_model=None)
        def unsilence(
            request: Request, silence_id: int, csrf: Annotated[str, Form()] = ""
        ) -> Response:
            user = act(request, csrf)
            if not isinstance(user, Session):
                return user
            if not readers.remove_silence(request.app.state.engine, silence_id, self.clock):
                return _refuse(f"no active silence {silence_id}", 404)
            return RedirectResponse("/alerts?done=expired", 303, headers=SECURITY_HEADERS)

        @router.get("/placement", response_model=None)
        def placement_page(request: Request) -> Response:
            user = self.session(request)
            if user is None:
                return login_required(request)
            with request.app.state.engine.connect() as conn:
                run = readers.latest_placement(conn)
            return self.render("placement.html", request, user, run=run)

        return router


def _set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _refuse(reason: str, status: int = 403) -> HTMLResponse:
    body = f"<!doctype html><title>{status}</title><p>{Markup.escape(reason)}</p>"
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _safe_next(target: str) -> str:
    """Only a path on this site (no open redirect through ``//host`` or a scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _markup(function: Callable[..., str]) -> Callable[..., Markup]:
    def wrapped(*args: Any, **kwargs: Any) -> Markup:
        return Markup(function(*args, **kwargs))  # noqa: S704 - charts escape their text

    return wrapped


def _line(series: views.Series, name: str) -> charts.Line:
    return charts.Line(name, [(point.at, point.value) for point in series.points])


def _provider_lines(providers: list[views.ProviderBreakdown], rate: str) -> list[charts.Line]:
    return [_line(p.series[rate], p.mailbox_provider) for p in providers]


def _pct(value: Any) -> str:
    return charts.percent(float(value)) if isinstance(value, int | float) else "—"


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "—"


def _score(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, int | float) else "—"


def _short(value: Any, length: int = 80) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= length else text[: length - 1] + "…"
