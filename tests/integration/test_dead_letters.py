"""Dead letters on the real broker (issue 12, item 8): a large rejected message gets its
dead letter (capped, with the size and hash of the whole), and a dead-letter topic that
refuses a record stops the worker with one sentence and commits nothing."""

from __future__ import annotations

import asyncio
import collections
import hashlib

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.contract.deadletter import MAX_RECORD_BYTES
from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS
from tests.integration.helpers import create_topics, produce, read_committed, unique, wait_until
from tests.integration.worker_harness import (
    CATCH_UP_S,
    WorkerRun,
    fresh_topics,
    kafka_messages,
    make_dataset,
    replay,
    wait_until_equal,
)

pytestmark = pytest.mark.kafka
# 400 KB of JSON whose every other character is a quote: carried twice (text and base64)
# its record was about 1.1 MB, past the dead-letter topic's 1 MiB.
LARGE = b'{"type":"login","tags":[' + b'"x",' * 100_000 + b'"x"]}'


def test_large_rejected_message_gets_a_capped_dead_letter(kafka_bootstrap, tmp_path):
    dataset = make_dataset(tmp_path, seed=41, accounts=8, days=15, malformed_fraction=0.02)
    first = dataset.messages[0]
    with open(dataset.path, "ab") as file:
        file.write(LARGE + b"\n")
    expected, dead_file = replay(dataset, tmp_path)
    prefix = fresh_topics(kafka_bootstrap)
    produce(
        kafka_bootstrap,
        [*kafka_messages(dataset, prefix), (prefix + first.topic, first.key, LARGE)],
    )
    run = WorkerRun(
        kafka_bootstrap, tmp_path, app_id=unique("dl"), prefix=prefix, as_of=dataset.as_of, name="w"
    )
    try:
        wait_until_equal(run.metrics, expected, run.process, "the worker to match the replay")
        replayed = [orjson.loads(line) for line in dead_file.read_bytes().splitlines()]
        wait_until(
            lambda: (
                len(read_committed(kafka_bootstrap, prefix + DEAD_LETTER_TOPIC, 2)) >= len(replayed)
            ),
            CATCH_UP_S,
            run.process,
            "every dead letter to be committed",
        )
        records = read_committed(kafka_bootstrap, prefix + DEAD_LETTER_TOPIC)
        assert run.process.alive(), run.process.log_tail()
    finally:
        assert run.process.stop() == 0, run.process.log_tail()
    assert all(len(record.value) <= MAX_RECORD_BYTES for record in records)
    letters = [orjson.loads(record.value) for record in records]
    got = collections.Counter((r["reason"], r["raw_sha256"]) for r in letters)
    want = collections.Counter((r["reason"], r["raw_sha256"]) for r in replayed)
    assert got == want, (
        f"dead letters differ: only in Kafka {got - want}, only in replay {want - got}"
    )
    large = [r for r in letters if r["reason"] == "too_large"]
    assert len(large) == 1
    assert (
        large[0]["raw_size"] == len(LARGE)
        and large[0]["raw_sha256"] == hashlib.sha256(LARGE).hexdigest()
    )
    assert large[0]["raw_truncated"] is True and LARGE.startswith(large[0]["raw_text"].encode())
    assert large[0]["topic"] == prefix + first.topic


def _create_small_dead_letter_topic(bootstrap: str, topic: str, max_message_bytes: int) -> None:
    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        topic,
                        num_partitions=4,
                        replication_factor=1,
                        topic_configs={"max.message.bytes": str(max_message_bytes)},
                    )
                ]
            )
        finally:
            await admin.close()

    asyncio.run(create())


def _committed_offsets(bootstrap: str, group: str) -> dict:
    async def ask() -> dict:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return {
                tp: meta.offset
                for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
                if meta.offset >= 0
            }
        finally:
            await admin.close()

    return asyncio.run(ask())


def test_refused_dead_letter_aborts_the_checkpoint_and_stops_the_worker(kafka_bootstrap, tmp_path):
    dataset = make_dataset(tmp_path, seed=42, accounts=5, days=10)
    prefix = unique("t") + "."
    create_topics(kafka_bootstrap, [prefix + topic for topic in SOURCE_TOPICS])
    dead_letter_topic = prefix + DEAD_LETTER_TOPIC
    _create_small_dead_letter_topic(kafka_bootstrap, dead_letter_topic, 1024)
    first = dataset.messages[0]
    bad = b"{not json " + b"x" * 2000  # its dead letter is about 2.3 KB: more than the topic takes
    # the bad message first: it is in the worker's first checkpoint, so nothing may be committed
    produce(
        kafka_bootstrap, [(prefix + first.topic, first.key, bad), *kafka_messages(dataset, prefix)]
    )
    app_id = unique("refused")
    run = WorkerRun(
        kafka_bootstrap, tmp_path, app_id=app_id, prefix=prefix, as_of=dataset.as_of, name="w"
    )
    try:
        wait_until(lambda: not run.process.alive(), CATCH_UP_S, None, "the worker to stop")
    finally:
        code = run.process.stop()
    log = run.log.read_text(errors="replace")
    assert code != 0, log[-3000:]
    sentence = f"topic {dead_letter_topic} refused a record of "
    assert (
        sentence in log and "as too large: set its max.message.bytes to at least 1048588" in log
    ), log[-3000:]
    assert len([line for line in log.splitlines() if "[ERROR] " + sentence in line]) == 1, (
        "logged more than once"
    )
    assert _committed_offsets(kafka_bootstrap, app_id) == {}, (
        "offsets of the aborted checkpoint were committed"
    )
    assert read_committed(kafka_bootstrap, f"{app_id}-accounts-changelog", 2) == [], (
        "state rows were committed"
    )
    assert read_committed(kafka_bootstrap, dead_letter_topic, 2) == []
