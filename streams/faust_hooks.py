"""The few places where the worker reaches into faust-streaming internals, kept together.

Pinned to faust-streaming 0.15.x (see constraints.txt); the worker tests on the real broker
(equivalence, crash, scale-out) cover each hook, so an upgrade that breaks one fails there.

1. `send_in_partition_transaction`: under exactly-once, Faust sends through one
   transactional producer per assigned source partition and only for topics the app
   consumes. Dead letters and re-keyed messages go to other topics, so the worker sends
   them, and the state table's changelog rows, with the transactional producer of the
   source partition they belong to: they commit or abort together with that partition's
   offsets.
2. `install`: under exactly-once, Faust's consumer answers "highwater of a changelog
   partition" from aiokafka's cached last stable offset, which is None until the first
   fetch from that partition. Table recovery right after a rebalance then reads the
   highwater as -1 and either skips the changelog (stale state) or stops with
   ConsistencyError (seen when a worker takes over a dead worker's partitions). The hook
   asks the broker instead (ListOffsets at read_committed, which answers the last stable
   offset).
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread


async def _highwaters_from_broker(self: Any, partitions: Any) -> Any:
    return await self._ensure_consumer().end_offsets(list(partitions))


def install() -> None:
    """Apply hook 2 (idempotent)."""
    AIOKafkaConsumerThread._highwaters = _highwaters_from_broker


async def send_in_partition_transaction(
    app: Any, source_topic: str, source_partition: int, topic: str, key: bytes | None, value: bytes,
    partition: int | None, headers: list[tuple[str, bytes]] | None = None,
) -> Any:
    """Send a message inside the transaction of (source_topic, source_partition); return its future."""
    if app.in_transaction:
        group = app.assignor.group_for_topic(source_topic)
        transactional_id = f"{app.conf.id}-{group}-{source_partition}"
        producer = app.consumer.transactions.producer
        return await producer.send(topic, key, value, partition, None, headers, transactional_id=transactional_id)
    producer = await app.maybe_start_producer()
    return await producer.send(topic, key, value, partition, None, headers)
