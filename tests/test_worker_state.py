"""WorkerBook without Kafka: what a checkpoint sends, and bad input that Kafka allows."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from streams.config import PulseConfig
from streams.worker_state import COUNTERS_PREFIX, ROW_FORMAT, PartitionState, WorkerBook, partition_of

PARTITIONS = 2


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list | None = None


class Table(dict):
    class changelog_topic:  # noqa: N801 - the attribute Faust's table has
        @staticmethod
        def get_topic_name() -> str:
            return "changelog"


def book() -> WorkerBook:
    book = WorkerBook(PulseConfig(), lambda: 2_000_000_000_000, partitions=PARTITIONS, rekey_topic="rekeyed",
                      dead_letter_topic="dead-letter", unprefixed=lambda topic: topic)
    book.attach(Table())
    book.sync(set(range(PARTITIONS)))
    return book


def login(account: str, event_id: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "type": "login", "occurred_at": "2026-03-01T09:00:00Z",
                         "account_id": account, "user_id": "u-1"})


def test_a_null_value_is_a_dead_letter_not_a_crash():
    worker = book()
    worker.process(Message("pulse.logins", 0, 7, b"acme", None), is_rekeyed=False)
    sends = worker.checkpoint()[0]
    dead = [orjson.loads(s.value) for s in sends if s.topic == "dead-letter"]
    assert [(d["reason"], d["offset"]) for d in dead] == [("invalid_json", 7)]


def test_a_checkpoint_sends_the_outbox_then_the_changed_rows_once():
    worker = book()
    key = b"acme"
    partition = partition_of(key, PARTITIONS)
    worker.process(Message("pulse.logins", partition, 0, key, login("acme", "e-1")), is_rekeyed=False)
    worker.process(Message("pulse.logins", partition, 1, key, b"not json"), is_rekeyed=False)
    worker.process(Message("pulse.logins", partition, 2, key, login("acme", "e-2")), is_rekeyed=False)
    sends = worker.checkpoint()[partition]
    assert [s.topic for s in sends] == ["dead-letter", "changelog", "changelog"]
    assert sends[1].key == key and sends[1].value.startswith(ROW_FORMAT)
    assert sends[2].key.startswith(COUNTERS_PREFIX)
    assert worker.checkpoint() == {}, "nothing changed since: nothing to send"
    committed = dict(worker.take_committed(partition))
    assert committed.keys() == {key, sends[2].key}
    restored = PartitionState()
    restored.load_row("acme", committed[key])
    assert restored.admission_rows["acme"].remembers("e-1") and restored.admission_rows["acme"].remembers("e-2")


def test_a_message_in_the_wrong_partition_is_forwarded_to_the_rekey_topic():
    worker = book()
    key = b"acme"
    wrong = 1 - partition_of(key, PARTITIONS)
    worker.process(Message("pulse.logins", wrong, 5, b"other-key", login("acme", "e-1")), is_rekeyed=False)
    (send,) = worker.checkpoint()[wrong]
    assert send.topic == "rekeyed" and send.key == key and send.partition is None


def test_a_huge_key_and_value_still_make_a_dead_letter_that_fits():
    """Kafka allows a 900 KB key with a 400 KB value; the dead letter (record and key) must
    still fit the dead-letter topic, or the checkpoint would be refused."""
    from streams.deadletter import MAX_KEY_BYTES, MAX_RECORD_BYTES

    worker = book()
    key = b"k" * 900_000
    worker.process(Message("pulse.logins", 0, 3, key, b'{"x": "' + b"\\u0001" * 70_000 + b'"}'), is_rekeyed=False)
    (dead,) = [s for s in worker.checkpoint()[0] if s.topic == "dead-letter"]
    assert dead.key == key[:MAX_KEY_BYTES] and len(dead.value) <= MAX_RECORD_BYTES
    assert orjson.loads(dead.value)["reason"] == "too_large"
