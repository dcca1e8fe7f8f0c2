"""Source topics whose offsets are not contiguous (issue 12, item 3), on the real broker:
a transactional producer (commit markers take offsets, an aborted transaction leaves a
hole under read_committed) and records deleted (DeleteRecords) where the worker would
read next. The worker must neither hang nor lose or double anything: its /metrics equal
`pulse replay` over the records a read_committed consumer can still read."""

from __future__ import annotations

import asyncio
import collections

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from tests.integration.helpers import unique
from tests.integration.worker_harness import (
    Dataset,
    WorkerRun,
    fresh_topics,
    make_dataset,
    replay,
    wait_until_equal,
)

pytestmark = pytest.mark.kafka


def _transactional_produce(
    bootstrap: str, transactions: list[tuple[list[tuple[str, bytes, bytes]], bool]]
) -> None:
    """Each (messages, commit) is one transaction, committed or aborted."""

    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            transactional_id=unique("producer"),
            enable_idempotence=True,
            linger_ms=5,
        )
        await producer.start()
        try:
            for messages, commit in transactions:
                await producer.begin_transaction()
                for topic, key, value in messages:
                    await producer.send(topic, value=value, key=key)
                if commit:
                    await producer.commit_transaction()
                else:
                    await producer.abort_transaction()
        finally:
            await producer.stop()

    asyncio.run(run())


def test_transactional_producer_with_an_aborted_transaction_equals_replay(
    kafka_bootstrap, tmp_path
):
    dataset = make_dataset(tmp_path, seed=51, accounts=12, days=20, duplicate_fraction=0.01)
    expected, _ = replay(dataset, tmp_path)
    prefix = fresh_topics(kafka_bootstrap)
    messages = [(prefix + m.topic, m.key, m.value) for m in dataset.messages]
    # copies with fresh event ids: they would count if the worker read the aborted transaction
    aborted = [
        (topic, key, orjson.dumps({**orjson.loads(value), "event_id": f"aborted-{i}"}))
        for i, (topic, key, value) in enumerate(messages[:300])
    ]
    size = 97
    transactions = [
        (messages[start : start + size], True) for start in range(0, len(messages), size)
    ]
    transactions.insert(len(transactions) // 2, (aborted, False))
    _transactional_produce(kafka_bootstrap, transactions)
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=unique("txn"),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
    )
    try:
        wait_until_equal(
            run.metrics,
            expected,
            run.process,
            "the worker to match the replay of the committed events",
        )
    finally:
        assert run.process.stop() == 0, run.process.log_tail()
    log = run.log.read_text(errors="replace")
    assert "went missing on the way" not in log, "the worker took commit markers for lost records"


def _produce_noting_offsets(bootstrap: str, messages) -> list[tuple[str, int, int]]:
    """Send (topic, key, value) with acks=all; return (topic, partition, offset) of each."""

    async def run() -> list:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            futures = [
                await producer.send(topic, value=value, key=key) for topic, key, value in messages
            ]
            return [
                (meta.topic, meta.partition, meta.offset) for meta in await asyncio.gather(*futures)
            ]
        finally:
            await producer.stop()

    return asyncio.run(run())


def _admin(bootstrap: str, action):
    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return await action(admin)
        finally:
            await admin.close()

    return asyncio.run(run())


def test_records_deleted_where_the_worker_reads_next_are_logged_once_and_skipped(
    kafka_bootstrap, tmp_path
):
    dataset = make_dataset(tmp_path, seed=52, accounts=25, days=40)
    prefix = fresh_topics(kafka_bootstrap)
    half = len(dataset.messages) // 2
    first, second = dataset.messages[:half], dataset.messages[half:]
    _produce_noting_offsets(kafka_bootstrap, [(prefix + m.topic, m.key, m.value) for m in first])
    partial = Dataset(tmp_path / "first-half.jsonl", first, dataset.as_of)
    partial.path.write_bytes(b"".join(m.value + b"\n" for m in first))
    expected_first, _ = replay(partial, tmp_path)
    app_id = unique("deleted")
    run = WorkerRun(
        kafka_bootstrap, tmp_path, app_id=app_id, prefix=prefix, as_of=dataset.as_of, name="w"
    )
    try:
        wait_until_equal(
            run.metrics,
            expected_first,
            run.process,
            "the worker to match the replay of the first half",
        )
    finally:
        assert run.process.stop() == 0, run.process.log_tail()
    committed = _admin(kafka_bootstrap, lambda admin: admin.list_consumer_group_offsets(app_id))
    placed = _produce_noting_offsets(
        kafka_bootstrap, [(prefix + m.topic, m.key, m.value) for m in second]
    )
    logins = prefix + "pulse.logins"
    unread = TopicPartition(logins, 0)  # delete records the worker has not read yet
    read = TopicPartition(logins, 1)  # and, on another partition, only records it has read
    new_in_unread = sorted(
        offset for topic, partition, offset in placed if (topic, partition) == unread
    )
    assert len(new_in_unread) > 20, "the dataset puts too few logins in partition 0"
    delete_before = {unread: new_in_unread[20], read: committed[read].offset}
    _admin(
        kafka_bootstrap,
        lambda admin: admin.delete_records(
            {tp: RecordsToDelete(offset) for tp, offset in delete_before.items()}, timeout_ms=10_000
        ),
    )
    kept = [
        m
        for m, (topic, partition, offset) in zip(second, placed)
        if not ((topic, partition) == unread and offset < delete_before[unread])
    ]
    assert len(second) - len(kept) == 20
    remaining = Dataset(tmp_path / "remaining.jsonl", first + kept, dataset.as_of)
    remaining.path.write_bytes(b"".join(m.value + b"\n" for m in remaining.messages))
    expected, _ = replay(remaining, tmp_path)
    run.restart()
    try:
        wait_until_equal(
            run.metrics,
            expected,
            run.process,
            "the restarted worker to match the replay of what is left",
        )
    finally:
        assert run.process.stop() == 0, run.process.log_tail()
    log = run.log.read_text(errors="replace")
    deleted_lines = [line for line in log.splitlines() if "deleted from Kafka" in line]
    assert len(deleted_lines) == 1, deleted_lines
    committed_before = committed[unread].offset
    assert (
        f"records {committed_before}..{delete_before[unread] - 1} of {logins}-0" in deleted_lines[0]
    )
    assert (
        collections.Counter("went missing on the way" in line for line in log.splitlines())[True]
        == 0
    )
