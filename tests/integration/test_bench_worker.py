"""bench/bench_worker.py's moving parts on the real broker, on a small backlog: the Quix
Streams peer (issue 18, item 1) reads every event of the six topics into per-account state
with its changelog and commits exactly once, and the scale mode's worker group counts the
events of all its processes. The figures themselves are never asserted (bench/ writes them
to docs/performance.md); what is checked is that they measure what they claim to."""

from __future__ import annotations

import asyncio
import math

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bench import bench_worker
from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS
from tests.integration.helpers import create_topics, unique

pytestmark = pytest.mark.kafka

EVENTS = 3_000


def _backlog_on(bootstrap: str, partitions: int = 4) -> tuple[str, list[str], int]:
    messages = bench_worker.backlog(EVENTS)
    prefix = unique("benchtest") + "."
    topics = [prefix + t for t in SOURCE_TOPICS]
    create_topics(bootstrap, [*topics, prefix + DEAD_LETTER_TOPIC], partitions)
    asyncio.run(bench_worker.produce_all(bootstrap, prefix, messages))
    return prefix, topics, len(messages)


async def _group_state(bootstrap: str, group: str) -> tuple[int, list[str]]:
    """(sum of the group's committed offsets, the topics whose name mentions the group)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        topics = [t for t in await admin.list_topics() if group in t]
    finally:
        await admin.close()
    return sum(meta.offset for meta in offsets.values()), topics


def test_quix_peer_reads_every_event_into_changelogged_state(
    kafka_bootstrap, tmp_path, monkeypatch
):
    # One partition a topic: Quix opens a state store and checks its changelog per source
    # partition (about half a second each), and what is checked here (every event read
    # into changelogged state, exactly once) does not depend on their number.
    prefix, topics, total = _backlog_on(kafka_bootstrap, partitions=1)
    groups: list[str] = []
    real_unique = bench_worker.unique
    monkeypatch.setattr(
        bench_worker, "unique", lambda p: groups.append(real_unique(p)) or groups[-1]
    )

    rate = bench_worker.quix_peer(kafka_bootstrap, topics, total, tmp_path)

    assert rate.wall > 0 and math.isfinite(rate.wall) and rate.cpu > 0 and math.isfinite(rate.cpu)
    group = next(g for g in groups if g.startswith("bench-quix"))
    committed, group_topics = asyncio.run(_group_state(kafka_bootstrap, group))
    # Exactly-once: the offsets of every event were committed (transactional producers
    # leave one commit marker per transaction, so an offset may sit past the last event).
    assert committed >= total
    changelogs = [t for t in group_topics if t.startswith("changelog__")]
    assert {t.split("--")[1] for t in changelogs} == set(topics), (
        group_topics
    )  # one store per topic


def test_scale_mode_counts_every_process_of_the_group(kafka_bootstrap, tmp_path):
    prefix, _topics, total = _backlog_on(kafka_bootstrap)

    processes, ports, rate = bench_worker.workers_run(kafka_bootstrap, prefix, total, tmp_path, 2)
    try:
        counts = [
            int(bench_worker._sum(bench_worker._scrape(port), "pulse_events_processed"))
            for port in ports
        ]
    finally:
        for process in processes:
            process.stop()

    # A backlog this small is read between two polls, so its rate may be undefined (nan);
    # what matters here is that the group's count is every process's.
    assert isinstance(rate, bench_worker.Rate)
    # Both processes ran in one group; which of them read what depends on when the second
    # joined (the first may read a backlog this small alone), so only the sum is fixed.
    assert len(counts) == 2 and sum(counts) == total, counts
