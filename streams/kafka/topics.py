"""The project's Kafka topics, created idempotently with one partition count.

Every source topic and every Faust changelog topic must share one partition count (Faust
raises PartitionsMismatch otherwise), so the count is a single setting used everywhere.
"""

from __future__ import annotations

import asyncio
import functools

from aiokafka.partitioner import murmur2

from streams.connectors.raw_topics import RAW_TOPICS
from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS
from streams.errors import PulseError
from streams.kafka.security import KafkaSecurity, client_log_muted, connection_error

# the event topics, the dead letters, and the raw topics of the connectors (pulse webhooks / pulse bridge)
PROJECT_TOPICS: tuple[str, ...] = (*SOURCE_TOPICS, DEAD_LETTER_TOPIC, *RAW_TOPICS.values())
DEFAULT_PARTITIONS = 4


@functools.lru_cache(maxsize=1 << 16)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives a key (cached: aiokafka's
    murmur2 is pure Python, and every message's key is checked). The one home of the
    account -> partition rule: the worker's key check and `pulse replay --jobs` use it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def ensure_topics(
    bootstrap: str,
    partitions: int = DEFAULT_PARTITIONS,
    names: tuple[str, ...] = PROJECT_TOPICS,
    replication: int = 1,
    security: KafkaSecurity | None = None,
) -> dict[str, str]:
    """Create the missing topics; return {topic: "created" | "exists"}.

    An existing topic with another partition count is an error naming the fix, since
    Faust's changelogs would not line up with it.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    security = security or KafkaSecurity()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.aiokafka_options())
    with client_log_muted():
        try:
            await admin.start()
        except Exception as error:  # noqa: BLE001 - the probe names the cause
            await admin.close()
            raise await connection_error(error, bootstrap, security) from None
    try:
        existing = await _partition_counts(admin, names)
        missing = [name for name in names if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(name, num_partitions=partitions, replication_factor=replication)
                    for name in missing
                ]
            )
        for name, count in existing.items():
            if count != partitions:
                raise PulseError(
                    f"topic {name} has {count} partitions, not {partitions}: use --partitions {count} "
                    f"everywhere or recreate the topic."
                )
        return {name: ("exists" if name in existing else "created") for name in names}
    finally:
        await admin.close()


async def _partition_counts(admin, names: tuple[str, ...]) -> dict[str, int]:
    listed = set(await admin.list_topics())
    wanted = [name for name in names if name in listed]
    if not wanted:
        return {}
    described = await admin.describe_topics(wanted)
    return {topic["topic"]: len(topic["partitions"]) for topic in described}


def ensure_topics_sync(
    bootstrap: str, partitions: int = DEFAULT_PARTITIONS, **kwargs
) -> dict[str, str]:
    return asyncio.run(ensure_topics(bootstrap, partitions, **kwargs))
