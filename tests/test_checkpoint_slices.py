"""A checkpoint prunes and encodes its changed accounts in slices (streams/worker/state.py,
`WorkerBook.checkpoint_steps`; streams/worker/app.py, `PulseWorker._prepare_checkpoint`):
the event loop serves other work after every slice, never after more than a slice of
accounts, and what the checkpoint sends is the same as in one go. A checkpoint whose
partitions were reloaded between two slices sends nothing and lets its events go.
Pure unit test: slices are counted, never timed; the consumer is a stand-in."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from streams.worker.app import PulseWorker
from streams.worker.state import PartitionState
from tests.test_worker_state import Message, book, login, partition_of

ACCOUNTS = 45


def _loaded_book():
    worker = book()
    offsets = [0, 0]
    for n in range(ACCOUNTS):
        key = f"acct-{n:03d}".encode()
        partition = partition_of(key, 2)
        offsets[partition] += 1
        message = Message(
            "pulse.logins", partition, offsets[partition], key, login(key.decode(), f"e-{n}")
        )
        worker.process(message, is_rekeyed=False)
    return worker


def _stand_in(worker_book) -> SimpleNamespace:
    consumer = SimpleNamespace(_unacked_messages=set())
    return SimpleNamespace(
        book=worker_book, app=SimpleNamespace(consumer=consumer), state_lock=asyncio.Lock()
    )


@pytest.mark.parametrize("slice_accounts", [1, 4, 10, 100])
def test_the_loop_gets_a_turn_after_every_slice_and_the_rows_are_the_same(
    monkeypatch, slice_accounts
):
    monkeypatch.setattr("streams.worker.app.CHECKPOINT_SLICE_ACCOUNTS", slice_accounts)
    log: list[str] = []
    encode = PartitionState.rows_of

    def rows_of(self, account_id):
        log.append("encode")
        return encode(self, account_id)

    monkeypatch.setattr(PartitionState, "rows_of", rows_of)
    sliced = _loaded_book()
    done = False

    async def other_work() -> None:
        while not done:
            log.append("turn")
            await asyncio.sleep(0)

    async def run():
        nonlocal done
        ticker = asyncio.ensure_future(other_work())
        await asyncio.sleep(0)
        prepared = await PulseWorker._prepare_checkpoint(_stand_in(sliced))
        done = True
        await ticker
        return prepared

    prepared = asyncio.run(run())
    encoded_runs = "".join("e" if line == "encode" else "|" for line in log).split("|")
    assert log.count("encode") == ACCOUNTS
    assert max(len(run) for run in encoded_runs) <= slice_accounts  # never more than a slice
    by_partition = [
        sum(1 for n in range(ACCOUNTS) if partition_of(f"acct-{n:03d}".encode(), 2) == p)
        for p in (0, 1)
    ]
    slices = sum(-(-count // slice_accounts) for count in by_partition)
    assert sum(1 for run in encoded_runs if run) == slices

    monkeypatch.setattr(PartitionState, "rows_of", encode)
    at_once = _loaded_book().checkpoint()
    assert {p: [(s.topic, s.key, s.value) for s in sends] for p, sends in prepared.items()} == {
        p: [(s.topic, s.key, s.value) for s in sends] for p, sends in at_once.items()
    }


class Held:
    """A held (applied, not acknowledged) message."""

    acked = False


def test_a_checkpoint_whose_partitions_were_reloaded_meanwhile_sends_nothing(monkeypatch):
    monkeypatch.setattr("streams.worker.app.CHECKPOINT_SLICE_ACCOUNTS", 4)
    worker_book = _loaded_book()
    stand_in = _stand_in(worker_book)
    held = [Held() for _ in range(3)]
    stand_in.app.consumer._unacked_messages.update(held)
    sent: list = []

    async def send(partition, record):
        sent.append(record)

    stand_in._send = send
    stand_in._prepare_checkpoint = lambda: PulseWorker._prepare_checkpoint(stand_in)

    async def rebalance() -> None:
        worker_book.forget_cache()  # what a revocation or a recovery does

    async def run() -> None:
        asyncio.ensure_future(rebalance())
        await PulseWorker._checkpoint(stand_in, held)

    asyncio.run(run())
    assert sent == []
    assert not stand_in.app.consumer._unacked_messages  # read again from the committed offsets
    assert all(message.acked for message in held)  # let go, not acknowledged by a commit
