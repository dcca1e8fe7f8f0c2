"""streams/worker/gc_policy.py: after a checkpoint the live objects leave the collector's scans,
and they are handed back once per period so that reference cycles are still collected."""

from __future__ import annotations

import gc

from streams.worker.gc_policy import GEN0_THRESHOLD, GcPolicy, tune_collector


def test_a_checkpoint_freezes_the_live_objects_and_the_period_hands_them_back():
    now = [0.0]
    policy = GcPolicy(unfreeze_every_s=60.0, clock=lambda: now[0])
    try:
        gc.unfreeze()
        kept = [[i] for i in range(1000)]  # long-lived state, tracked by the collector
        policy.checkpointed()
        assert gc.get_freeze_count() >= len(kept)  # a full collection no longer scans them
        now[0] = 59.0
        policy.checkpointed()
        assert gc.get_freeze_count() >= len(kept)
        now[0] = 60.0
        policy.checkpointed()
        assert gc.get_freeze_count() == 0  # the next full collection scans everything once
        now[0] = 61.0
        policy.checkpointed()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()


def test_the_worker_collects_young_objects_less_often_and_still_collects():
    """With CPython's 700 the collector scanned a backlog's young rows and records over and
    over: 17 % of a worker's CPU (docs/performance.md, "Account layer, live")."""
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (GEN0_THRESHOLD, before[1], before[2])
        assert gc.isenabled()  # later, not never: cycles are still collected
    finally:
        gc.set_threshold(*before)
