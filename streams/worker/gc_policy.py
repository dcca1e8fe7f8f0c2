"""The worker's garbage-collector policy: short young collections only, while it consumes.

Why: a worker holds its partitions' rows (engine and admission state), the record cache
(streams/worker/record_cache.py) and, until each checkpoint, the messages it applied:
hundreds of thousands of objects the cyclic collector tracks. The event loop serves
nothing while a collection runs, and a collection costs about a microsecond per object it
scans, so what the account API's p99 sees is the longest collection
(docs/performance.md, "Account layer, live"). Measured while a worker consumed 10,000
accounts' backlog, with a young collection every 50,000 allocations and CPython's
thresholds for the older generations (10, 10): young collections of 40-65 ms, middle ones
of 200-300 ms (every young object that survived since the last one: the applied messages
held until their checkpoint, the rows and records they created) and full ones of about
230 ms that found nothing to free.

So:
- young collections run every GEN0_THRESHOLD allocations (CPython's default is 700,
  which scanned a backlog's young rows over and over: 17 % of a worker's CPU), each over
  at most that many new objects: up to 26 ms measured in the same kind of run;
- the older generations are never collected by counts (OLDER_THRESHOLD); instead, after
  each checkpoint, every object alive then moves into the permanent generation
  (`gc.freeze()`, a list splice: no scan), which collections do not scan;
- every `full_every_s` the permanent generation is handed back (`gc.unfreeze()`) and one
  full collection scans everything (`collect_if_due`, at a checkpoint or from the
  worker's timer when it is idle), so reference cycles among long-lived objects are still
  reclaimed: one long pause in that period instead of several every few seconds.

Objects freed by reference counting (rows and records hold no reference cycles) are freed
at once as before; what this gives up is collecting, between two full collections, the
cycles that outlived a young collection (a few hundred objects per minute, measured).
Faust's own `gc.collect()` (its consumer's `wait_empty`, before a rebalance commits) still
collects every generation but the permanent one. Freezing after every batch instead of
every checkpoint was tried and dropped: with almost no collection between two unfreezes, a
worker that took over a killed worker's partitions served wrong records
(tests/integration/test_account_api.py).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

FULL_EVERY_S = 600.0
GEN0_THRESHOLD = 10_000
OLDER_THRESHOLD = 1_000_000  # young collections between two collections of an older one: never


def tune_collector() -> None:
    """Young collections only, by counts (see the module header); once, at the worker's start."""
    gc.set_threshold(GEN0_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)


class GcPolicy:
    """Call `checkpointed()` after each checkpoint and `collect_if_due()` now and then
    (see the module header)."""

    def __init__(
        self,
        full_every_s: float = FULL_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.full_every_s = full_every_s
        self.clock = clock
        self._since = clock()

    def checkpointed(self) -> None:
        if not self.collect_if_due():
            gc.freeze()

    def collect_if_due(self) -> bool:
        """One full collection over every object, frozen ones included, when the period
        is over; then the survivors leave the scans again. True when it ran."""
        now = self.clock()
        if now - self._since < self.full_every_s:
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._since = now
        return True
