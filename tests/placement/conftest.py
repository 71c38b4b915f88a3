"""The placement test bed: one Dovecot (TLS on) per module, a fresh aiosmtpd "provider" and
fresh seed users per test, and settings that point a run at them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deliverwatch.placement.config import PlacementSettings
from tests.servers.dovecot import AVAILABLE, SKIP_REASON, DovecotServer
from tests.servers.seedbed import SeedBed
from tests.servers.spamd import SKIP_REASON as NO_SPAMD
from tests.servers.spamd import SPAMD, SpamdServer

PASSWORD = "seed-Secret-9f2c"


def _missing(reason: str) -> None:
    """Skip where a server is not installed, but fail under CI: .ci/run installs them, and a
    CI that silently skipped the placement tests would hide a broken install step."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    if not AVAILABLE:
        _missing(SKIP_REASON)
    with DovecotServer(tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def spamd() -> Iterator[tuple[str, int]]:
    if SPAMD is None:
        _missing(NO_SPAMD)
    with SpamdServer() as address:
        yield address


@pytest.fixture
def seeds(dovecot: DovecotServer) -> Callable[..., list[str]]:
    """Make ``n`` seed users with unique addresses (``folders`` added to each)."""

    def make(n: int, *, folders: tuple[str, ...] = ()) -> list[str]:
        run = uuid.uuid4().hex[:8]
        addresses = [f"seed{i}-{run}@seeds.test" for i in range(n)]
        for address in addresses:
            dovecot.add_user(address, PASSWORD, folders=folders, wait=False)
        dovecot.wait_for_login(addresses[-1])
        return addresses

    return make


@pytest.fixture
def bed(dovecot: DovecotServer) -> Iterator[Callable[..., SeedBed]]:
    started: list[SeedBed] = []

    def start(**options: Any) -> SeedBed:
        receiver = SeedBed(dovecot, **options).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def seed_entry(
    dovecot: DovecotServer,
    address: str,
    *,
    provider: str = "local",
    password: str = PASSWORD,
    mode: str = "tls",
) -> dict[str, Any]:
    """A ``seeds[]`` item: ``mode`` tls (implicit, verified), starttls or plain."""
    imap: dict[str, Any] = {"host": "127.0.0.1", "username": address, "password": password}
    if mode == "tls":
        imap.update(port=dovecot.imaps_port, tls=True)
    elif mode == "starttls":
        imap.update(port=dovecot.port, tls=False, starttls=True)
    else:
        imap.update(port=dovecot.port, tls=False)
    return {"address": address, "provider": provider, "imap": imap}


def placement_settings(
    dovecot: DovecotServer, bed: SeedBed, seeds: list[dict[str, Any]], **extra: Any
) -> PlacementSettings:
    data: dict[str, Any] = {
        "smtp": {"host": "127.0.0.1", "port": bed.port, "starttls": False},
        "from": "Brand News <news@brand.test>",
        "seeds": seeds,
        "timeout": 20,
        "poll_interval": 0.2,
        "ca_bundle": str(dovecot.ca_file),
    }
    data.update(extra)
    return PlacementSettings.model_validate(data)
