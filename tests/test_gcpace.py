"""The collector's pace for processes that make millions of short-lived tuples."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from deliverwatch import gcpace


@pytest.fixture
def pace_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("pace_restored")
def test_settle_freezes_what_is_alive_and_collects_the_young_less_often() -> None:
    gc.set_threshold(700, 10, 10)
    alive = [[n] for n in range(1000)]  # containers made before: frozen
    before = gcpace.settle()
    assert before == (700, 10, 10)
    assert gc.get_threshold() == gcpace.THRESHOLDS
    assert gc.get_freeze_count() >= len(alive)


@pytest.mark.usefixtures("pace_restored")
def test_settle_can_collect_first_so_garbage_is_not_frozen() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.disable()
    try:
        kept, dropped = weakref.ref(Node()), weakref.ref(Node())  # cycles, unreachable
        gcpace.settle()
        assert kept() is not None  # frozen with the rest
        gc.unfreeze()
        gcpace.settle(collect=True)
        assert dropped() is None  # collected before the freeze
    finally:
        gc.enable()
