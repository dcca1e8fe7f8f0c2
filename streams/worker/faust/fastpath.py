"""A fast path for Faust's consumer drain loop: hand a message to the agents without
creating four tasks for it when handing it over cannot block.

Guarded by streams/worker/faust/compat.py: `install()` patches through it, so the worker refuses
any faust-streaming, mode-streaming or aiokafka other than the supported versions, and a
`_drain_messages` (or conductor, queue) whose source is not the one copied here.

What Faust does. `faust.transport.consumer.Consumer._drain_messages` is the loop that
reads records from `getmany` and hands each one to `callback`, the conductor's
`on_message` (faust/transport/conductor.py). That callback takes the conductor's
`_tp_to_callback_lock`, waits for `app.flow_control` (suspended during a rebalance) and
for the producer buffer to ebb, decodes the message, and puts the event into the queue of
every channel subscribed to its partition; when a queue is full it awaits room. The loop
runs every call as

    await self.wait_first(callback(message), self.suspend_flow.wait())

so that a flow suspension (a rebalance: `consumer.stop_flow()` and
`app.flow_control.suspend()`, then `flow_control.clear()` empties the queues) interrupts
a callback that blocks, and the message is dropped rather than delivered after the
revocation.

Why it is slow. `wait_first` wraps both awaitables, plus the service's `stopped` and
`crashed` events, in four tasks and calls `asyncio.wait` for every message: a decode-only
agent spends most of its CPU in that machinery, not in Faust or user code.

What the fast path changes. Only that one step, and only when all of these hold just
before the call: flow is not suspended (`suspend_flow` clear, `flow_control` active), the
conductor's lock is free with no waiter, the producer buffer is not over its limit, the
conductor indexes channels and a handler for the message's partition, and none of those
channels' queues is full. Then every await in the callback completes without suspending,
and the loop does what the callback would do, without the tasks (`_fast_delivery`):

- when every channel of the partition is a `MessageSchema` topic (the worker's), it puts
  the message itself into their queues, with the partition handler's bookkeeping: one
  reference per channel (`message.incref`) and the callbacks that pause fetching the
  partition while a queue is under pressure and resume it once drained;
- otherwise it awaits the partition's handler directly: what the callback does after
  taking and releasing the conductor's lock (free, so taking it changes nothing).

When a condition fails, it runs Faust's own `wait_first` line. The rest of the loop (read
offsets, gaps, commit_every, the yield to the event loop every 100 messages, the error
handling) is the original, line for line; only, on the fast path the loop now yields at
those points and in `getmany`, not at every message.

Why it is safe under rebalances. Those conditions are the only places the callback can
block on stock channels, and nothing else runs on the event loop between the check and
the end of a callback that does not suspend: a rebalance cannot begin in between, so
there is nothing for `suspend_flow` to interrupt. The fast path is one of the stock
loop's own interleavings: the one where the callback's task, which runs to completion in
its first step when nothing blocks it, is stepped before any other ready callback. A
callback that would wait (a full queue, a suspended flow, the lock held while
subscriptions change, a producer buffer to flush) goes through `wait_first` as before,
so a suspension still interrupts it, and a message of a partition the conductor no
longer indexes (a stale batch after a revoke) takes the stock path too. Backpressure is
unchanged: a full queue still makes the loop wait for room. Caveat: a channel whose
`decode` or `on_decode_error` override awaits something slow is awaited without the
race; Faust's own channels do not await in either.

The agent's side: `message_batches(stream, ...)` and `MessageSchema`. `Stream.take_events`
runs every event through the stream's iterator (sensors, the current-event context
variable, processors, an ack per event) and a buffering processor with two asyncio
events. With `MessageSchema` the channel queue holds the Kafka messages themselves, not
`faust.Event`s, and `message_batches` reads that queue itself, taking every message
waiting there at once. Per message it keeps only what the acknowledgement protocol
needs: a message of an acking topic is tracked as unacknowledged by the consumer (so a
rebalance waits for it, and `message.ack(consumer)` later releases it), exactly as the
stream iterator does. It does not call the monitoring sensors (`on_stream_event_in/out`)
nor skip messages whose generation is stale or that arrive while flow is suspended: the
caller judges every message and acknowledges what it applied (the worker:
streams/worker/delivery.py and `PulseWorker._in_order`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.types import TP
from mode import Service, ServiceT

from streams.worker.faust import compat as faust_compat

_MARK = "__pulse_fastpath__"
_skip_below_read_offset = True
#: Messages handed over directly / through `wait_first` since start (for benchmarks).
counts = {"direct": 0, "waited": 0}


def install(*, skip_below_read_offset: bool = True) -> None:
    """Replace `Consumer._drain_messages` with the fast-path copy (idempotent).

    With `skip_below_read_offset=False` the loop also hands over records below Faust's read
    offset, which it otherwise drops: after a seek back, records fetched before the seek
    move the read offset past the ones fetched again, and those would never arrive. Only
    for an app that judges every offset itself (the worker: streams/worker/delivery.py)."""
    global _skip_below_read_offset
    _skip_below_read_offset = skip_below_read_offset
    if getattr(Consumer._drain_messages, _MARK, False):
        return
    faust_compat.patch(Consumer, "_drain_messages", _drain_messages)


async def message_batches(
    stream: Any, max_messages: int, within: float
) -> AsyncIterator[list[Any]]:
    """Yield lists of the messages in the agent's channel queue (a `MessageSchema`
    channel): a list is yielded once it holds `max_messages`, or `within` seconds after its
    first message arrived; an empty list when none arrived for `within` seconds (so that
    the caller can act on time while idle). The caller acknowledges each message
    (`message.ack(consumer)`) or lets it go (faust_hooks.forget_unacked)."""
    faust_compat.check()
    await stream.maybe_start()
    queue = stream.channel.queue
    consumer = stream.app.consumer
    acking_topics = stream.app.topics.acking_topics
    add_unacked = consumer.unacked.add
    loop = asyncio.get_running_loop()

    def take(message: Any, batch: list[Any]) -> None:
        if not message.tracked and message.topic in acking_topics:
            message.tracked = True
            add_unacked(message)
        batch.append(message)

    while not stream.should_stop:
        batch: list[Any] = []
        try:
            try:
                take(await asyncio.wait_for(queue.get(), within), batch)
            except TimeoutError:
                yield batch
                continue
            deadline = loop.time() + within
            while len(batch) < max_messages:
                if not queue.empty():
                    take(queue.get_nowait(), batch)
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    take(await asyncio.wait_for(queue.get(), remaining), batch)
                except TimeoutError:
                    break
        except StopAsyncIteration:
            # A stopping agent throws StopAsyncIteration into its channel's queue (Faust's
            # AgentActor.cancel; mode's ThrowableQueue hands it to the waiting getter, or
            # to the next get): the end of the stream, not
            # an error. Raised inside this generator it would become RuntimeError('async
            # generator raised StopAsyncIteration') and Faust would log the agent as
            # crashed. The messages of the unfinished batch are not applied, so not
            # acknowledged: the next start reads them again.
            return
        yield batch


class MessageSchema(faust.Schema):
    """The channel's "event" is the Kafka message itself (`faust.types.Message`).

    Faust's schema builds a `faust.Event` per message through its codec registry (two
    lookups, two calls, a settings lookup and an object of six attributes). The worker
    decodes values itself (streams/contract/decoding.py) and needs of an event only its message and
    the acknowledgement, which is `message.ack(consumer)`. Only for a channel read with
    `message_batches`: Faust's own stream iterator expects events."""

    def compile(self, app: Any, **_: Any) -> Callable[..., Awaitable[Any]]:
        async def decode(message: Any, *, propagate: bool = False) -> Any:
            return message

        return decode


def uninstall() -> None:
    """Put Faust's own `_drain_messages` back (for benchmarks and tests)."""
    faust_compat.unpatch(Consumer, "_drain_messages")


def installed() -> bool:
    return bool(getattr(Consumer._drain_messages, _MARK, False))


def _fast_delivery(consumer: Consumer) -> Callable[[Any], Awaitable[bool]]:
    """Build `deliver(message)`: hand the message over as `conductor.on_message` would, if
    that cannot suspend, and say whether it did (False: the caller takes the stock path)."""
    app = consumer.app
    conductor = app.topics
    flow_is_active = app.flow_control.is_active
    suspended = consumer.suspend_flow.is_set
    lock = conductor._tp_to_callback_lock  # type: ignore[attr-defined]
    tp_index = conductor._tp_index  # type: ignore[attr-defined]
    tp_to_callback = conductor._tp_to_callback  # type: ignore[attr-defined]
    buffer = app.producer.buffer
    # ProducerBuffer.size looks up a setting on every call (slow); it cannot change
    buffer_size = (lambda: buffer.size) if app.conf.producer_threaded else buffer.pending.qsize
    client_only = app.client_only
    pressure: dict[Any, tuple[Callable[[], None], Callable[[], None]]] = {}

    async def deliver(message: Any) -> bool:
        if suspended() or not flow_is_active() or client_only:
            return False
        # asyncio.Lock.acquire suspends when the lock is held or has waiters
        if lock.locked() or lock._waiters:  # type: ignore[attr-defined]
            return False
        # ProducerBuffer.wait_until_ebb would flush
        if buffer_size() > buffer.max_messages:
            return False
        tp = message.tp
        channels = tp_index.get(tp)  # .get: tp_index is a defaultdict
        handler = tp_to_callback.get(tp)
        if not channels or handler is None:
            return False
        only_messages = True
        for channel in channels:
            if channel.queue.full():
                return False
            only_messages = only_messages and isinstance(channel.schema, MessageSchema)
        if not only_messages:
            await handler(message)  # after taking the conductor's lock, free: no change
            return True
        # What the handler does for channels whose event is the message itself
        callbacks = pressure.get(tp) or pressure.setdefault(tp, _pressure_callbacks(app, tp))
        message.incref(len(channels))
        for channel in channels:
            channel.queue.put_nowait_enhanced(
                message, on_pressure_high=callbacks[0], on_pressure_drop=callbacks[1]
            )
        return True

    return deliver


def _pressure_callbacks(app: Any, tp: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """What Faust's handler for `tp` calls when a channel queue fills up (pause fetching
    the partition) and when it drains again (resume): faust/transport/conductor.py."""
    tp = TP(tp.topic, tp.partition)  # a message's tp may be aiokafka's: the consumer wants Faust's
    on_topic_buffer_full = app.sensors.on_topic_buffer_full
    consumer = app.consumer

    def on_pressure_high() -> None:
        on_topic_buffer_full(tp)
        consumer.on_buffer_full(tp)

    def on_pressure_drop() -> None:
        consumer.on_buffer_drop(tp)

    return on_pressure_high, on_pressure_drop


async def _drain_messages(self: Consumer, fetcher: ServiceT) -> None:  # pragma: no cover
    # Copied from faust-streaming 0.15.3 faust/transport/consumer.py; the only change is
    # marked FAST PATH below.
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    deliver = _fast_delivery(self)  # FAST PATH
    skip_below_read_offset = _skip_below_read_offset

    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(AsyncIterator, getmany(timeout=1.0))

            # Sleeping because sometimes getmany is called in a loop
            # never releasing to the event loop
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0

                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset or not skip_below_read_offset:
                        gap = offset - (r_offset or 0)
                        # We have a gap in income messages
                        if gap > 1 and r_offset:
                            acks_enabled = acks_enabled_for(message.topic)
                            if acks_enabled:
                                await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None:  # noqa: SIM102 - as in Faust's copy
                            if self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                        # FAST PATH: no tasks when the callback cannot block.
                        if await deliver(message):
                            counts["direct"] += 1
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                            counts["waited"] += 1
                        set_read_offset(tp, offset)
                    else:
                        self.log.dev(
                            "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                            offset,
                            message.key,
                            message.value,
                        )
                unset_flag(flag_consumer_fetching)

    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)


setattr(_drain_messages, _MARK, True)
