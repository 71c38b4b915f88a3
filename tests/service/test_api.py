"""``/api/v1``, ``/readyz`` and ``/metrics`` through the real app (httpx over ASGI), on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.service.app import create_app
from deliverwatch.store import begin_write, insert_events
from deliverwatch.store.apitokens import create_token
from tests.dmarc.support import report_xml
from tests.service.support import running
from tests.store.factory import event

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@dataclass
class Api:
    client: httpx.AsyncClient
    engine: Engine
    writer: str
    reader: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(engine: Engine) -> AsyncIterator[Api]:
    with begin_write(engine) as conn:
        writer, _ = create_token(conn, "ops", read_only=False, now=NOW)
        reader, _ = create_token(conn, "grafana", read_only=True, now=NOW)
        events = [event("delivered", NOW - timedelta(hours=1)) for _ in range(40)]
        events += [event("bounced", NOW - timedelta(hours=1), bounce_class="hard")]
        events += [event("complained", NOW - timedelta(hours=2))]
        insert_events(conn, events)
    config = Config.model_validate({"domains": [{"name": "shop.test"}]})
    app = create_app(config, engine=engine, clock=FakeClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://dw") as client:
        yield Api(client, engine, writer, reader)


async def test_every_api_route_needs_a_token(api: Api) -> None:
    paths = ["/api/v1/domains", "/api/v1/stats", "/api/v1/suppressions", "/api/v1/jobs"]
    for path in paths:
        response = await api.client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "token" in response.json()["error"]
        bad = await api.client.get(path, headers=api.auth("dw_not-a-real-token"))
        assert bad.status_code == 401
        assert "not valid" in bad.json()["error"]


async def test_read_only_token_reads_but_cannot_change(api: Api) -> None:
    listed = await api.client.get("/api/v1/suppressions", headers=api.auth(api.reader))
    assert listed.status_code == 200
    body = {"recipient": "someone@example.org"}
    refused = await api.client.post("/api/v1/suppressions", json=body, headers=api.auth(api.reader))
    assert refused.status_code == 403
    assert "read-only" in refused.json()["error"]


async def test_stats_over_a_window(api: Api) -> None:
    response = await api.client.get(
        "/api/v1/stats",
        params={"domain": "shop.test", "window": "24h"},
        headers=api.auth(api.reader),
    )
    assert response.status_code == 200, response.text
    (row,) = response.json()["rows"]
    counts = row["counts"]
    assert (counts["delivered"], counts["hard_bounces"], counts["complaints"]) == (40, 1, 1)
    assert set(row["rates"]["complaint_rate"]) >= {"value", "low", "high"}
    by = await api.client.get(
        "/api/v1/stats",
        params={"window": "24h", "by": "mailbox-provider"},
        headers=api.auth(api.reader),
    )
    assert [r["group"] for r in by.json()["rows"]] == ["gmail"]


async def test_bad_input_names_the_field(api: Api) -> None:
    headers = api.auth(api.writer)
    window = await api.client.get("/api/v1/stats", params={"window": "soon"}, headers=headers)
    assert window.status_code == 422
    assert window.json()["fields"][0]["field"] == "window"
    by = await api.client.get("/api/v1/stats", params={"by": "planet"}, headers=headers)
    assert by.status_code == 422 and by.json()["fields"][0]["field"] == "by"
    bad = await api.client.post(
        "/api/v1/suppressions", json={"recipient": "not an address"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "recipient"
    assert "recipient" in bad.json()["error"]
    broken = await api.client.post(
        "/api/v1/suppressions",
        content=b"{",
        headers={**headers, "content-type": "application/json"},
    )
    assert broken.status_code == 422


async def test_suppressions_add_list_remove(api: Api) -> None:
    headers = api.auth(api.writer)
    body = {"recipient": "Someone@Example.org", "sending_domain": "shop.test"}
    created = await api.client.post("/api/v1/suppressions", json=body, headers=headers)
    assert created.status_code == 201, created.text
    listed = await api.client.get(
        "/api/v1/suppressions", params={"domain": "shop.test"}, headers=headers
    )
    recipients = [s["recipient"] for s in listed.json()["suppressions"]]
    assert "someone@example.org" in recipients
    removed = await api.client.delete(
        "/api/v1/suppressions",
        params={"recipient": "someone@example.org", "domain": "shop.test"},
        headers=headers,
    )
    assert removed.status_code == 200 and removed.json()["removed"] >= 1


async def test_domains_and_domain_detail(api: Api) -> None:
    headers = api.auth(api.reader)
    listed = await api.client.get("/api/v1/domains", headers=headers)
    assert listed.status_code == 200, listed.text
    domains = {d["domain"]: d for d in listed.json()["domains"]}
    assert "shop.test" in domains
    detail = await api.client.get(
        "/api/v1/domains/shop.test", params={"window": "24h"}, headers=headers
    )
    assert detail.status_code == 200, detail.text
    assert detail.json()["domain"] == "shop.test"
    wrong = await api.client.get(
        "/api/v1/domains/shop.test", params={"window": "1y"}, headers=headers
    )
    assert wrong.status_code == 422 and wrong.json()["fields"][0]["field"] == "window"


async def test_dmarc_upload_stores_reports_and_refuses_junk(api: Api) -> None:
    headers = api.auth(api.writer)
    xml = report_xml([{"ip": "192.0.2.1", "count": 5}], domain="shop.test", report_id="up-1")
    stored = await api.client.post(
        "/api/v1/dmarc/reports", content=xml, params={"filename": "r.xml"}, headers=headers
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["totals"] == {"imported": 1}
    again = await api.client.post("/api/v1/dmarc/reports", content=xml, headers=headers)
    assert again.status_code == 200 and again.json()["totals"] == {"duplicate": 1}
    junk = await api.client.post(
        "/api/v1/dmarc/reports",
        content=b"not a report",
        params={"filename": "x.bin"},
        headers=headers,
    )
    assert junk.status_code == 422
    assert junk.json()["outcomes"][0]["status"] == "error"
    empty = await api.client.post("/api/v1/dmarc/reports", content=b"", headers=headers)
    assert empty.status_code == 422 and empty.json()["fields"][0]["field"] == "body"
    summary = await api.client.get(
        "/api/v1/dmarc/summary",
        params={"domain": "shop.test", "window": "all", "rdns": "false"},
        headers=api.auth(api.reader),
    )
    assert summary.status_code == 200, summary.text
    assert summary.json()["messages"] == 5


async def test_health_readiness_docs_and_metrics(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    schema = (await api.client.get("/openapi.json")).json()
    assert {"/api/v1/domains", "/api/v1/alerts", "/api/v1/dmarc/reports"} <= set(schema["paths"])
    assert (await api.client.get("/docs")).status_code == 200
    await api.client.get("/api/v1/stats", headers=api.auth(api.reader))
    text = (await api.client.get("/metrics")).text
    assert 'deliverwatch_http_requests_total{route="/api/v1/stats",status="200"}' in text
    assert "deliverwatch_store_up 1.0" in text
    assert 'deliverwatch_domain_events_24h{domain="shop.test",type="delivered"} 40.0' in text
    assert 'deliverwatch_domain_rate{domain="shop.test",kind="hard_bounce"}' in text


async def test_jobs_endpoint_lists_runs(api: Api) -> None:
    response = await api.client.get("/api/v1/jobs", headers=api.auth(api.reader))
    assert response.status_code == 200
    assert response.json() == {"leader": None, "latest": {}, "runs": []}


async def test_metrics_pass_promtool_lint(api: Api) -> None:
    import asyncio
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (Debian package prometheus; .ci/run installs it)")
    await api.client.get("/api/v1/stats", headers=api.auth(api.reader))
    text = (await api.client.get("/metrics")).text
    result = await asyncio.to_thread(
        subprocess.run,
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_placement_runs_in_the_api_and_metrics(api: Api) -> None:
    from deliverwatch.placement.model import PlacementRun, SeedResult
    from deliverwatch.placement.store import record_run

    results = [
        SeedResult("a@gmail.test", "gmail", "inbox", folder="INBOX", seconds=2.0),
        SeedResult("b@gmail.test", "gmail", "spam", folder="Junk", seconds=3.0),
        SeedResult("c@yahoo.test", "yahoo", "inbox", folder="INBOX", seconds=1.0),
        SeedResult("d@yahoo.test", "yahoo", "missing"),
    ]
    run = PlacementRun("tok-1", NOW - timedelta(minutes=5), NOW, results, sender="news@shop.test")
    with begin_write(api.engine) as conn:
        record_run(conn, run)
    listed = await api.client.get("/api/v1/placement", headers=api.auth(api.reader))
    assert listed.status_code == 200, listed.text
    (stored,) = listed.json()["runs"]
    assert stored["overall"]["inbox_rate"] == 0.5
    text = (await api.client.get("/metrics")).text
    assert 'deliverwatch_placement_rate{folder="inbox",provider="all"} 0.5' in text
    assert 'deliverwatch_placement_rate{folder="spam",provider="gmail"} 0.5' in text


async def test_alerts_ack_resolve_and_silences(engine: Engine) -> None:
    from deliverwatch.alerts.engine import evaluate
    from tests.alerts.conftest import complaint_rule, events, make_config, store

    clock = FakeClock(NOW)
    config = make_config(rules=[complaint_rule(**{"for": "0s"})])
    store(engine, events(NOW - timedelta(minutes=30), delivered=2000, complaints=40))
    result = evaluate(engine, config, clock)
    assert result.to_dict()["fired"] == 1
    with begin_write(engine) as conn:
        writer, _ = create_token(conn, "ops", read_only=False, now=NOW)
        reader, _ = create_token(conn, "ro", read_only=True, now=NOW)
    app = create_app(config, engine=engine, clock=clock)
    transport = httpx.ASGITransport(app=app)
    w, r = {"Authorization": f"Bearer {writer}"}, {"Authorization": f"Bearer {reader}"}
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://dw") as c:
        listed = (await c.get("/api/v1/alerts", params={"state": "firing"}, headers=r)).json()
        (alert,) = listed["alerts"]
        assert alert["domain"] == "shop.test" and alert["state"] == "firing"
        one = await c.get(f"/api/v1/alerts/{alert['id']}", headers=r)
        assert one.status_code == 200 and one.json()["fingerprint"] == alert["fingerprint"]
        assert (await c.get("/api/v1/alerts/999999", headers=r)).status_code == 404
        assert (await c.post(f"/api/v1/alerts/{alert['id']}/ack", headers=r)).status_code == 403
        acked = await c.post(f"/api/v1/alerts/{alert['id']}/ack", headers=w)
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged_by"] == "api:ops"
        body = {"matchers": {"domain": "shop.test"}, "duration": "2h", "comment": "deploy"}
        silence = await c.post("/api/v1/silences", json=body, headers=w)
        assert silence.status_code == 201, silence.text
        silences = (await c.get("/api/v1/silences", headers=r)).json()["silences"]
        assert [s["id"] for s in silences] == [silence.json()["id"]]
        bad = await c.post(
            "/api/v1/silences", json={"matchers": {"planet": "mars"}, "duration": "1h"}, headers=w
        )
        assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "matchers"
        both = await c.post(
            "/api/v1/silences",
            json={"matchers": {"domain": "x.test"}, "duration": "1h", "ends_at": "2030-01-01"},
            headers=w,
        )
        assert both.status_code == 422 and both.json()["fields"][0]["field"] == "duration"
        ended = await c.delete(f"/api/v1/silences/{silence.json()['id']}", headers=w)
        assert ended.status_code == 200
        assert (await c.get("/api/v1/silences", headers=r)).json()["silences"] == []
        resolved = await c.post(f"/api/v1/alerts/{alert['id']}/resolve", headers=w)
        assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
        again = await c.post(f"/api/v1/alerts/{alert['id']}/resolve", headers=w)
        assert again.status_code == 409


async def test_audit_findings_in_the_metrics(api: Api) -> None:
    from deliverwatch.history import record_audit

    report = {
        "domain": "shop.test",
        "status": "error",
        "score": 60,
        "grade": "D",
        "findings": [
            {"code": "spf.missing", "severity": "error", "message": "no SPF"},
            {"code": "dmarc.policy_none", "severity": "warning", "message": "p=none"},
        ],
    }
    with begin_write(api.engine) as conn:
        record_audit(conn, report, NOW)
    text = (await api.client.get("/metrics")).text
    assert 'deliverwatch_domain_audit_findings{domain="shop.test",severity="error"} 1.0' in text
    assert 'deliverwatch_domain_audit_findings{domain="shop.test",severity="warning"} 1.0' in text
