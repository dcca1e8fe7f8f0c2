"""`pulse bridge`: raw topics -> translated contract events on the pulse.* topics.

A plain aiokafka consumer group (scale it like the worker: more partitions, more bridge
processes with the same --group-id) reads pulse.raw.segment, pulse.raw.stripe and
pulse.raw.zendesk. For each batch:

1. every raw message is translated (streams.connectors.translate);
2. each contract event is produced to its type's topic, keyed by its account_id; an
   untranslatable message goes to the dead-letter topic as the project's dead-letter
   record (streams.contract.deadletter) with reason `untranslatable:<why>` and the raw bytes;
3. only when the broker acknowledged every produce (acks=all) are the batch's offsets
   committed.

Delivery is therefore at-least-once: a crash between 2 and 3 produces the batch again.
The copies carry the same event ids (they derive from the source's own ids), so the
worker drops them as duplicates; a repeated dead letter is a repeated trace, nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.connectors.connectors_config import ConnectorsConfig
from streams.connectors.raw_topics import RAW_TOPICS
from streams.connectors.result import Untranslatable, translate
from streams.contract.deadletter import dead_letter_key, dead_letter_record
from streams.contract.model import DEAD_LETTER_TOPIC, TOPIC_OF_TYPE
from streams.kafka.security import KafkaSecurity, client_log_muted, connection_error

DEFAULT_GROUP_ID = "pulse-bridge"
_log = logging.getLogger("pulse.bridge")


@dataclass
class BridgeStats:
    """What the bridge did so far: raw messages read, events produced, dead letters by reason."""

    raw: int = 0
    produced: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)


def route(
    raw_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes,
    source: str,
    config: ConnectorsConfig,
    dead_letter_topic: str,
    topic_prefix: str,
    now_ms: int,
) -> tuple[list[tuple[str, bytes, bytes | None]], str | None]:
    """The (topic, value, key) messages one raw message becomes, and its untranslatable
    reason (None when it translated)."""
    result = translate(source, value, config)
    if isinstance(result, Untranslatable):
        record = dead_letter_record(
            value,
            result.rejection(),
            topic=raw_topic,
            partition=partition,
            offset=offset,
            at_ms=now_ms,
        )  # capped so that it always fits the dead-letter topic
        return [(dead_letter_topic, record, dead_letter_key(key))], result.reason
    return [
        (
            topic_prefix + TOPIC_OF_TYPE[event["type"]],
            orjson.dumps(event),
            event["account_id"].encode(),
        )
        for event in result
    ], None


async def run_bridge(
    bootstrap: str,
    config: ConnectorsConfig,
    *,
    topic_prefix: str = "",
    group_id: str = DEFAULT_GROUP_ID,
    stop: asyncio.Event | None = None,
    stats: BridgeStats | None = None,
    security: KafkaSecurity | None = None,
) -> BridgeStats:
    """Run until `stop` is set (or forever)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.errors import KafkaError

    stats = stats or BridgeStats()
    stop = stop or asyncio.Event()
    security = security or KafkaSecurity()
    options = security.aiokafka_options()
    source_of = {topic_prefix + topic: source for source, topic in RAW_TOPICS.items()}
    dead_letter_topic = topic_prefix + DEAD_LETTER_TOPIC
    consumer = AIOKafkaConsumer(
        *source_of,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **options,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, **options
    )
    with client_log_muted():  # the outcome is reported here, once, naming the cause
        try:
            await producer.start()
            await consumer.start()
        except KafkaError as error:
            await _close(consumer, producer)
            raise await connection_error(error, bootstrap, security) from None
    _log.info("bridge started: group=%s topics=%s", group_id, ",".join(source_of))
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            if not batches:
                continue
            pending = []
            commits = {}
            now_ms = int(time.time() * 1000)
            for tp, records in batches.items():
                for record in records:
                    messages, reason = route(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.key,
                        record.value,
                        source_of[record.topic],
                        config,
                        dead_letter_topic,
                        topic_prefix,
                        now_ms,
                    )
                    for topic, value, key in messages:
                        pending.append(await producer.send(topic, value=value, key=key))
                    stats.raw += 1
                    if reason is None:
                        stats.produced += len(messages)
                    else:
                        stats.dead_letters[reason] += 1
                commits[TopicPartition(tp.topic, tp.partition)] = records[-1].offset + 1
            await asyncio.gather(*pending)  # every record acknowledged by all in-sync replicas ...
            await consumer.commit(commits)  # ... before the raw offsets move on
    finally:
        await _close(consumer, producer)
        _log.info(
            "bridge stopped: raw=%d produced=%d dead_letters=%d",
            stats.raw,
            stats.produced,
            sum(stats.dead_letters.values()),
        )
    return stats


async def _close(consumer: Any, producer: Any) -> None:
    for client in (consumer, producer):
        try:
            await client.stop()
        except Exception:  # closing a client that never started
            pass
