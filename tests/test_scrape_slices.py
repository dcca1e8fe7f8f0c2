"""A scrape computes the engine snapshot in slices (streams/worker/app.py,
`PulseWorker._business_families`; `Engine.snapshot_steps`): the event loop serves other
requests after every slice of accounts, never after more than a slice, while the agent
applies no event until the scrape is done, so the scrape reads one state of the rows and
equals the snapshot in one go. A scrape whose partitions were reloaded meanwhile shows no
business samples (absent, not 0). Pure unit test: slices are counted, never timed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from streams.engine import engine as engine_module
from streams.worker.app import PulseWorker
from streams.worker.scrape import book_families
from tests.test_worker_state import Message, book, login, partition_of

ACCOUNTS = 30
NOW = 2_000_000_000_000


def _messages(first: int, count: int) -> list[Message]:
    out, offsets = [], [first, first]
    for n in range(first, first + count):
        key = f"acct-{n:03d}".encode()
        partition = partition_of(key, 2)
        offsets[partition] += 1
        out.append(
            Message(
                "pulse.logins", partition, offsets[partition], key, login(key.decode(), f"e-{n}")
            )
        )
    return out


def _stand_in(worker_book) -> SimpleNamespace:
    return SimpleNamespace(
        book=worker_book,
        rekey_topic="rekeyed",
        app=SimpleNamespace(consumer=SimpleNamespace(_unacked_messages=set())),
        state_lock=asyncio.Lock(),
        clock=lambda: NOW,
        ready=lambda: True,
        owned_partitions=lambda: {0, 1},
    )


@pytest.mark.parametrize("slice_accounts", [1, 7, 100])
def test_requests_run_between_slices_and_no_event_is_applied_during_a_scrape(
    monkeypatch, slice_accounts
):
    monkeypatch.setattr("streams.worker.app.SNAPSHOT_SLICE_ACCOUNTS", slice_accounts)
    monkeypatch.setattr("streams.worker.app.APPLY_TURN_S", 0.0)
    monkeypatch.setattr("streams.worker.app.YIELD_CHECK_EVERY", 1)
    worker_book = book(NOW)
    for message in _messages(0, ACCOUNTS):
        worker_book.process(message, is_rekeyed=False)
    before = book_families(worker_book, NOW)  # the rows as the scrape starts
    log: list[str] = []
    tally = engine_module._tally_account

    def counted_tally(*args, **kwargs):
        log.append("tally")
        return tally(*args, **kwargs)

    monkeypatch.setattr(engine_module, "_tally_account", counted_tally)
    original_process = worker_book.process

    def process(message, *, is_rekeyed):
        log.append("apply")
        original_process(message, is_rekeyed=is_rekeyed)

    worker_book.process = process
    stand_in = _stand_in(worker_book)
    done = False

    async def requests() -> None:
        while not done:
            log.append("request")
            await asyncio.sleep(0)

    async def run():
        nonlocal done
        ticker = asyncio.ensure_future(requests())
        scrape = asyncio.ensure_future(PulseWorker._business_families(stand_in))
        await asyncio.sleep(0)  # the scrape starts first and takes the lock
        agent = asyncio.ensure_future(PulseWorker._apply_in_turns(stand_in, _messages(ACCOUNTS, 5)))
        families = await scrape
        await agent
        done = True
        await ticker
        return families

    families = asyncio.run(run())
    assert families == before  # one state: none of the 5 new events is in it
    scrape_part = log[: log.index("apply")]
    assert scrape_part.count("tally") == ACCOUNTS  # the whole scrape ran before any event
    runs = "".join("t" if line == "tally" else "|" for line in scrape_part).split("|")
    assert max(len(run) for run in runs) <= slice_accounts
    assert sum(1 for run in runs if run) == -(-ACCOUNTS // slice_accounts)
    assert log.count("apply") == 5


def test_a_scrape_whose_partitions_were_reloaded_meanwhile_shows_no_business_samples(
    monkeypatch,
):
    monkeypatch.setattr("streams.worker.app.SNAPSHOT_SLICE_ACCOUNTS", 4)
    worker_book = book(NOW)
    for message in _messages(0, ACCOUNTS):
        worker_book.process(message, is_rekeyed=False)
    stand_in = _stand_in(worker_book)

    async def rebalance() -> None:
        worker_book.forget_cache()

    async def run():
        asyncio.ensure_future(rebalance())
        return await PulseWorker._business_families(stand_in)

    assert asyncio.run(run()) == []


def test_the_text_is_rendered_in_groups_of_families_and_equals_generate_latest():
    """`render_in_slices` gives the event loop a turn between two groups of families of at
    least `slice_samples` samples each, and its bytes equal `generate_latest`'s in one go."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import generate_latest

    from streams.exposition import FamiliesCollector
    from streams.worker.scrape import render_in_slices
    from streams.worker.turns import LOOP_PASSES

    families = []
    for n, size in enumerate((3, 1, 5, 2, 2, 7)):
        family = GaugeMetricFamily(f"pulse_test_{n}", f"help {n}", labels=["account"])
        for i in range(size):
            family.add_metric([f"acct-{i}"], i + 0.5)
        families.append(family)
    turns = []

    async def scenario() -> bytes:
        async def other_request() -> None:
            while True:
                await asyncio.sleep(0)
                turns.append(1)

        other = asyncio.ensure_future(other_request())
        await asyncio.sleep(0)  # the other request waits for its turn
        turns.clear()
        body = await render_in_slices(families, slice_samples=4)
        other.cancel()
        return body

    body = asyncio.run(scenario())
    assert body == generate_latest(FamiliesCollector.fixed(families))
    # groups: (3, 1) (5) (2, 2) (7): three turns for the other request in between
    assert len(turns) == 3 * LOOP_PASSES
