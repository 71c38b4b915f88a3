"""Screenshots of the dashboard for docs/dashboard.md, taken from the real service.

    .venv/bin/python bench/screenshots.py [--out docs/screenshots]

Starts the service on a fresh store (tests/dashboard/live.py: ten days of traffic posted to
its webhook endpoint, a week of DMARC reports), stores two audits of shop.test (so the
domain page has findings and "what changed"), runs two alert evaluation cycles (so alerts
fire), then signs in with Chromium and saves overview.png, domain.png and alerts.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.dashboard.live import Live, live_service  # noqa: E402

from deliverwatch import config as _config  # noqa: E402, F401  (before alerts: import order)
from deliverwatch.alerts.engine import evaluate  # noqa: E402
from deliverwatch.auth.findings import CATALOGUE  # noqa: E402
from deliverwatch.clock import FakeClock  # noqa: E402
from deliverwatch.history.store import record_audit  # noqa: E402
from deliverwatch.store import begin_write, open_store  # noqa: E402

SECTIONS = ("spf", "dmarc", "dkim", "bimi", "mta_sts", "tlsrpt", "mx", "blocklists")


def finding(code: str, message: str) -> dict[str, str]:
    spec = CATALOGUE[code]
    return {"code": code, "severity": spec.severity.value, "message": message, "fix": spec.fix}


def audit_report(domain: str, findings: list[dict[str, str]], policy: str) -> dict[str, object]:
    worst = {f["severity"] for f in findings}
    status = "error" if "error" in worst else "warning" if "warning" in worst else "ok"
    report: dict[str, object] = {name: {"status": "ok"} for name in SECTIONS}
    report.update(
        domain=domain,
        score=78 if status == "warning" else 95,
        grade="C" if status == "warning" else "A",
        status=status,
        findings=findings,
        dmarc={"status": "ok", "policy": policy, "record": f"v=DMARC1; p={policy}"},
    )
    return report


def seed(live: Live) -> None:
    engine = open_store(live.database_url)
    try:
        with begin_write(engine) as conn:
            before = [finding("dmarc.no_rua", "No rua= address: no aggregate reports.")]
            record_audit(
                conn, audit_report("shop.test", before, "quarantine"), live.now - timedelta(hours=2)
            )
            after = [
                finding("dmarc.policy_none", "p=none: failing mail is delivered anyway."),
                finding("spf.void_lookups", "3 SPF lookups return no records (limit 2)."),
            ]
            record_audit(
                conn, audit_report("shop.test", after, "none"), live.now - timedelta(minutes=20)
            )
        clock = FakeClock(live.now - timedelta(minutes=30))
        evaluate(engine, live.config, clock)
        clock.advance(timedelta(minutes=15))
        evaluate(engine, live.config, clock)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory() as folder,
        live_service(Path(folder)) as live,
        sync_playwright() as playwright,
    ):
        seed(live)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(f"{live.url}/login")
        page.fill("#token", live.token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live.url}/")
        shots = {
            "overview.png": "/",
            "domain.png": "/domains/shop.test?window=7d",
            "alerts.png": "/alerts",
        }
        for name, path in shots.items():
            page.goto(f"{live.url}{path}")
            page.screenshot(path=str(args.out / name), full_page=True)
            print(args.out / name)
        browser.close()


if __name__ == "__main__":
    main()
