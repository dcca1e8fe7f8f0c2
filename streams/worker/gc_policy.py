"""The worker's garbage-collector policy: keep its long-lived state out of full collections.

Why: a worker holds its partitions' rows (engine and admission state) and the record cache
(streams/worker/record_cache.py): hundreds of thousands of objects the cyclic collector tracks.
CPython runs a full collection whenever the objects that survived since the last one reach
a quarter of the long-lived ones, and a worker catching up a backlog replaces records and
row parts fast enough for one every few seconds. Over 10,000 accounts one full collection
took 0.4-3.9 s on the shared development machine, and the event loop serves nothing
meanwhile: that was the p99 of the account API (docs/performance.md, "Account layer, live").

So after each checkpoint the worker moves every object alive then into the permanent
generation (`gc.freeze()`), which collections do not scan: they see only what was created
since, and a full collection costs microseconds to milliseconds. Objects freed by reference
counting (rows and records hold no reference cycles) are freed as before; what freezing
gives up is collecting reference cycles among frozen objects. So every `unfreeze_every_s`
the permanent generation is handed back (`gc.unfreeze()`) and the next full collection
scans everything: one long pause in that period instead of one every few seconds, and
cyclic garbage is still reclaimed.

Between two checkpoints (10 s or 20,000 events) the rows and records a backlog creates
still grew the young generations to hundreds of thousands of objects, and with CPython's
default thresholds (a young collection every 700 allocations, a full one every 100 young
ones when the quarter rule allows) the collector scanned them over and over: 17 % of a
worker's CPU with the account layer on, full collections of about 0.2 s of CPU each
(docs/performance.md, "Account layer, live"). So the worker also collects less often
(`tune_collector`: a young collection every GEN0_THRESHOLD allocations), which keeps
collecting every cycle, only later. Freezing after every batch instead was tried and
dropped: with almost no collection between two unfreezes, a worker that took over a
killed worker's partitions served wrong records (tests/integration/test_account_api.py).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

UNFREEZE_EVERY_S = 600.0
GEN0_THRESHOLD = 50_000  # CPython's default is 700; the older generations keep theirs (10, 10)


def tune_collector() -> None:
    """Collect less often (see the module header); once, at the worker's start."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, older, oldest)


class GcPolicy:
    """Call `checkpointed()` after each checkpoint (see the module header)."""

    def __init__(
        self,
        unfreeze_every_s: float = UNFREEZE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unfreeze_every_s = unfreeze_every_s
        self.clock = clock
        self._since = clock()

    def checkpointed(self) -> None:
        now = self.clock()
        if now - self._since >= self.unfreeze_every_s:
            gc.unfreeze()  # the next full collection scans everything once
            self._since = now
            return
        gc.freeze()
