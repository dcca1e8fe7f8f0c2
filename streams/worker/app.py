"""The Faust shell of `pulse worker`: topics, the state table, the ingest agent, /metrics.

The agent is thin. It reads its queue in batches of Kafka messages
(faust_fastpath.message_batches) and hands every message to the same per-event path
`pulse replay` uses (decode, validate, deduplicate, late policy, engine), which changes
in-memory rows at once: /metrics shows an event within a batch. At each checkpoint
(every --checkpoint-seconds, or after --checkpoint-events) it writes the parts of each account
changed since the last one, as compact bytes, to one changelogged table (RocksDB store by
default), and only then acknowledges the events. Rejects go to `pulse.dead-letter`. A
message whose key is not its account_id, or which sits in another partition than its
account's, is forwarded to an internal re-key topic keyed by account_id and processed
from there, so each account's state lives in exactly one partition whatever the
producer did.

Durability: changelog rows, dead letters, re-keyed messages and consumer offsets are
written in one Kafka transaction per source partition (processing_guarantee=exactly_once),
so a crash loses nothing and counts nothing twice. Faust commits only acknowledged
offsets, and no commit falls inside a checkpoint (the commit gate of
streams/worker/faust/hooks.py), so a committed transaction holds whole checkpoints and the
offsets of their events. A rebalance that suspends the flow gets a checkpoint at once;
effects applied but never written are forgotten at revocation. The local store gets a row
only once its transaction has committed, and every rebalance starts fresh transactional
producers, aborting whatever was not committed; the consumer then reads on from the
committed offsets and the in-memory rows are reloaded from the recovered table. A worker
that cannot write a checkpoint to Kafka stops rather than acknowledge its events; after an
unclean stop the local store is discarded and rebuilt from the changelog (streams/worker/datadir.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import faust
from aiokafka.errors import (
    IllegalOperation,
    KafkaError,
    MessageSizeTooLargeError,
    ProducerFenced,
    RecordTooLargeError,
)
from faust.exceptions import ProducerSendError
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from streams.contract.deadletter import MAX_RECORD_BYTES
from streams.exposition import FamiliesCollector
from streams.worker.account_views import AccountViews
from streams.worker.datadir import worker_data_dir
from streams.worker.delivery import DeliveryGuard, DeliveryVerdict
from streams.worker.faust import fastpath as faust_fastpath
from streams.worker.faust import hooks as faust_hooks
from streams.worker.faust.hooks import send_in_partition_transaction
from streams.worker.gc_policy import GcPolicy
from streams.worker.kafka_watch import KafkaWatch
from streams.worker.scrape import business_families, render_in_slices, worker_families
from streams.worker.settings import WorkerSettings
from streams.worker.state import CHECKPOINT_SLICE_ACCOUNTS, Send, WorkerBook
from streams.worker.telemetry import PipelineTelemetry
from streams.worker.turns import give_turn, in_turns
from streams.worker.web_auth import FAUST_WEB_SETTINGS, WebGuard, start_open_listener

if TYPE_CHECKING:
    from faust.web import Request, Response

log = logging.getLogger("cs-pulse.worker")
# An account is stored in parts of a few KiB each (streams/worker/state_parts.py); rows of the
# earlier one-row format, still in changelogs, could pass Kafka's 1 MiB default, so the
# changelog topic and the producer allow 16 MiB.
MAX_ROW_BYTES = 16 * 1024 * 1024
# A batch (up to --batch-size messages, ~0.4 s of work at 10,000) is applied in turns of at
# most this long, checked every YIELD_CHECK_EVERY messages; between turns the event loop
# serves HTTP requests (/accounts, /metrics), which would otherwise wait for the whole batch.
APPLY_TURN_S = 0.005
YIELD_CHECK_EVERY = 64
# A checkpoint gives the event loop a turn after every CHECKPOINT_SLICE_ACCOUNTS accounts it
# prunes and encodes (streams/worker/state.py) and after every SEND_SLICE records it hands to
# the producer: a checkpoint of 10,000 accounts would otherwise hold the loop for a second
# (a send is tens of microseconds: slices of 500 held it for 10-25 ms).
SEND_SLICE = 100
# ... and after every ACK_SLICE events it acknowledges: acknowledging a checkpoint's 20,000
# events in one go held the loop for up to 0.4 s (docs/performance.md, "Account layer, live").
ACK_SLICE = 1000
# The worker's timer looks this often whether the collector's full collection is due
# (streams/worker/gc_policy.py); checkpoints look too.
GC_CHECK_EVERY_S = 30.0
# A scrape tallies the engine's snapshot in slices of this many accounts (about 6 ms at
# 10,000 accounts), the event loop serving other requests between them.
SNAPSHOT_SLICE_ACCOUNTS = 100
# The agent counts as busy for this long after a batch of events or a checkpoint (a batch
# comes at least every --batch-seconds while a backlog lasts).
AGENT_BUSY_S = 1.0
# The producer's batches (see _build_app): a topic the worker writes to must accept
# messages of this size plus a batch header, i.e. Kafka's default max.message.bytes.
PRODUCER_BATCH_BYTES = 1 << 20
TOPIC_MESSAGE_BYTES = PRODUCER_BATCH_BYTES + 12  # Kafka's default max.message.bytes, 1048588


class CheckpointAborted(Exception):
    """A checkpoint could not be written; the worker stops (the sentence says why)."""


def refused_record_sentence(topic: str, size: int, error: BaseException, count: int = 1) -> str:
    """One sentence for a record the broker refused during a checkpoint."""
    others = f" (and {count - 1} more)" if count > 1 else ""
    if isinstance(error, (MessageSizeTooLargeError, RecordTooLargeError)):
        return (
            f"topic {topic} refused a record of {size} bytes{others} as too large: set its max.message.bytes "
            f"to at least {TOPIC_MESSAGE_BYTES} (Kafka's default; the worker writes batches of up to "
            f"{PRODUCER_BATCH_BYTES} bytes, dead letters of at most {MAX_RECORD_BYTES}); the checkpoint "
            f"was aborted, none of its offsets committed, and a restart reads its events again."
        )
    return (
        f"topic {topic} refused a record of {size} bytes{others} ({type(error).__name__}: {error}): "
        f"the checkpoint was aborted, none of its offsets committed, and a restart reads its events again."
    )


def rekey_topic_name(app_id: str) -> str:
    return f"{app_id}-rekeyed"


class PulseWorker:
    """Builds the Faust app and holds the per-process state around it."""

    def __init__(
        self, settings: WorkerSettings, book: WorkerBook, clock: Callable[[], int]
    ) -> None:
        self.settings = settings
        self.book = book
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self.telemetry = PipelineTelemetry()
        self.rekey_topic = rekey_topic_name(settings.app_id)
        self.delivery = DeliveryGuard()
        self.gc_policy = GcPolicy()  # short collections only (streams/worker/gc_policy.py)
        self.held: list = []  # messages applied since the last checkpoint, not acknowledged yet
        # Held by the agent while it changes the rows (a turn of a batch, a checkpoint's
        # slices) and by a scrape across its slices: a scrape reads one state of the rows.
        self.state_lock = asyncio.Lock()
        self.busy_until = 0.0  # event loop time until which the agent counts as busy
        self.catching_up = False  # the last batch was full: a backlog is waiting
        self.source_topic_names = frozenset((*settings.source_topics, self.rekey_topic))
        self.hooks = faust_hooks.WorkerHooks(
            self._on_committed, self.delivery.start, self.delivery.trail, self.source_topic_names
        )
        self.kafka_watch = KafkaWatch(
            settings.bootstrap, settings.security, settings.fetch_stall_seconds
        )
        self.kafka_watch.install()
        self.app = self._build_app()
        self.business: list[Metric] = []
        """The business families of the scrape under way, computed in slices beforehand
        (`_business_families`) and rendered by the registry's collector."""
        self.registry.register(FamiliesCollector(lambda: worker_families(self, self.business)))
        ProcessCollector(registry=self.registry)  # process_* (CPU, memory, file descriptors)

    def _build_app(self) -> faust.App:
        s = self.settings
        app = faust.App(
            s.app_id,
            broker=f"kafka://{s.bootstrap}",
            broker_credentials=s.broker_credentials(),
            store="rocksdb://" if s.store == "rocksdb" else "memory://",
            datadir=str(worker_data_dir(s.data_dir)),  # this host's own (streams/worker/datadir.py)
            topic_partitions=s.partitions,
            topic_replication_factor=1,
            processing_guarantee=s.processing_guarantee,
            consumer_auto_offset_reset="earliest",
            web_bind=s.metrics_bind,
            web_port=s.metrics_port,
            web_host=s.metrics_bind,
            web_in_thread=False,
            web_ssl_context=s.web.ssl_context(),
            **FAUST_WEB_SETTINGS,  # no table, router or statistics views (streams/worker/web_auth.py)
            table_cleanup_interval=3600.0,
            broker_commit_every=10_000,
            broker_commit_interval=1.0,
            stream_buffer_maxsize=8192,
            producer_linger_ms=5,
            # a crashed worker's partitions move after 10 s, not Kafka's default 45 s
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
            producer_max_request_size=MAX_ROW_BYTES,
            # aiokafka waits for a full batch to be sent before it starts the next one of
            # that partition: with 16 KiB batches (the default) and rows of ~20 KiB, a
            # checkpoint waited one round trip per row (0.2-0.6 s of every 10 s, idle)
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
            table_key_serializer="raw",
            table_value_serializer="raw",
        )
        self.source = app.topic(
            *s.source_topics,
            self.rekey_topic,
            schema=faust_fastpath.MessageSchema(
                key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
            ),
        )
        self.table = app.Table(
            "accounts",
            partitions=s.partitions,
            use_partitioner=True,
            key_type=bytes,
            value_type=bytes,
            extra_topic_configs={"max.message.bytes": str(MAX_ROW_BYTES)},
        )
        self.book.attach(self.table)
        self.table.on_recover(self._on_recovered)
        app.agent(self.source, name="ingest", concurrency=1)(self._ingest)
        app.page("/metrics")(self._metrics_page)
        app.page("/healthz")(self._health_page)
        AccountViews(self).install(
            app
        )  # /accounts, /accounts/{id} (streams/worker/account_views.py)
        app.web.web_app.middlewares.append(WebGuard(s.web).middleware)
        if s.web.open_port is not None:
            app.task(self._serve_open_listener)
        app.task(self._log_settings)
        app.timer(GC_CHECK_EVERY_S)(self._collect_if_due)
        app.on_partitions_revoked.connect(self._on_revoked)
        faust_hooks.install(app, self.hooks)
        faust_fastpath.install(skip_below_read_offset=False)
        return app

    # ---- the agent ----------------------------------------------------------------------

    async def _ingest(self, stream: faust.StreamT[Any]) -> None:
        """Apply events as they arrive; write what they changed at checkpoints.

        Applied events are held unacknowledged until the checkpoint that sends their
        state, so Faust commits their offsets only with it (see the module header)."""
        s = self.settings
        loop = asyncio.get_running_loop()
        due = 0.0
        async for messages in faust_fastpath.message_batches(stream, s.batch_size, s.batch_seconds):
            self.catching_up = len(messages) >= s.batch_size
            if messages:
                self.busy_until = math.inf  # until this batch and its checkpoint are done
            if not messages and self.ready():
                # idle after an assignment or a recovery: load the partitions' rows here,
                # in the agent, so that /metrics (which never loads) can show them
                self.book.sync(self.owned_partitions())
            if messages:
                applied = await self._apply(messages)
                if applied and not self.held:
                    due = loop.time() + s.checkpoint_seconds
                self.held += applied
            held = self.held
            rebalancing = not self.app.flow_control.is_active()
            if held and (rebalancing or len(held) >= s.checkpoint_events or loop.time() >= due):
                self.busy_until = math.inf
                self.held = []
                async with (
                    self.hooks.lock
                ):  # no commit between a checkpoint's first send and last ack
                    await self._checkpoint(held)
                self.gc_policy.checkpointed()
            if self.busy_until == math.inf:
                self.busy_until = loop.time() + AGENT_BUSY_S

    def agent_busy(self) -> bool:
        """Whether the agent had events to apply or a checkpoint to write within the last
        AGENT_BUSY_S (the record cache's refresh leaves it the event loop meanwhile)."""
        return asyncio.get_running_loop().time() < self.busy_until

    def owned_partitions(self) -> set[int]:
        return {
            tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.rekey_topic
        }

    async def _apply(self, messages: list[Any]) -> list[Any]:
        """Apply the messages that are due (`_in_order`) to the in-memory rows; return them."""
        self.book.sync(self.owned_partitions())
        current = await self._in_order(messages)
        if not await self._apply_in_turns(current):
            return []
        if current:
            self.telemetry.observe_batch(
                ((m.topic, _timestamp_ms(m)) for m in current), int(time.time() * 1000)
            )
        return current

    async def _apply_in_turns(self, messages: list) -> bool:
        """Apply `messages` in order, giving the event loop back every APPLY_TURN_S so that
        requests wait for one turn, not for the batch. False (nothing of the batch counts)
        when the partitions were dropped meanwhile (a revocation or a recovery reloads them
        from the table): the batch's messages are let go unacknowledged, as held ones are
        at a revocation, and the consumer hands them over again."""
        book, rekey_topic, lock = self.book, self.rekey_topic, self.state_lock
        generation = book.generation
        await lock.acquire()
        holding = True  # a stop may cancel the agent between turns, with the lock let go
        try:
            turn_ends = time.perf_counter() + APPLY_TURN_S
            for index, message in enumerate(messages):
                if index % YIELD_CHECK_EVERY == 0 and index and time.perf_counter() >= turn_ends:
                    lock.release()
                    holding = False
                    await give_turn()
                    await lock.acquire()
                    holding = True
                    if book.generation != generation:
                        for dropped in messages:
                            faust_hooks.forget_unacked(self.app.consumer, dropped)
                        return False
                    turn_ends = time.perf_counter() + APPLY_TURN_S
                book.process(message, is_rekeyed=message.topic == rekey_topic)
            return True
        finally:
            if holding:
                lock.release()

    async def _checkpoint(self, held: list) -> None:
        """Send what the held events produced in their partitions' transactions, wait until
        the broker has taken every record, then ack the events. Faust commits the acked
        offsets with those transactions at its next commit, which the commit gate keeps out
        of this method. A record the broker refuses (a full topic, a message limit too
        small) aborts the checkpoint: nothing of it is acknowledged, no commit follows,
        and the worker stops (aiokafka does not fail a transaction for a refused record,
        so committing would make offsets durable without that record)."""
        prepared = await self._prepare_checkpoint()
        if prepared is None:  # the partitions were reloaded meanwhile: read them again
            for message in held:
                faust_hooks.forget_unacked(self.app.consumer, message)
            return
        deliveries: list = []
        try:
            for partition, sends in prepared.items():
                for send in sends:
                    if len(deliveries) % SEND_SLICE == SEND_SLICE - 1:
                        await give_turn()  # a turn for requests between slices of sends
                    deliveries.append((send, await self._send(partition, send)))
            results = await _outcomes([delivery for _, delivery in deliveries])
        except (IllegalOperation, ProducerFenced, ProducerSendError, KafkaError) as error:
            # The partition's transaction is lost (fenced by another worker, or the broker
            # failed); acknowledging the events now could commit offsets whose output never
            # reached Kafka. Stop; the next start recovers from what was committed.
            for _, delivery in deliveries:  # their outcome no longer matters: retrieve it quietly
                delivery.add_done_callback(lambda future: future.cancelled() or future.exception())
            await self._abandon(
                held,
                f"cannot write a checkpoint to Kafka ({type(error).__name__}: {error}); "
                "stopping so that a restart recovers from the last committed state.",
            )
            return
        refused = [
            (send, result)
            for (send, _), result in zip(deliveries, results)
            if isinstance(result, BaseException)
        ]
        if refused:
            send, refusal = refused[0]
            await self._abandon(
                held, refused_record_sentence(send.topic, len(send.value), refusal, len(refused))
            )
            return
        # In slices, the event loop serving requests between them. The commit gate, held
        # by the caller, keeps every commit, a rebalance's included, after the last slice.
        consumer = self.app.consumer
        async for messages in in_turns(held, ACK_SLICE):
            for message in messages:
                message.ack(consumer)

    async def _prepare_checkpoint(self) -> dict | None:
        """`WorkerBook.checkpoint` in slices of CHECKPOINT_SLICE_ACCOUNTS accounts, the event
        loop serving requests between them (the agent applies nothing meanwhile: it is
        here). None when the partitions were reloaded between two slices (a revocation
        or a recovery aborted their transactions): nothing is sent."""
        book = self.book
        async with self.state_lock:
            generation = book.generation
            steps = book.checkpoint_steps(CHECKPOINT_SLICE_ACCOUNTS)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    return done.value
                await give_turn()
                if book.generation != generation:
                    steps.close()
                    return None

    async def _abandon(self, held: list, sentence: str) -> None:
        """Abort the checkpoint of `held` and stop: refuse every later commit (the open
        transactions are never committed, so Kafka aborts them), let the events go
        unacknowledged, and drop the in-memory rows they changed."""
        self.hooks.refuse_commits = True
        log.error("%s", sentence)
        for message in held:
            faust_hooks.forget_unacked(self.app.consumer, message)
        self.book.forget_cache()
        await self.app.crash(CheckpointAborted(sentence))

    async def _in_order(self, messages: list[Any]) -> list[Any]:
        """The messages to apply now, each once and in offset order (streams/worker/delivery.py).
        The others are let go unacknowledged and handed over again: fetched before a
        rebalance or while one suspends the flow, handed over a second time, or arriving
        after records went missing (their partition is read again from the expected offset)."""
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        flowing = self.app.flow_control.is_active()
        current, gapped = [], set()
        for message in messages:
            verdict = DeliveryVerdict.UNKNOWN
            if flowing and message.generation_id == generation:
                expected = self.delivery.expected(message.tp)
                verdict = self.delivery.judge(message.tp, message.offset)
            if verdict is DeliveryVerdict.APPLY:
                current.append(message)
                continue
            if (
                verdict is DeliveryVerdict.JUMP
            ):  # no record in between: Faust may commit over the hole
                await faust_hooks.add_gap(
                    consumer, message.tp, cast(int, expected), message.offset - 1
                )
                current.append(message)
                continue
            faust_hooks.forget_unacked(consumer, message)
            if verdict is DeliveryVerdict.GAP:
                gapped.add(message.tp)
        if gapped:
            # From where the partition is expected now, not where it was at the gap: after
            # a seek, records fetched before it (later offsets, a gap) can come in one batch
            # with the records fetched again (applied here, moving the expected offset on);
            # rewinding to the offset of the gap would hand those over again as new.
            await self._rewind({tp: self.delivery.expected(tp) for tp in gapped})
        return current

    async def _rewind(self, expected: dict) -> None:
        """Read partitions again from the offsets the worker expects; from the log start
        instead where retention has already deleted those records."""
        consumer = self.app.consumer
        earliest = await consumer.earliest_offsets(*expected)
        for tp, offset in expected.items():
            start = max(offset, earliest.get(tp) or 0)
            if start > offset:
                log.error(
                    "records %d..%d of %s are no longer in Kafka (retention); they are not counted",
                    offset,
                    start - 1,
                    tp,
                )
            else:
                log.warning(
                    "records of %s from offset %d went missing on the way; reading them again",
                    tp,
                    offset,
                )
            self.delivery.restart(tp, start)
            await faust_hooks.rewind(consumer, tp, start)

    async def _send(self, partition: int, send: Send) -> Any:
        """Send one record; return the future of its delivery."""
        return await send_in_partition_transaction(
            self.app,
            self.rekey_topic,
            partition,
            send.topic,
            send.key,
            send.value,
            send.partition,
            send.headers,
        )

    async def _on_committed(self, partitions: set[int]) -> None:
        """A commit covered these partitions: their pending rows are durable, so the local
        store may have them (Faust's recovery takes an active partition's store as current).
        Called by the commit, which holds the commit gate until the rows are written: no
        checkpoint, commit or rebalance's commit comes in between."""
        committed = {partition: self.book.take_committed(partition) for partition in partitions}
        for partition, rows in committed.items():
            if rows:  # one per key: values and deletions (a pruned-away account's) commute
                await faust_hooks.write_committed_rows(self.table, partition, rows)

    async def _on_revoked(self, app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        """Forget every applied effect no checkpoint has written: the partitions kept are
        read again from their committed offsets (Faust normally waits for the held events'
        checkpoint before it gets here, so `held` is empty)."""
        for message in self.held:
            faust_hooks.forget_unacked(self.app.consumer, message)
        self.held = []
        self.delivery.reset()
        self.book.forget_cache()

    async def _on_recovered(self) -> None:
        """After every recovery the table, not the cache, is the truth: reload lazily."""
        self.book.forget_cache()

    # ---- /metrics -------------------------------------------------------------------------

    # Faust calls a bound method view with the request only.
    async def _metrics_page(self, request: Request) -> Response:
        self.business = await self._business_families()
        try:  # collected at once: no other scrape can set `business` in between
            families = list(self.registry.collect())
        finally:
            self.business = []
        body = await render_in_slices(families)
        return self.app.web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def _business_families(self) -> list[Metric]:
        """The business families of a scrape (`WorkerBook.snapshot`), computed in slices of
        SNAPSHOT_SLICE_ACCOUNTS accounts: the event loop serves other requests between
        them, while the state lock keeps the agent from changing the rows, so the slices
        read one state. Read-only: a scrape never loads a row, builds a pipeline or moves
        a transaction. Empty (absent, not 0: no dip on every board, and the
        partition-labelled counters never go backwards) while the worker does not hold
        its partitions' state: during a rebalance, before the agent has loaded the rows,
        or when they were reloaded during the scrape."""
        book = self.book
        async with self.state_lock:
            owned = self.owned_partitions()
            if not (self.ready() and owned and book.loaded() == owned):
                return []
            generation = book.generation
            steps = book.snapshot_steps(self.clock(), SNAPSHOT_SLICE_ACCOUNTS)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    samples, counters = done.value
                    return business_families(book, samples, counters)
                await give_turn()
                if book.generation != generation or not self.ready():
                    steps.close()
                    return []

    async def _health_page(self, request: Request) -> Response:
        recovering = self.recovering()
        if not recovering and self.kafka_watch.stalled(
            faust_hooks.last_fetch_ms(self.app.consumer)
        ):
            return self.app.web.bytes(
                b"no answer from Kafka to a fetch for longer than --fetch-stall-seconds\n",
                status=503,
            )
        return self.app.web.bytes(
            b"recovering\n" if recovering else b"ok\n", status=503 if recovering else 200
        )

    async def _serve_open_listener(self) -> None:
        """/metrics and /healthz, and nothing else, on --open-bind:--open-port as well."""
        runner = await start_open_listener(
            self.settings.web, {"/metrics": self._metrics_page, "/healthz": self._health_page}
        )
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    async def _collect_if_due(self) -> None:
        """The garbage collector's periodic full collection, also when no checkpoint comes."""
        self.gc_policy.collect_if_due()

    async def _log_settings(self) -> None:
        """The settings line, secrets masked, once Faust's logging is set up."""
        log.info("worker settings: %r", self.settings)

    def recovering(self) -> bool:
        recovery = self.app.tables.recovery
        return bool(recovery.in_recovery) or not recovery.completed.is_set()

    def ready(self) -> bool:
        """Serving business metrics: not recovering, and no rebalance under way (Faust
        suspends the flow from the revocation until the recovery has finished)."""
        return not self.recovering() and self.app.flow_control.is_active()

    def consumer_lag(self) -> dict[tuple[str, int], int]:
        consumer = self.app.consumer
        lag = {}
        for tp in consumer.assignment():
            if tp.topic not in self.source_topic_names:
                continue
            highwater = consumer.highwater(tp)
            committed = faust_hooks.committed_offset(consumer, tp)
            if highwater is not None:
                lag[(tp.topic, tp.partition)] = max(0, highwater - (committed or 0))
        return lag


async def _outcomes(futures: list[asyncio.Future]) -> list[Any]:
    """What each future ended with, its result or its exception, as `asyncio.gather(...,
    return_exceptions=True)` gives, without a callback on every future at once (tens of
    thousands for a checkpoint: 0.1 s of the event loop in one go): waiting for the ones not
    done yet, and a turn for requests every SEND_SLICE of the others."""
    outcomes: list[Any] = []
    for index, future in enumerate(futures):
        if not future.done():
            await asyncio.wait((future,))
        elif index % SEND_SLICE == SEND_SLICE - 1:
            await give_turn()
        if future.cancelled():
            outcomes.append(asyncio.CancelledError())
        else:
            error = future.exception()
            outcomes.append(future.result() if error is None else error)
    return outcomes


def _timestamp_ms(message: Any) -> int:
    return int(message.timestamp * 1000) if message.timestamp else int(time.time() * 1000)
