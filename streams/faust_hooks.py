"""The few places where the worker reaches into faust-streaming internals, kept together.

Pinned to faust-streaming 0.15.x (see constraints.txt); the worker tests on the real broker
(equivalence, crash, scale-out) cover each hook, so an upgrade that breaks one fails there.

1. `partition_context`: Faust's RocksDB store files a key under the partition of the
   *current event*, a context variable set per message. The worker writes each account's
   row once per batch, after the batch; it sets the current event to the batch's last event
   from the account's own partition, so the row lands in the right partition's database
   (the changelog partition comes from the key, `use_partitioner=True`).
2. `send_in_partition_transaction`: under exactly-once, Faust sends through one
   transactional producer per assigned source partition and only for topics the app
   consumes. Dead letters and re-keyed messages go to other topics, so the worker sends
   them with the transactional producer of the source partition they came from: they
   commit or abort together with that partition's offsets and changelog writes.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from faust.streams import _current_event


@contextlib.contextmanager
def partition_context(event: Any) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


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
