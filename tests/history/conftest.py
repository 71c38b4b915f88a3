"""Store fixtures on SQLite and PostgreSQL (shared with tests/store), and a DNS server of our
own whose zone data the job tests change between audits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.dnsserver import ZONES_DIR, DNSServer, ZoneData

HERE = Path(__file__).resolve().parent
#: The first state of history.test is served by the shared test server too.
ZONE_V1 = ZONES_DIR / "history.test.zone"
#: The same zone after an operator's mistakes (not in tests/zones: only our server loads it).
ZONE_V2 = HERE / "zones" / "history.test.v2.zone"
#: Reverse DNS of the MX hosts (forward-confirmed).
REVERSE_ZONE = HERE / "zones" / "0.18.198.in-addr.arpa.zone"
BLOCKLIST_ZONES = (ZONES_DIR / "dnsbl.bl.test.zone", ZONES_DIR / "dbl.bl.test.zone")


def zone_data(history_zone: Path) -> ZoneData:
    data = ZoneData()
    data.load_file(history_zone, origin="history.test")
    for path in BLOCKLIST_ZONES:
        data.load_file(path)
    data.load_file(REVERSE_ZONE)
    return data


@pytest.fixture
def history_dns() -> Iterator[DNSServer]:
    """Serves history.test (v1) and the test blocklists; tests swap ``server.data`` to
    ``zone_data(ZONE_V2)`` to change records between two audits, and use ``behave`` to make
    lookups fail."""
    server = DNSServer(zone_data(ZONE_V1))
    server.start()
    yield server
    server.stop()
