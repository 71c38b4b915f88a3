"""A few seconds' memory of the service's most expensive read, the overview of every domain.

Dashboards and API clients poll the overview, often several at once; its figures come from
minute rollups, so reading them again within seconds shows nothing new. An entry is kept for
``server.read_cache_seconds`` and dropped as soon as this process changes the store (a
group commit of webhook events, an API or dashboard action, a scheduled job): what a user
does shows at once. Changes made by other instances show within the time to live.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class ReadCache:
    def __init__(self, ttl: float, version: Callable[[], Hashable]) -> None:
        self.ttl = ttl
        self._version = version
        self._entries: dict[Hashable, tuple[float, Hashable, Any]] = {}
        self._lock = threading.Lock()
        self.changes = 0

    def changed(self) -> None:
        """Something this process did changed the store."""
        with self._lock:
            self.changes += 1
            self._entries.clear()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if self.ttl <= 0:
            return compute()
        version = (self._version(), self.changes)
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(key)
        if found is not None and found[0] > now and found[1] == version:
            return found[2]
        value = compute()
        with self._lock:
            self._entries[key] = (now + self.ttl, version, value)
        return value
