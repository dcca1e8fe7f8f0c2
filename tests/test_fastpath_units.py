"""Pure unit tests of streams.worker.faust.fastpath's pieces that need no broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka.structs import TopicPartition
from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.worker.faust.fastpath import (
    MessageSchema,
    _fast_delivery,
    _pressure_callbacks,
    message_batches,
)


def test_pressure_callbacks_hand_faust_tps_to_the_consumer() -> None:
    """Messages carry aiokafka's TopicPartition; Faust's consumer asserts it gets its own
    TP when it pauses or resumes a partition (a worker under backpressure crashed on it)."""
    calls: list[tuple[str, object]] = []
    app = SimpleNamespace(
        sensors=SimpleNamespace(on_topic_buffer_full=lambda tp: calls.append(("sensor", tp))),
        consumer=SimpleNamespace(
            on_buffer_full=lambda tp: calls.append(("full", tp)),
            on_buffer_drop=lambda tp: calls.append(("drop", tp)),
        ),
    )
    on_high, on_drop = _pressure_callbacks(app, TopicPartition("pulse.logins", 3))
    on_high()
    on_drop()
    assert [name for name, _ in calls] == ["sensor", "full", "drop"]
    assert all(type(tp) is TP and tp == TP("pulse.logins", 3) for _, tp in calls)


class _Message:
    def __init__(self, offset: int, topic: str = "pulse.logins") -> None:
        self.offset, self.topic, self.tracked = offset, topic, False


def _stream(queue, acking_topics=frozenset({"pulse.logins"})):
    unacked: set = set()
    stream = SimpleNamespace(
        channel=SimpleNamespace(queue=queue),
        app=SimpleNamespace(
            consumer=SimpleNamespace(unacked=unacked),
            topics=SimpleNamespace(acking_topics=acking_topics),
        ),
        should_stop=False,
    )

    async def maybe_start() -> None:
        return None

    stream.maybe_start = maybe_start
    return stream, unacked


def test_message_batches_take_what_waits_track_it_and_free_the_queue() -> None:
    """Batches hold every message once, in order, up to the size asked; each message of an
    acking topic is tracked as unacknowledged; producers waiting for room get it, and
    fetching paused by a full queue resumes once the queue has drained enough."""

    async def run():
        queue = ThrowableQueue(maxsize=10, flow_control=FlowControlEvent(initially_suspended=False))
        stream, unacked = _stream(queue)
        resumed: list[str] = []

        def resume() -> None:  # one per partition, as Faust's handler has
            resumed.append("resume")

        for offset in range(10):  # full: from the 8th on the queue is under pressure
            queue.put_nowait_enhanced(
                _Message(offset), on_pressure_high=lambda: None, on_pressure_drop=resume
            )
        producers = [asyncio.ensure_future(queue.put(_Message(offset))) for offset in (10, 11, 12)]
        batches, seen = [], []
        async for batch in message_batches(stream, max_messages=4, within=0.05):
            batches.append([m.offset for m in batch])
            seen.append((len(queue._putters), list(resumed)))
            if sum(map(len, batches)) >= 13:
                stream.should_stop = True
        await asyncio.wait_for(asyncio.gather(*producers), 1)
        return batches, seen, unacked

    batches, seen, unacked = asyncio.run(run())
    assert [offset for batch in batches for offset in batch] == list(range(13))
    assert all(len(batch) <= 4 for batch in batches) and batches[0] == [0, 1, 2, 3]
    # every batch wakes the producers waiting for room; the queue stays under pressure
    # (more than 4 left) until the third batch, which leaves 1: fetching resumes
    assert seen == [(0, []), (0, []), (0, ["resume"]), (0, ["resume"])]
    assert len(unacked) == 13 and all(m.tracked for m in unacked)


class _Channel:  # hashable, as Faust's topics are: the conductor keeps them in sets
    def __init__(self, queue: ThrowableQueue, schema: object) -> None:
        self.queue, self.schema = queue, schema


def _consumer_with_one_channel(schema: object, maxsize: int = 5):
    """A consumer, conductor and app reduced to what `_fast_delivery` reads, with one
    channel subscribed to pulse.logins/0."""
    tp = TP("pulse.logins", 0)
    flow_control = FlowControlEvent(initially_suspended=False)
    channel = _Channel(ThrowableQueue(maxsize=maxsize, flow_control=flow_control), schema)
    handled: list[object] = []

    async def handler(message: object) -> None:
        handled.append(message)

    paused: list[object] = []
    app = SimpleNamespace(
        topics=SimpleNamespace(
            _tp_to_callback_lock=asyncio.Lock(),
            _tp_index={tp: {channel}},
            _tp_to_callback={tp: handler},
        ),
        flow_control=flow_control,
        producer=SimpleNamespace(buffer=SimpleNamespace(pending=asyncio.Queue(), max_messages=100)),
        conf=SimpleNamespace(producer_threaded=False),
        client_only=False,
        sensors=SimpleNamespace(on_topic_buffer_full=lambda tp: None),
        consumer=SimpleNamespace(on_buffer_full=paused.append, on_buffer_drop=lambda tp: None),
    )
    consumer = SimpleNamespace(app=app, suspend_flow=asyncio.Event())
    return consumer, channel, handled, paused


class _FetchedMessage:
    """What `getmany` yields, as far as the fast path reads it (the tp is aiokafka's)."""

    def __init__(self, offset: int) -> None:
        self.tp, self.offset, self.refcount = TopicPartition("pulse.logins", 0), offset, 0

    def incref(self, n: int = 1) -> None:
        self.refcount += n


def test_fast_delivery_puts_messages_into_message_schema_queues_until_it_would_block() -> None:
    async def run() -> None:
        consumer, channel, handled, paused = _consumer_with_one_channel(MessageSchema())
        deliver = _fast_delivery(consumer)
        messages = [_FetchedMessage(offset) for offset in range(6)]
        assert [await deliver(m) for m in messages[:5]] == [True] * 5
        assert list(channel.queue._queue) == messages[:5] and all(
            m.refcount == 1 for m in messages[:5]
        )
        assert paused == [TP("pulse.logins", 0)]  # the 5th found the queue under pressure
        assert await deliver(messages[5]) is False  # full: the stock path waits for room
        assert handled == []

        channel.queue.clear()
        consumer.app.flow_control.suspend()  # a rebalance
        assert await deliver(messages[5]) is False
        consumer.app.flow_control.resume()
        async with consumer.app.topics._tp_to_callback_lock:  # subscriptions changing
            assert await deliver(messages[5]) is False
        assert await deliver(_FetchedMessage(9)) is True

    asyncio.run(run())


def test_fast_delivery_hands_other_channels_to_the_partition_handler() -> None:
    async def run() -> None:
        consumer, channel, handled, _ = _consumer_with_one_channel(schema=object())
        message = _FetchedMessage(0)
        assert await _fast_delivery(consumer)(message) is True
        assert handled == [message] and channel.queue.empty() and message.refcount == 0

    asyncio.run(run())


def test_message_batches_end_quietly_when_the_agent_stops() -> None:
    """On SIGTERM Faust's agent actor throws StopAsyncIteration into the channel queue
    (AgentActor.cancel). `message_batches` must end there: raised inside the generator it
    became RuntimeError('async generator raised StopAsyncIteration'), logged as a crash on
    every clean stop. Both places a batch reads from are covered: the waiting `get` and
    `get_nowait` while a batch fills."""

    async def run(waiting: bool) -> list[list[int]]:
        queue = ThrowableQueue(maxsize=10, flow_control=FlowControlEvent(initially_suspended=False))
        stream, _ = _stream(queue)
        loop = asyncio.get_running_loop()
        if waiting:
            loop.call_later(0.02, queue._throw, StopAsyncIteration())
        else:
            queue.put_nowait(_Message(0))
            queue._throw(StopAsyncIteration())  # queued behind the message
        batches = []
        async for batch in message_batches(stream, max_messages=4, within=1.0):
            batches.append([m.offset for m in batch])
        return batches

    assert asyncio.run(asyncio.wait_for(run(waiting=True), 5)) == []
    assert asyncio.run(asyncio.wait_for(run(waiting=False), 5)) == []
