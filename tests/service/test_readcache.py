"""The overview's short-lived cache: kept between changes, dropped by any change here."""

from __future__ import annotations

from deliverwatch.service.readcache import ReadCache


def test_kept_until_the_version_moves_or_a_change_is_reported() -> None:
    version = [0]
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    cache = ReadCache(60.0, lambda: version[0])
    assert cache.get("k", compute) == 1
    assert cache.get("k", compute) == 1  # kept
    version[0] += 1  # the writer committed events
    assert cache.get("k", compute) == 2
    cache.changed()  # an action or a job
    assert cache.get("k", compute) == 3
    assert cache.get("other", compute) == 4  # keys apart


def test_expires_and_can_be_off() -> None:
    computed: list[int] = []
    expired = ReadCache(-1.0, lambda: 0)
    assert [expired.get("k", lambda: computed.append(1) or len(computed)) for _ in range(3)] == [
        1,
        2,
        3,
    ]
    off = ReadCache(0.0, lambda: 0)
    assert off.get("k", lambda: "fresh") == "fresh"
