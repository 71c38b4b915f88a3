"""The garbage collector's pace in processes that make millions of short-lived tuples.

CPython starts a collection of the young generation every 700 new containers, and now and
then a full one that walks every object alive: the imported modules of typer, pydantic and
SQLAlchemy included. A batch of 10,000 rows is 10,000 tuples, a webhook body of 500 events
thousands of dicts. At the default pace the store's side of the standard SendGrid import
spent 0.38-0.69 s in 519 collections, two of them full ones (0.10-0.19 s in 105 at this
pace), and the service 7-8% of its CPU (docs/benchmarks-events.md, benchmarks-service.md).

:func:`settle` freezes what is alive (what the imports made lives as long as the process,
so no collection needs to walk it) and collects the young generation every 50,000
containers. Garbage in reference cycles lives a little longer; rows and events make none.
"""

from __future__ import annotations

import gc

#: A young generation of 50,000 containers instead of 700; the older ones as CPython's.
THRESHOLDS = (50_000, 20, 100)


def settle(*, collect: bool = False) -> tuple[int, int, int]:
    """Freeze what is alive (after a full collection if ``collect``: worth it in a long-lived
    process, not in a command that ends in seconds) and slow the pace to :data:`THRESHOLDS`.
    Returns the thresholds before, for a caller that restores them."""
    if collect:
        gc.collect()
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    return before
