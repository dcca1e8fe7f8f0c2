"""streams/worker/gc_policy.py: young collections only by counts; after a checkpoint the live
objects leave the collector's scans; once per period one full collection over everything,
so that reference cycles are still collected."""

from __future__ import annotations

import gc
import weakref

from streams.worker.gc_policy import GEN0_THRESHOLD, OLDER_THRESHOLD, GcPolicy, tune_collector


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_checkpoint_freezes_the_live_objects_and_the_period_collects_everything_once():
    now = [0.0]
    policy = GcPolicy(full_every_s=60.0, clock=lambda: now[0])
    try:
        gc.unfreeze()
        kept = [[i] for i in range(1000)]  # long-lived state, tracked by the collector
        policy.checkpointed()
        assert gc.get_freeze_count() >= len(kept)  # collections no longer scan them
        garbage = _Cycle()
        gc.freeze()  # a cycle that became garbage after it was frozen
        alive = weakref.ref(garbage)
        del garbage
        now[0] = 59.0
        policy.checkpointed()
        assert policy.collect_if_due() is False
        gc.collect()  # what collects by counts, and Faust's own gc.collect(), leave it
        assert alive() is not None
        now[0] = 60.0
        assert policy.collect_if_due() is True  # due: the frozen cycle is collected ...
        assert alive() is None
        assert gc.get_freeze_count() >= len(kept)  # ... and the survivors are frozen again
        now[0] = 61.0
        assert policy.collect_if_due() is False  # the next period starts at the collection
    finally:
        gc.unfreeze()


def test_the_worker_collects_only_young_objects_by_counts_and_still_collects():
    """With CPython's 700 the collector scanned a backlog's young rows and records over and
    over (17 % of a worker's CPU), and collections of the older generations held the event
    loop for 0.2-0.3 s (docs/performance.md, "Account layer, live")."""
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (GEN0_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
        assert gc.isenabled()  # young objects are collected
        counts = gc.get_stats()[0]["collections"]
        for _ in range(GEN0_THRESHOLD * 3):
            _Cycle()
        assert gc.get_stats()[0]["collections"] > counts
    finally:
        gc.set_threshold(*before)
