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
3. `partition_context`: Faust's RocksDB store files a key under the partition of the
   *current event*, a context variable set per message, and assumes at recovery that an
   active partition's store holds everything its own worker wrote. The worker writes each
   batch's rows to the store after their changelog messages are sent, with the current
   event set to the batch's last event of that partition.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from faust.streams import _current_event
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread


@contextlib.contextmanager
def partition_context(event: Any) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


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
