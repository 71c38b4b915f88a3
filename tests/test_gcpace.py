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
    alive = [[n] for n in range(3)]  # containers made before: frozen
    before = gcpace.settle()
    assert before == (700, 10, 10)
    assert gc.get_threshold() == gcpace.THRESHOLDS
    # The collector no longer sees them (get_objects lists its generations, not the frozen).
    assert not any(any(o is x for x in alive) for o in gc.get_objects())
    made_after = [0]
    assert any(o is made_after for o in gc.get_objects())


@pytest.mark.usefixtures("pace_restored")
def test_settle_can_collect_first_so_garbage_is_not_frozen() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.disable()
    try:
        garbage = weakref.ref(Node())  # a cycle, unreachable
        gcpace.settle()
        assert garbage() is not None  # frozen with the rest
        gc.unfreeze()
        gcpace.settle(collect=True)
        assert garbage() is None  # collected before the freeze
    finally:
        gc.enable()
