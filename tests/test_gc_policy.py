"""streams/worker/gc_policy.py: after a batch, a checkpoint or a refresh slice the live objects leave the collector's scans,
and they are handed back once per period so that reference cycles are still collected."""

from __future__ import annotations

import gc

from streams.worker.gc_policy import GcPolicy


def test_settling_freezes_the_live_objects_and_the_period_hands_them_back():
    now = [0.0]
    policy = GcPolicy(unfreeze_every_s=60.0, clock=lambda: now[0])
    try:
        gc.unfreeze()
        kept = [[i] for i in range(1000)]  # long-lived state, tracked by the collector
        policy.settled()
        assert gc.get_freeze_count() >= len(kept)  # a full collection no longer scans them
        now[0] = 59.0
        policy.settled()
        assert gc.get_freeze_count() >= len(kept)
        now[0] = 60.0
        policy.settled()
        assert gc.get_freeze_count() == 0  # the next full collection scans everything once
        now[0] = 61.0
        policy.settled()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()


def test_the_agent_settles_after_every_batch_and_every_checkpoint(monkeypatch):
    """Once per checkpoint was not enough: a backlog's rows and records grew the young
    generations between two checkpoints, and full collections over them took 17 % of a
    worker's CPU (docs/performance.md, "Account layer, live")."""
    import asyncio
    from types import SimpleNamespace

    from streams.worker import app as app_module
    from streams.worker.app import PulseWorker

    seen: list[str] = []
    worker = SimpleNamespace(
        settings=SimpleNamespace(
            batch_size=10, batch_seconds=0.1, checkpoint_seconds=3600.0, checkpoint_events=3
        ),
        held=[],
        busy_until=0.0,
        ready=lambda: False,
        app=SimpleNamespace(flow_control=SimpleNamespace(is_active=lambda: True)),
        hooks=SimpleNamespace(lock=asyncio.Lock()),
        gc_policy=SimpleNamespace(settled=lambda: seen.append("settled")),
    )

    async def apply(messages):
        seen.append("apply")
        return messages

    async def checkpoint(held):
        seen.append(f"checkpoint of {len(held)}")

    worker._apply, worker._checkpoint = apply, checkpoint

    async def batches(stream, size, seconds):
        for batch in (["m1", "m2"], ["m3"], [], ["m4"]):
            yield batch

    monkeypatch.setattr(app_module.faust_fastpath, "message_batches", batches)
    asyncio.run(PulseWorker._ingest(worker, stream=None))
    assert seen == [
        "apply",
        "settled",
        "apply",
        "settled",
        "checkpoint of 3",
        "settled",
        "apply",
        "settled",
    ]


def test_the_record_refresh_settles_after_every_slice():
    import asyncio
    from types import SimpleNamespace

    from streams.worker.account_views import AccountViews

    seen: list[str] = []
    slices = iter([False, False, True])
    done = asyncio.Event

    async def run() -> None:
        finished = done()

        def refresh(budget_s):
            seen.append("slice")
            result = next(slices)
            if result:
                finished.set()
            return result

        worker = SimpleNamespace(
            book=SimpleNamespace(record_cache=SimpleNamespace(refresh=refresh)),
            agent_busy=lambda: False,
            gc_policy=SimpleNamespace(settled=lambda: seen.append("settled")),
        )
        views = AccountViews(worker)
        views._loaded_partitions = lambda: {0}
        task = asyncio.create_task(views._refresh_records())
        await finished.wait()
        task.cancel()

    asyncio.run(run())
    assert seen == ["slice", "settled"] * 3
