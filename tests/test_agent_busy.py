"""The agent counts as busy while it applies a batch or writes a checkpoint and for
AGENT_BUSY_S after (streams/worker/app.py, `PulseWorker.agent_busy`); the record cache's
refresh then keeps to a tenth of the event loop (a twentieth while the agent catches up:
its last batch was full), and takes most of it only once the agent is idle
(streams/worker/account_views.py, `refresh_pause`). A long scrape or
checkpoint does not make the agent look idle. Pure unit test: the stream, the book and
the Kafka side are stand-ins."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from streams.worker import app as app_module
from streams.worker.app import PulseWorker


def _worker_stand_in() -> SimpleNamespace:
    return SimpleNamespace(
        settings=SimpleNamespace(
            batch_size=10, batch_seconds=0.1, checkpoint_seconds=0.0, checkpoint_events=1
        ),
        held=[],
        busy_until=0.0,
        ready=lambda: False,
        app=SimpleNamespace(flow_control=SimpleNamespace(is_active=lambda: True)),
        hooks=SimpleNamespace(lock=asyncio.Lock()),
        gc_policy=SimpleNamespace(checkpointed=lambda: None),
        catching_up=False,
    )


def test_busy_during_a_batch_and_its_checkpoint_idle_after(monkeypatch):
    monkeypatch.setattr(app_module, "AGENT_BUSY_S", 0.0)
    seen: list[tuple[str, bool]] = []
    worker = _worker_stand_in()
    worker.agent_busy = lambda: PulseWorker.agent_busy(worker)

    async def apply(messages):
        await asyncio.sleep(0.01)  # a scrape holds the state lock meanwhile
        seen.append(("apply", worker.agent_busy()))
        return messages

    async def checkpoint(held):
        await asyncio.sleep(0.01)
        seen.append(("checkpoint", worker.agent_busy()))

    worker._apply, worker._checkpoint = apply, checkpoint

    async def batches(stream, size, seconds):
        yield ["m1"]
        seen.append(("after the batch", worker.agent_busy()))
        yield []
        seen.append(("idle", worker.agent_busy()))

    monkeypatch.setattr(app_module.faust_fastpath, "message_batches", batches)
    asyncio.run(PulseWorker._ingest(worker, stream=None))
    assert seen == [
        ("apply", True),
        ("checkpoint", True),
        ("after the batch", False),  # AGENT_BUSY_S is 0 here
        ("idle", False),
    ]


def test_a_batch_keeps_the_agent_busy_for_agent_busy_s(monkeypatch):
    monkeypatch.setattr(app_module, "AGENT_BUSY_S", 3600.0)
    worker = SimpleNamespace(busy_until=0.0)

    async def run() -> tuple[bool, bool]:
        idle = PulseWorker.agent_busy(worker)
        worker.busy_until = asyncio.get_running_loop().time() + app_module.AGENT_BUSY_S
        return idle, PulseWorker.agent_busy(worker)

    assert asyncio.run(run()) == (False, True)


def test_a_full_batch_marks_the_agent_as_catching_up_until_one_is_not(monkeypatch):
    worker = _worker_stand_in()  # batch_size 10
    seen: list[tuple[int, bool]] = []

    async def apply(messages):
        seen.append((len(messages), worker.catching_up))
        return messages

    async def checkpoint(held):
        pass

    worker._apply, worker._checkpoint = apply, checkpoint

    async def batches(stream, size, seconds):
        for count in (10, 10, 3, 10):
            yield [f"m{i}" for i in range(count)]
        yield []
        seen.append((0, worker.catching_up))

    monkeypatch.setattr(app_module.faust_fastpath, "message_batches", batches)
    asyncio.run(PulseWorker._ingest(worker, stream=None))
    assert seen == [(10, True), (10, True), (3, False), (10, True), (0, False)]
