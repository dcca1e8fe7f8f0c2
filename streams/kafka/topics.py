"""The project's Kafka topics, created idempotently with one partition count, and the one
topic check.

Every source topic and every Faust changelog topic must share one partition count (Faust
raises PartitionsMismatch otherwise), so the count is a single setting used everywhere.
`ensure_topics` is the one place that asks the broker about topics: `pulse dev topics`
creates the project's topics with it, and `pulse worker` checks its source and dead-letter
topics (which it never creates: `required`) and creates its re-key topic. A missing
required topic or a topic of another partition count is one sentence naming the fix.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

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
    partition: int = (murmur2(key) & 0x7FFFFFFF) % partitions
    return partition


async def ensure_topics(
    bootstrap: str,
    partitions: int = DEFAULT_PARTITIONS,
    names: tuple[str, ...] = PROJECT_TOPICS,
    replication: int = 1,
    security: KafkaSecurity | None = None,
    *,
    required: tuple[str, ...] = (),
    create_hint: str = "",
) -> dict[str, str]:
    """Create the missing topics of `names`; return {topic: "created" | "exists"}.

    Each topic of `required` must exist already (else an error naming `create_hint`, the
    command that creates it). An existing topic with another partition count is an error
    naming the fix, since Faust's changelogs would not line up with it; both are checked
    before anything is created.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    security = security or KafkaSecurity()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security.aiokafka_options()
    )
    with client_log_muted():
        try:
            await asyncio.wait_for(admin.start(), 15)
        except Exception as error:  # noqa: BLE001 - the probe names the cause
            await admin.close()
            raise await connection_error(error, bootstrap, security) from None
    try:
        existing = await _partition_counts(admin, (*required, *names))
        for name in required:
            if name not in existing:
                raise PulseError(f"topic {name} does not exist on {bootstrap}: {create_hint}.")
        for name in (*required, *names):  # in the order given: the first one is named
            count = existing.get(name, partitions)
            if count != partitions:
                raise PulseError(
                    f"topic {name} has {count} partitions, not {partitions}: use --partitions {count} "
                    f"everywhere or recreate the topic."
                )
        missing = [name for name in names if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(name, num_partitions=partitions, replication_factor=replication)
                    for name in missing
                ]
            )
        return {name: ("exists" if name in existing else "created") for name in names}
    finally:
        await admin.close()


async def _partition_counts(admin: Any, names: tuple[str, ...]) -> dict[str, int]:
    listed = set(await admin.list_topics())
    wanted = [name for name in names if name in listed]
    if not wanted:
        return {}
    described = await admin.describe_topics(wanted)
    return {topic["topic"]: len(topic["partitions"]) for topic in described}


def ensure_topics_sync(
    bootstrap: str, partitions: int = DEFAULT_PARTITIONS, **kwargs: Any
) -> dict[str, str]:
    return asyncio.run(ensure_topics(bootstrap, partitions, **kwargs))
