"""The worker's garbage-collector policy: keep its long-lived state out of full collections.

Why: a worker holds its partitions' rows (engine and admission state) and the record cache
(streams/worker/record_cache.py): hundreds of thousands of objects the cyclic collector tracks.
CPython runs a full collection whenever the objects that survived since the last one reach
a quarter of the long-lived ones, and a worker catching up a backlog replaces records and
row parts fast enough for one every few seconds. Over 10,000 accounts one full collection
took 0.4-3.9 s on the shared development machine, and the event loop serves nothing
meanwhile: that was the p99 of the account API (docs/performance.md, "Account layer, live").

So after each unit of work that leaves long-lived objects behind (a batch of events
applied, a checkpoint, a slice of the record cache's refresh) the worker moves every
object alive then into the permanent generation (`gc.freeze()`, a constant-time list
splice), which collections do not scan: they see only what was created since, and a
collection costs microseconds to milliseconds. Freezing once per checkpoint (every 10 s
or 20,000 events) was not enough: in between, the rows and records a backlog creates
grow the young generations to hundreds of thousands of objects, and the full collections
CPython then runs over them took 17 % of a worker's CPU with the account layer on and
held the event loop for 0.2-1.4 s each (docs/performance.md, "Account layer, live").
Objects freed by reference counting (rows and records hold no reference cycles) are
freed as before; what freezing gives up is collecting reference cycles among frozen
objects. So every `unfreeze_every_s` the permanent generation is handed back
(`gc.unfreeze()`) and the next full collection scans everything: one long pause in that
period instead of one every few seconds, and cyclic garbage is still reclaimed.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

UNFREEZE_EVERY_S = 600.0


class GcPolicy:
    """Call `settled()` after each batch of events, checkpoint and refresh slice (see the
    module header)."""

    def __init__(
        self,
        unfreeze_every_s: float = UNFREEZE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unfreeze_every_s = unfreeze_every_s
        self.clock = clock
        self._since = clock()

    def settled(self) -> None:
        now = self.clock()
        if now - self._since >= self.unfreeze_every_s:
            gc.unfreeze()  # the next full collection scans everything once
            self._since = now
            return
        gc.freeze()
