"""The real service on 127.0.0.1 (uvicorn in a thread), with traffic posted through its
webhook endpoint and DMARC reports imported into its store: what the browser tests and
``bench/screenshots.py`` look at."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn

from deliverwatch.config import Config
from deliverwatch.service.app import create_app
from deliverwatch.store import begin_write, open_store
from deliverwatch.store.apitokens import create_token
from tests.dashboard.support import PROFILES, import_dmarc, records
from tests.servers.ports import free_port

HOOK_TOKEN = "dashboard-hook-token"
DOMAINS = ["shop.test", "news.test", "billing.test", "quiet.test"]
BATCH = 400


@dataclass(frozen=True, slots=True)
class Live:
    url: str
    database_url: str
    token: str  # may act
    read_only_token: str
    config: Config
    now: datetime


def config_for(folder: Path) -> Config:
    return Config.model_validate(
        {
            "database_url": f"sqlite:///{folder / 'deliverwatch.db'}",
            "domains": [{"name": name} for name in DOMAINS],
            "sources": [{"name": "hooks", "provider": "generic", "token": HOOK_TOKEN}],
            "http": {"enabled": False},
        }
    )


@contextlib.contextmanager
def live_service(folder: Path) -> Iterator[Live]:
    """Start the service on a fresh store, post ten days of traffic to ``/webhooks/hooks``,
    import a week of DMARC reports, and yield where it is and two API tokens."""
    config = config_for(folder)
    now = datetime.now(UTC)
    engine = open_store(config.database_url)
    with begin_write(engine) as conn:
        token, _ = create_token(conn, "ops", read_only=False, now=now)
        read_only, _ = create_token(conn, "viewer", read_only=True, now=now)
    import_dmarc(engine, folder / "dmarc", "shop.test", now)
    engine.dispose()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="none",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="dashboard-live", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, thread)
        _post_traffic(url, now)
        yield Live(url, config.database_url, token, read_only, config, now)
    finally:
        server.should_exit = True
        thread.join(30)


def _wait_ready(url: str, thread: threading.Thread, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        if not thread.is_alive():
            raise RuntimeError("the service thread exited at start")
        thread.join(0.05)  # waits 50 ms between polls
    raise RuntimeError(f"service not ready in {timeout} s")


def _post_traffic(url: str, now: datetime) -> None:
    headers = {"authorization": f"Bearer {HOOK_TOKEN}", "content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=30) as client:
        for profile in PROFILES:
            items = list(records(profile, now))
            for start in range(0, len(items), BATCH):
                body = "\n".join(json.dumps(item) for item in items[start : start + BATCH])
                response = client.post("/webhooks/hooks", content=body, headers=headers)
                assert response.status_code == 200, response.text
