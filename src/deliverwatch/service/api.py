"""``/api/v1``: the JSON API (OpenAPI at ``/docs``). Every route needs a bearer token;
changes need a token that is not read-only. Errors are ``{"error": ..., "fields": [...]}``.

Handlers are plain functions: FastAPI runs them in its threadpool, where the store's
blocking calls belong.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from deliverwatch.metrics.windows import WindowError, parse_instant, parse_window
from deliverwatch.service.security import Reader, Writer

router = APIRouter(prefix="/api/v1", tags=["api"])

WindowParam = Annotated[
    str, Query(description="A duration up to now (24h, 7d, 30d) or SINCE..UNTIL (ISO 8601).")
]


class Json(JSONResponse):
    """Content that is JSON-safe already (the read model's ``to_dict()``): serialized as it
    is, without FastAPI's per-value encoder walk, which cost more than building the data."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else self.encode(content)

    @staticmethod
    def encode(content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def raw(cls, body: bytes) -> Json:
        """A response of JSON already encoded (a cached answer)."""
        return cls(body)


def _window(text: str, now: datetime) -> tuple[datetime, datetime]:
    try:
        return parse_window(text, now)
    except WindowError as exc:
        raise FieldError("window", str(exc)) from None


class FieldError(Exception):
    """Bad input in one named field: answered 422 with the field's name."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def _domain(text: str) -> str:
    name = text.strip().rstrip(".").lower()
    if not name or len(name) > 253 or " " in name or "/" in name:
        raise FieldError("domain", f"{text!r} is not a domain name")
    return name


# -- domains -----------------------------------------------------------------------------------


@router.get(
    "/domains",
    summary="Every domain with its score, status and active alerts",
    response_class=JSONResponse,
)
def list_domains(request: Request, _token: Reader) -> JSONResponse:
    from deliverwatch.service import views

    state = request.app.state

    def read() -> bytes:
        with state.engine.connect() as conn:
            rows = views.overview(conn, state.config, state.clock)
        return Json.encode({"domains": [row.to_dict() for row in rows]})

    return Json.raw(state.read_cache.get("api:domains", read))


@router.get(
    "/domains/{domain}",
    summary="One domain: score, audit findings, rates, DMARC, alerts",
    response_class=JSONResponse,
)
def get_domain(
    request: Request,
    domain: str,
    _token: Reader,
    window: Annotated[Literal["24h", "7d", "30d", "90d"], Query()] = "7d",
) -> JSONResponse:
    from deliverwatch.service import views

    state = request.app.state
    with state.engine.connect() as conn:
        detail = views.domain_detail(conn, state.config, _domain(domain), window, state.clock)
    return Json(detail.to_dict())


@router.get("/domains/{domain}/audits", summary="Audit history, newest first, with changes")
def domain_audits(
    request: Request,
    domain: str,
    _token: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    from deliverwatch.history import audit_history

    with request.app.state.engine.connect() as conn:
        audits = audit_history(conn, _domain(domain), limit=limit)
    return {"domain": _domain(domain), "audits": [audit.to_dict() for audit in audits]}


# -- sending events ----------------------------------------------------------------------------


@router.get("/stats", summary="Counts and rates over a window, with 95% Wilson intervals")
def get_stats(
    request: Request,
    _token: Reader,
    domain: str | None = None,
    window: WindowParam = "24h",
    by: Annotated[Literal["mailbox-provider", "provider", "day"] | None, Query()] = None,
) -> dict[str, Any]:
    from deliverwatch.store import stats

    state = request.app.state
    since, until = _window(window, state.clock.now())
    with state.engine.connect() as conn:
        rows = stats(
            conn, domain=_domain(domain) if domain else None, since=since, until=until, by=by
        )
    return {
        "domain": domain,
        "window": window,
        "by": by,
        "rows": [row.to_dict() for row in rows],
    }


class SuppressionIn(BaseModel):
    recipient: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    sending_domain: str | None = Field(None, max_length=253)


@router.get("/suppressions", summary="Suppressed recipients")
def get_suppressions(
    request: Request,
    _token: Reader,
    domain: str | None = None,
    recipient: str | None = None,
    after: str | None = Query(None, description="Continue after this recipient (paging)."),
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    from deliverwatch.store import list_suppressions, suppressions_for

    with request.app.state.engine.connect() as conn:
        if recipient:
            rows = suppressions_for(conn, recipient, sending_domain=domain)
        else:
            rows = list_suppressions(conn, sending_domain=domain, after=after, limit=limit)
    items = [row.to_dict() for row in rows]
    return {"suppressions": items, "next": items[-1]["recipient"] if len(items) == limit else None}


@router.post("/suppressions", status_code=201, summary="Suppress a recipient (manual)")
def post_suppression(request: Request, body: SuppressionIn, _token: Writer) -> dict[str, Any]:
    from deliverwatch.store import add_suppression, begin_write

    state = request.app.state
    with begin_write(state.engine) as conn:
        add_suppression(
            conn, body.recipient, sending_domain=body.sending_domain, at=state.clock.now()
        )
    return {"recipient": body.recipient.lower(), "sending_domain": body.sending_domain}


@router.delete("/suppressions", summary="Lift a recipient's suppressions")
def delete_suppression(
    request: Request,
    _token: Writer,
    recipient: Annotated[str, Query(min_length=3)],
    domain: str | None = None,
) -> dict[str, Any]:
    from deliverwatch.store import begin_write, remove_suppressions

    with begin_write(request.app.state.engine) as conn:
        removed = remove_suppressions(conn, recipient, sending_domain=domain)
    return {"removed": removed}


# -- alerts ------------------------------------------------------------------------------------


@router.get("/alerts", summary="Alerts, newest first")
def get_alerts(
    request: Request,
    _token: Reader,
    state: Annotated[Literal["pending", "firing", "resolved"] | None, Query()] = None,
    domain: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    from deliverwatch.alerts.store import list_alerts

    with request.app.state.engine.connect() as conn:
        alerts = list_alerts(conn, state=state, domain=domain, limit=limit)
    return {"alerts": [alert.to_dict() for alert in alerts]}


@router.get("/alerts/{alert_id}", summary="One alert with its evidence")
def get_one_alert(request: Request, alert_id: int, _token: Reader) -> dict[str, Any]:
    from deliverwatch.alerts.store import get_alert

    with request.app.state.engine.connect() as conn:
        alert = get_alert(conn, alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    result: dict[str, Any] = alert.to_dict()
    return result


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge: stops reminders and escalation")
def ack_alert(request: Request, alert_id: int, token: Writer) -> dict[str, Any]:
    from deliverwatch.alerts.store import acknowledge

    state = request.app.state
    alert = _alert_action(
        lambda: acknowledge(state.engine, alert_id, f"api:{token.name}", state.clock)
    )
    return alert


@router.post("/alerts/{alert_id}/resolve", summary="Resolve by hand")
def resolve_alert(request: Request, alert_id: int, token: Writer) -> dict[str, Any]:
    from deliverwatch.alerts.store import resolve

    state = request.app.state
    return _alert_action(lambda: resolve(state.engine, alert_id, f"api:{token.name}", state.clock))


def _alert_action(action: Any) -> dict[str, Any]:
    try:
        alert = action()
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    if alert is None:
        raise HTTPException(404, "no such alert")
    result: dict[str, Any] = alert.to_dict()
    return result


class SilenceIn(BaseModel):
    matchers: dict[str, str] = Field(
        min_length=1, description='Label matchers, e.g. {"domain": "example.com"}.'
    )
    duration: str | None = Field(None, description="How long, e.g. 2h, 1d (or give ends_at).")
    ends_at: str | None = Field(None, description="ISO 8601 end (or give duration).")
    comment: str = Field("", max_length=1000)


@router.get("/silences", summary="Active silences")
def get_silences(request: Request, _token: Reader) -> dict[str, Any]:
    from deliverwatch.alerts.store import list_silences

    with request.app.state.engine.connect() as conn:
        silences = list_silences(conn, active_only=True, now=request.app.state.clock.now())
    return {"silences": [silence.to_dict() for silence in silences]}


@router.post("/silences", status_code=201, summary="Silence alerts matching the matchers")
def post_silence(request: Request, body: SilenceIn, token: Writer) -> dict[str, Any]:
    from deliverwatch.alerts.store import add_silence
    from deliverwatch.metrics.windows import parse_duration

    state = request.app.state
    now = state.clock.now()
    if (body.duration is None) == (body.ends_at is None):
        raise FieldError("duration", "give either duration or ends_at")
    try:
        if body.duration is not None:
            ends_at = now + parse_duration(body.duration)
        else:
            ends_at = parse_instant(body.ends_at or "")
    except WindowError as exc:
        raise FieldError("duration" if body.duration else "ends_at", str(exc)) from None
    if ends_at <= now:
        raise FieldError("ends_at", "the silence must end in the future")
    if ends_at - now > timedelta(days=366):
        raise FieldError("duration", "a silence lasts at most a year")
    try:
        silence = add_silence(
            state.engine, body.matchers, ends_at, f"api:{token.name}", body.comment, state.clock
        )
    except ValueError as exc:
        raise FieldError("matchers", str(exc)) from None
    result: dict[str, Any] = silence.to_dict()
    return result


@router.delete("/silences/{silence_id}", summary="End a silence now")
def delete_silence(request: Request, silence_id: int, _token: Writer) -> dict[str, Any]:
    from deliverwatch.alerts.store import remove_silence

    state = request.app.state
    removed = remove_silence(state.engine, silence_id, state.clock)
    if not removed:
        raise HTTPException(404, f"no active silence {silence_id}")
    return {"removed": silence_id}


# -- DMARC -------------------------------------------------------------------------------------


@router.post(
    "/dmarc/reports",
    status_code=200,
    summary="Upload DMARC aggregate/failure or SMTP TLS reports",
    description="The body is one report as received: XML, .xml.gz, .zip, an email (.eml) or "
    "TLS-RPT JSON (gzip or not). Name it with ?filename= (used in errors). Bombs and bodies "
    "over server.max_body_bytes are refused.",
)
async def upload_dmarc(
    request: Request,
    _token: Writer,
    filename: Annotated[str, Query(max_length=255)] = "upload",
) -> Any:
    """200: every report stored (or already stored); 207: some refused, the rest stored;
    422: nothing stored; 503: the store failed (retry). The body lists each outcome."""
    import asyncio

    from fastapi.responses import JSONResponse

    from deliverwatch.dmarc.importer import import_bytes
    from deliverwatch.service.webhooks import BodyTooLarge, read_body

    state = request.app.state
    try:
        data = await read_body(request, state.max_body_bytes)
    except BodyTooLarge:
        return JSONResponse({"error": f"body over {state.max_body_bytes} bytes"}, 413)
    if not data:
        raise FieldError("body", "the body is empty: send the report file as the body")
    summary = await asyncio.to_thread(import_bytes, state.engine, filename, data)
    totals = summary.totals()
    stored = totals.get("imported", 0) + totals.get("duplicate", 0)
    status = 200 if summary.ok else (207 if stored else 422)
    if any(outcome.retry for outcome in summary.errors) and not stored:
        status = 503  # the store failed, not the report: the client should retry
    return JSONResponse(summary.to_dict(), status_code=status)


@router.get("/dmarc/summary", summary="DMARC summary: pass rates, sources, readiness")
async def dmarc_summary(
    request: Request,
    _token: Reader,
    domain: str | None = None,
    window: WindowParam = "30d",
    rdns: Annotated[bool, Query(description="Name sources by reverse DNS.")] = True,
    rdns_limit: Annotated[int, Query(ge=0, le=20_000)] = 500,
) -> dict[str, Any]:
    from deliverwatch.dmarc.answers import read_summary

    state = request.app.state
    since: datetime | None = None
    until: datetime | None = None
    if window.strip().lower() != "all":
        since, until = _window(window, state.clock.now())
    summary = await read_summary(
        state.engine,
        domain=_domain(domain) if domain else None,
        since=since,
        until=until,
        resolver=state.resolver if rdns else None,
        rdns_limit=rdns_limit,
    )
    result: dict[str, Any] = summary.to_dict()
    return result


# -- service -----------------------------------------------------------------------------------


@router.get("/jobs", summary="Scheduled jobs: latest runs and failures")
def get_jobs(
    request: Request,
    _token: Reader,
    job: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    from deliverwatch.scheduler.runs import last_runs, recent_runs

    with request.app.state.engine.connect() as conn:
        latest = last_runs(conn)
        recent = recent_runs(conn, job=job, limit=limit)
    return {
        "leader": request.app.state.scheduler_leading(),
        "latest": {name: run.to_dict() for name, run in sorted(latest.items())},
        "runs": [run.to_dict() for run in recent],
    }


@router.get("/placement", summary="Inbox placement runs, newest first")
def get_placement(
    request: Request, _token: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> dict[str, Any]:
    from deliverwatch.placement.store import placement_history

    with request.app.state.engine.connect() as conn:
        runs = placement_history(conn, limit=limit)
    return {"runs": [run.to_dict() for run in runs]}
