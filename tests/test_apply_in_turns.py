"""The agent applies a batch in turns (streams/worker/app.py, `PulseWorker._apply_in_turns`): the
event loop serves other work (HTTP requests) between turns instead of after the whole
batch, and a batch whose partitions were reloaded meanwhile is let go, not half counted.
Pure unit test: the book and the consumer are stand-ins."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from streams.worker import app as app_module
from streams.worker.app import PulseWorker


class Book:
    def __init__(self, log: list[str]) -> None:
        self.generation = 0
        self.log = log

    def process(self, message, *, is_rekeyed: bool) -> None:
        self.log.append(f"apply {message.offset}")


class Message:
    def __init__(self, offset: int) -> None:
        self.offset, self.topic, self.acked = offset, "pulse.product", False


def _worker(book: Book) -> SimpleNamespace:
    consumer = SimpleNamespace(_unacked_messages=set())
    app = SimpleNamespace(consumer=consumer)
    return SimpleNamespace(book=book, rekey_topic="app-rekeyed", app=app, state_lock=asyncio.Lock())


def test_other_work_runs_between_the_turns_of_a_batch(monkeypatch):
    monkeypatch.setattr(app_module, "APPLY_TURN_S", 0.0)
    monkeypatch.setattr(app_module, "YIELD_CHECK_EVERY", 4)
    log: list[str] = []
    worker = _worker(Book(log))
    messages = [Message(offset) for offset in range(12)]

    async def request() -> None:
        for _ in range(3):
            log.append("request")
            await asyncio.sleep(0)

    async def run() -> bool:
        other = asyncio.ensure_future(request())
        applied = await PulseWorker._apply_in_turns(worker, messages)
        await other
        return applied

    assert asyncio.run(run()) is True
    assert log.index("request") < log.index("apply 11")  # served during the batch, not after it
    assert [line for line in log if line.startswith("apply")] == [f"apply {n}" for n in range(12)]


def test_a_batch_whose_partitions_were_reloaded_meanwhile_is_let_go(monkeypatch):
    monkeypatch.setattr(app_module, "APPLY_TURN_S", 0.0)
    monkeypatch.setattr(app_module, "YIELD_CHECK_EVERY", 4)
    book = Book([])
    worker = _worker(book)
    messages = [Message(offset) for offset in range(12)]
    worker.app.consumer._unacked_messages.update(messages)

    async def rebalance() -> None:
        book.generation += 1  # a revocation or a recovery dropped the rows

    async def run() -> bool:
        asyncio.ensure_future(rebalance())
        return await PulseWorker._apply_in_turns(worker, messages)

    assert asyncio.run(run()) is False
    assert len(book.log) == 4  # the first turn only; its effects went with the dropped rows
    assert not worker.app.consumer._unacked_messages  # read again from the committed offsets


def test_a_batch_cancelled_between_turns_leaves_the_lock_free_and_raises_only_the_cancel(
    monkeypatch,
):
    """A stop cancels the agent; if that lands between two turns (the state lock let go for
    the event loop), the cancellation is what comes out, not a release of a lock not held,
    and the lock is free for the scrape that may still run."""
    monkeypatch.setattr(app_module, "APPLY_TURN_S", 0.0)
    monkeypatch.setattr(app_module, "YIELD_CHECK_EVERY", 4)
    worker = _worker(Book([]))
    messages = [Message(offset) for offset in range(12)]

    async def run() -> BaseException | None:
        task = asyncio.ensure_future(PulseWorker._apply_in_turns(worker, messages))
        await asyncio.sleep(0)  # the first turn runs and lets the loop in
        task.cancel()
        try:
            await task
        except BaseException as error:  # noqa: BLE001 - what came out is the subject
            return error
        return None

    error = asyncio.run(run())
    assert isinstance(error, asyncio.CancelledError), repr(error)
    assert not worker.state_lock.locked()
