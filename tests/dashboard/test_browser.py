"""The dashboard in a real headless Chromium, against the real service whose data came in
through its webhook endpoint: pages render with that data, charts are drawn, sorting and
filtering work, pages need a login, actions need the CSRF token and a token that may act."""

from __future__ import annotations

import re
from typing import Any

from tests.dashboard.conftest import needs_chromium
from tests.dashboard.live import Live

pytestmark = needs_chromium

Page = Any  # playwright.sync_api.Page (imported lazily: the module is optional)


def sign_in(browser: Any, live: Live, token: str | None = None) -> Page:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(f"{live.url}/")
    assert "/login" in page.url
    page.fill("#token", token or live.token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
    return page


def path_points(page: Page, selector: str) -> list[int]:
    """The number of drawn points of each path matching ``selector``."""
    return page.eval_on_selector_all(
        selector, "paths => paths.map(p => (p.getAttribute('d').match(/[ML]/g) || []).length)"
    )


def test_pages_need_a_login_and_a_valid_token(browser: Any, live: Live) -> None:
    context = browser.new_context()
    page = context.new_page()
    for path in ("/", "/domains/shop.test", "/alerts"):
        page.goto(f"{live.url}{path}")
        assert re.search(r"/login\?next=", page.url), path
    page.fill("#token", "dw_not-a-token")
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text() == "That token is not valid."
    assert context.cookies() == [] or all(c["name"] != "dw_session" for c in context.cookies())
    context.close()


def test_session_cookie_is_http_only_and_same_site(browser: Any, live: Live) -> None:
    page = sign_in(browser, live)
    cookie = next(c for c in page.context.cookies() if c["name"] == "dw_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http here; https requests get Secure
    assert live.token not in cookie["value"]
    page.context.close()


def test_overview_answers_is_anything_wrong(browser: Any, live: Live) -> None:
    page = sign_in(browser, live)
    verdict = page.locator("#verdict h1").inner_text()
    assert verdict == "2 of 4 domains need attention"
    rows = page.locator("#domains tbody tr")
    assert rows.count() == 4
    statuses = dict(
        zip(
            rows.evaluate_all("rs => rs.map(r => r.dataset.domain)"),
            rows.evaluate_all("rs => rs.map(r => r.dataset.status)"),
            strict=True,
        )
    )
    assert statuses == {
        "news.test": "critical",
        "billing.test": "critical",
        "shop.test": "ok",
        "quiet.test": "unknown",
    }
    assert "complaint rate" in page.locator("tr[data-domain='news.test'] .reasons").inner_text()
    # sparklines: drawn with points for domains with mail, empty for the quiet one
    shop = path_points(page, "tr[data-domain='shop.test'] svg.sparkline path.series")
    assert len(shop) == 2 and all(n >= 10 for n in shop)
    assert path_points(page, "tr[data-domain='quiet.test'] svg.sparkline path.series") == [0, 0]
    page.context.close()


def test_overview_sorts_and_filters(browser: Any, live: Live) -> None:
    page = sign_in(browser, live)

    def shown() -> list[str]:
        return page.eval_on_selector_all(
            "#domains tbody tr:not([hidden])", "rs => rs.map(r => r.dataset.domain)"
        )

    page.click("#domains th[data-key=domain]")
    assert shown() == ["billing.test", "news.test", "quiet.test", "shop.test"]
    page.click("#domains th[data-key=domain]")
    assert shown() == ["shop.test", "quiet.test", "news.test", "billing.test"]
    page.click("#domains th[data-key=sent]")
    assert shown()[0] == "quiet.test"  # nothing sent
    page.focus("#domains th[data-key=domain]")
    page.keyboard.press("Enter")  # sortable from the keyboard
    assert shown() == ["billing.test", "news.test", "quiet.test", "shop.test"]
    page.fill("#filter", "shop")
    assert shown() == ["shop.test"]
    page.fill("#filter", "")
    page.select_option("#status-filter", "critical")
    assert sorted(shown()) == ["billing.test", "news.test"]
    assert page.locator("#shown").inner_text() == "2 shown"
    page.context.close()


def test_domain_page_draws_rate_charts_with_thresholds(browser: Any, live: Live) -> None:
    page = sign_in(browser, live)
    page.click("a[href='/domains/news.test']")
    page.wait_for_url(re.compile(r"/domains/news\.test"))
    assert page.locator("h1 .status").inner_text().lower() == "critical"
    for chart in ("bounce_rate", "complaint_rate", "deferral_rate", "engagement"):
        points = path_points(page, f"#chart-{chart} path.series")
        assert points and max(points) >= 20, (chart, points)  # 28 six-hour buckets in 7 days
    thresholds = page.eval_on_selector_all(
        "#chart-complaint_rate line.threshold", "ls => ls.map(l => Number(l.dataset.value))"
    )
    assert thresholds == [0.001, 0.003]
    providers = page.eval_on_selector_all(
        "table.providers tbody td:first-child", "cs => cs.map(c => c.textContent)"
    )
    assert sorted(providers) == ["gmail", "microsoft", "yahoo"]
    assert len(path_points(page, "#chart-provider-complaint path.series")) == 3
    page.click("nav.windows a:text('24h')")
    page.wait_for_url(re.compile(r"window=24h"))
    assert max(path_points(page, "#chart-complaint_rate path.series")) >= 20  # hourly
    assert page.locator("nav.windows a[aria-current]").inner_text() == "24h"
    page.context.close()


def test_domain_page_shows_dmarc_sources_and_suppressions(browser: Any, live: Live) -> None:
    page = sign_in(browser, live)
    page.goto(f"{live.url}/domains/shop.test?window=30d")
    ips = page.eval_on_selector_all(
        "table.sources tbody tr td code", "cs => cs.map(c => c.textContent)"
    )
    assert ips == ["192.0.2.10", "198.51.100.7"]
    assert max(path_points(page, "#chart-dmarc path.series")) == 7  # a week of reports
    assert "hard bounce" in page.locator("section.split").first.inner_text()
    page.context.close()


def test_post_actions_need_the_csrf_token(browser: Any, live: Live) -> None:
    page = sign_in(browser, live)
    request = page.context.request
    answer = request.post(f"{live.url}/silences", form={"domain": "news.test", "hours": "4"})
    assert answer.status == 403
    assert "CSRF" in answer.text()
    answer = request.post(f"{live.url}/logout", form={"csrf": "wrong"})
    assert answer.status == 403
    page.goto(f"{live.url}/")
    assert page.url == f"{live.url}/"  # still signed in
    page.context.close()


def test_read_only_tokens_cannot_act(browser: Any, live: Live) -> None:
    page = sign_in(browser, live, live.read_only_token)
    assert "read-only" in page.locator("header .who").inner_text()
    page.goto(f"{live.url}/alerts")
    assert page.locator("#new-silence").count() == 0
    csrf = page.locator("header .who input[name=csrf]").get_attribute("value")
    answer = page.context.request.post(
        f"{live.url}/silences", form={"csrf": csrf, "domain": "news.test", "hours": "4"}
    )
    assert answer.status == 403
    assert "read-only" in answer.text()
    page.context.close()


def test_logout_ends_the_session(browser: Any, live: Live) -> None:
    page = sign_in(browser, live)
    page.click("header .who button")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(f"{live.url}/alerts")
    assert "/login" in page.url
    page.context.close()


def test_acknowledge_and_silence_alerts(browser: Any, live: Live) -> None:
    from datetime import timedelta

    from deliverwatch.alerts.engine import evaluate
    from deliverwatch.clock import FakeClock
    from deliverwatch.store import open_store

    engine = open_store(live.database_url)
    clock = FakeClock(live.now)
    try:  # the first cycle opens pending alerts; the next one, past their `for`, fires them
        evaluate(engine, live.config, clock)
        clock.advance(timedelta(minutes=11))
        evaluate(engine, live.config, clock)
    finally:
        engine.dispose()
    page = sign_in(browser, live)
    page.goto(f"{live.url}/alerts")
    active = page.locator("#active-alerts tbody tr")
    assert active.count() >= 1
    assert "news.test" in page.locator("#active-alerts").inner_text()
    first = active.first
    alert_id = first.get_attribute("data-alert")
    first.locator("button.ack").click()
    page.wait_for_url(re.compile(r"done=acknowledged"))
    row = page.locator(f"#active-alerts tr[data-alert='{alert_id}']")
    assert "by ops" in row.inner_text()
    row.locator("form.silence button").click()
    page.wait_for_url(re.compile(r"done=silenced"))
    assert page.locator("#silences tbody tr").count() >= 1
    page.context.close()


def test_placement_page_shows_the_latest_run(browser: Any, live: Live) -> None:
    from datetime import timedelta

    from deliverwatch.placement.model import PlacementRun, SeedResult
    from deliverwatch.placement.store import record_run
    from deliverwatch.store import begin_write, open_store

    seeds = [
        SeedResult("seed1@gmail.test", "gmail", "inbox", folder="INBOX", seconds=4.2),
        SeedResult("seed2@gmail.test", "gmail", "spam", folder="Junk", seconds=5.0),
        SeedResult("seed3@yahoo.test", "yahoo", "missing", error="not found in 300 s"),
    ]
    run = PlacementRun(
        token="dwp-test",
        started_at=live.now - timedelta(minutes=10),
        finished_at=live.now - timedelta(minutes=5),
        results=seeds,
        sender="news@shop.test",
    )
    engine = open_store(live.database_url)
    try:
        with begin_write(engine) as conn:
            record_run(conn, run)
    finally:
        engine.dispose()
    page = sign_in(browser, live)
    page.click("nav a[href='/placement']")
    page.wait_for_url(re.compile(r"/placement"))
    rows = page.eval_on_selector_all(
        "#placement-seeds tbody tr", "rs => rs.map(r => r.cells[2].textContent.trim())"
    )
    assert rows == ["inbox", "spam", "missing"]
    providers = page.locator("#placement-providers tbody tr")
    assert providers.count() == 2
    assert "news@shop.test" in page.locator("main").inner_text()
    page.context.close()
