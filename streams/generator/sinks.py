"""Where generated messages go: a JSONL stream (file or stdout) or Kafka, with pacing and
progress reports. Both sinks count every message into a `Summary` as they go, so an
interrupted run still reports exactly what was written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from streams.errors import PulseError
from streams.generator.generator_config import GeneratedMessage
from streams.generator.summary import Summary
from streams.kafka.security import KafkaSecurity, client_log_muted, connection_error

PROGRESS_EVERY_SECONDS = 5.0
_CHECK_EVERY = 2048  # messages between looks at the clock


class Pacer:
    """Keeps a stream at `rate` messages per second (None: as fast as possible)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.sent = 0

    def delay(self) -> float:
        """Seconds to wait before the next message."""
        if self.rate is None:
            return 0.0
        self.sent += 1
        return self.started + self.sent / self.rate - time.monotonic()


class Progress:
    """A line on stderr every few seconds: messages so far and the recent rate."""

    def __init__(self, echo: Callable[[str], None], summary: Summary) -> None:
        self.echo = echo
        self.summary = summary
        self.last_time = time.monotonic()
        self.last_count = 0

    def maybe_report(self) -> None:
        now = time.monotonic()
        if now - self.last_time >= PROGRESS_EVERY_SECONDS:
            count = self.summary.messages
            self.echo(
                f"pulse generate: {count:,} messages ({(count - self.last_count) / (now - self.last_time):,.0f}/s)"
            )
            self.last_time, self.last_count = now, count


def write_jsonl(
    messages: Iterable[GeneratedMessage],
    out: BinaryIO,
    summary: Summary,
    progress: Progress,
    pacer: Pacer,
    flush_each: bool = False,
) -> None:
    """One message value per line. `flush_each` makes a slow (live) feed visible at once."""
    add = summary.add
    write = out.write
    if pacer.rate is None and not flush_each:  # the fast path: a backlog as fast as possible
        for count, message in enumerate(messages, 1):
            write(message.value + b"\n")
            add(message)
            if not count % _CHECK_EVERY:
                progress.maybe_report()
        out.flush()
        return
    for message in messages:
        wait = pacer.delay()
        if wait > 0:
            out.flush()
            time.sleep(wait)
        write(message.value + b"\n")
        add(message)
        if flush_each:
            out.flush()
        progress.maybe_report()
    out.flush()


async def produce(
    phases: Iterable[tuple[Iterable[GeneratedMessage], Pacer]],
    bootstrap: str,
    topic_prefix: str,
    summary: Summary,
    progress: Progress,
    security: KafkaSecurity | None = None,
) -> None:
    """Send to Kafka: topic per event type (with `topic_prefix`), key = account_id.

    `phases` are (messages, pacer) pairs sent one after the other through one producer (the
    backlog, then maybe the live feed); they are taken lazily, so a later phase may depend
    on an earlier one being done. An idempotent producer with acks=all, so a retry cannot
    duplicate a message (the duplicates in the data are the deliberate ones). Stops cleanly
    (flushing what was sent) when cancelled; a delivery error ends the run with one sentence.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError

    security = security or KafkaSecurity()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        acks="all",
        enable_idempotence=True,
        **security.aiokafka_options(),
    )
    with client_log_muted():  # the outcome is reported here, once, naming the cause
        try:
            await producer.start()
        except (KafkaError, OSError) as error:
            await producer.stop()
            raise await connection_error(error, bootstrap, security) from None
    failures: list[BaseException] = []

    def check(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None and not failures:
            failures.append(future.exception())  # type: ignore[arg-type]

    try:
        for messages, pacer in phases:
            pending = 0
            for message in messages:
                wait = pacer.delay()
                if wait > 0:
                    await asyncio.sleep(wait)
                topic = topic_prefix + message.topic
                try:
                    delivery = await producer.send(topic, message.value, key=message.key)
                except UnknownTopicOrPartitionError:
                    raise PulseError(
                        f"Topic {topic} does not exist at {bootstrap}: create the project's "
                        f"topics first (`pulse dev topics --bootstrap {bootstrap} --prefix "
                        f"'{topic_prefix}'`), or give the --topic-prefix they were made with."
                    ) from None
                delivery.add_done_callback(check)
                summary.add(message)
                pending += 1
                if pending == _CHECK_EVERY or wait > 0:
                    pending = 0
                    await asyncio.sleep(0)  # let the sender run while we generate
                    progress.maybe_report()
                    if failures:
                        break
            await producer.flush()
            if failures:
                break
    finally:
        await producer.stop()
    if failures:
        raise PulseError(
            f"Kafka at {bootstrap} refused a message ({failures[0]}): check the topics exist "
            f"(`pulse dev topics`) and the broker is healthy."
        )
