"""The few places where the worker reaches into faust-streaming internals, kept together.

Every class patch goes through streams/worker/faust/compat.py, which refuses to patch (and the
worker to start) unless faust-streaming, mode-streaming and aiokafka are exactly the
supported versions and the source of every function patched here is the one these hooks
were written against. tests/test_faust_hooks.py has a unit test per hook; the worker tests
on the real broker (equivalence, crash, scale-out, hostile input, a join during a
checkpoint) cover them together.

1. `send_in_partition_transaction`: under exactly-once, Faust sends through one
   transactional producer per assigned source partition and only for topics the app
   consumes. Dead letters, re-keyed messages and the state table's changelog rows go to
   other topics, so the worker sends them with the transactional producer of the source
   partition they belong to: they commit or abort together with that partition's offsets.
2. Changelog highwaters from the broker: Faust answers "highwater of a changelog
   partition" from aiokafka's cached last stable offset, which is None until the first
   fetch from that partition. Table recovery right after a rebalance then reads the
   highwater as -1 and either skips the changelog or stops with ConsistencyError. The hook
   asks the broker (ListOffsets at read_committed answers the last stable offset).
3. Fresh transactional producers at every rebalance: Faust stops the producers of revoked
   partitions only through a filter that, once the new assignment is in place, finds none
   of them; the old producer stays, is fenced when another worker takes the partition,
   and when the partition comes back its sends fail ("Not in the middle of a
   transaction") and the worker stops. Kept partitions carried their open transaction over
   the rebalance. The hook stops every transactional producer and starts one per assigned
   partition, so a rebalance aborts whatever was not committed and nothing else.
4. Commit gate (`WorkerHooks.lock`): Faust commits whenever it likes (a timer, every N
   acks, before a rebalance, at shutdown), each partition's transaction with the offsets
   acknowledged so far. A commit inside a checkpoint, while the previous checkpoint's
   offsets are acknowledged and not yet committed, would make this checkpoint's rows
   durable with the previous one's offsets; a crash then would apply its events twice.
   The gate is a lock that every commit takes and that the worker holds from a
   checkpoint's first send to its last ack; the hook also reports the partitions each
   successful commit covered, so the worker writes rows to its local store only once they
   are committed. docs/worker.md ("The commit gate") has the case; the test that fails
   without the gate is the second of tests/integration/test_worker_join.py.
5. Exact seeks (`rewind` too), a trail of what the fetcher returned, and gaps only where
   the log has no record. Faust resumes fetching before it
   seeks to the committed offsets after a rebalance, drops records it fetched for a paused
   partition, and takes any jump in offsets for a gap it may commit over. aiokafka's
   `seek_to_committed` leaves a partition without a committed offset (or at offset 0)
   where the fetcher got to, so a worker that took over such a partition skipped records
   (seen on the real broker: whole partitions, then single records, never applied). The
   hook seeks every source partition to its committed offset or, with none, to where the
   reset policy starts, and tells the worker those offsets, from which it accepts messages
   strictly in order (streams/worker/delivery.py). A committed offset below the log start
   (records deleted unread) is logged once and the partition starts at the log start.
   The seek holds the commit gate (hook 4), and it makes sure the broker shows this worker's
   own last commit: Faust takes the offsets the seek found as the committed ones, and when
   they are below what the worker already committed for a topic-partition, Faust never
   commits it again (its acknowledged offsets do not follow the committed one) while the
   partition's transaction goes on committing changelog rows with the other topics'
   offsets; whoever takes the partition over then applies those records again, each a
   duplicate. Two ways to find offsets below the worker's own: a commit between asking
   for them and taking them (Faust seeks after it has resumed the source partitions, so
   the worker applies, checkpoints and commits meanwhile: the gate keeps commits out),
   and a commit that returned but whose offsets OffsetFetch does not show yet (the
   coordinator writes a transaction's markers after the commit returns, and aiokafka's
   OffsetFetch cannot ask for stable offsets: the hook asks again, for up to
   `STABLE_OFFSETS_WAIT_S`).
   After every fetch, the fetcher's position before and after and the offsets it returned
   go to the worker's FetchTrail, so that the worker can tell a jump over offsets the log
   has no record for (commit markers, aborted transactions, compaction) from records lost
   on the way; Faust's drain loop registers no gap itself, and the worker registers one
   (`add_gap`) for each jump the fetcher made.
6. `write_committed_rows` and `forget_unacked`: write rows straight into a partition's
   local store (Faust's RocksDB store otherwise files a key under the partition of the
   current event), and let go of a message without acknowledging it.
7. `last_fetch_ms`: when a fetch request was last answered (aiokafka's public
   `last_poll_timestamp`, reached through Faust's consumer thread), for /healthz.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import rocksdict
from faust.transport.consumer import Consumer, TransactionManager
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, ensure_aiokafka_TP
from faust.types import TP

from streams.worker.delivery import FetchTrail
from streams.worker.faust import compat as faust_compat
from streams.worker.turns import in_turns

_log = logging.getLogger("cs-pulse.worker")

#: how long the seek after a rebalance waits for the broker to show this worker's own last
#: commit (its transaction markers are written after the commit returns: milliseconds)
STABLE_OFFSETS_WAIT_S = 10.0
STABLE_OFFSETS_RETRY_S = 0.02
ROW_SLICE = 500  # committed rows taken into the store between two turns of the event loop
_hooks_of: weakref.WeakKeyDictionary[Any, WorkerHooks] = weakref.WeakKeyDictionary()


class WorkerHooks:
    """What the hooks need from one worker app.

    `lock`: commits wait for the batch in flight (hook 4); `on_committed`: hears the
    partitions each commit covered (hook 4); `on_seek`: hears the offset each partition was
    sought to (hook 5); `trail`: hears what each fetch of a source partition returned, so
    that the worker tells offsets the log has no record for from records lost on the way
    (hook 5, streams/worker/delivery.py); `source_topics`: the topics the trail is kept for."""

    def __init__(
        self,
        on_committed: Callable[[set[int]], Awaitable[None]],
        on_seek: Callable[[dict], None],
        trail: FetchTrail,
        source_topics: frozenset[str],
    ) -> None:
        self.lock = asyncio.Lock()
        self.on_committed = on_committed
        self.on_seek = on_seek
        self.trail = trail
        self.source_topics = source_topics
        #: set when a checkpoint was abandoned: no commit may follow (the worker stops)
        self.refuse_commits = False
        #: (topic, partition) -> the offset this worker's last commit of it made (hook 5)
        self.own_commits: dict[tuple[str, int], int] = {}


# ---- hook 2 ---------------------------------------------------------------------------


async def _highwaters_from_broker(self: Any, partitions: Any) -> Any:
    return await self._ensure_consumer().end_offsets(list(partitions))


# ---- hook 3 ---------------------------------------------------------------------------


async def _restart_transactions(
    self: Any, assigned: Any, revoked: Any, newly_assigned: Any
) -> None:
    producer = self.producer
    stale = list(producer._transaction_producers)  # noqa: SLF001
    if stale:
        await self._stop_transactions(stale)
    fresh = sorted(self._tps_to_transactional_ids(assigned))
    if fresh:
        self.log.info(
            "Starting %d transactional producers for %d assigned partitions",
            len(fresh),
            len(assigned),
        )
        await self._start_transactions(fresh)


# ---- hook 4 ---------------------------------------------------------------------------

_original_force_commit = faust_compat.original(Consumer, "force_commit")
_original_commit_offsets = faust_compat.original(Consumer, "_commit_offsets")


async def _gated_force_commit(self: Any, *args: Any, **kwargs: Any) -> bool:
    hooks = _hooks_of.get(self.app)
    if hooks is None:
        return await _original_force_commit(self, *args, **kwargs)
    async with hooks.lock:
        if hooks.refuse_commits:
            return False
        return await _original_force_commit(self, *args, **kwargs)


async def _reporting_commit_offsets(self: Any, offsets: Any, *args: Any, **kwargs: Any) -> bool:
    assignment = self.assignment()
    did_commit = await _original_commit_offsets(self, offsets, *args, **kwargs)
    hooks = _hooks_of.get(self.app)
    if did_commit and hooks is not None:
        hooks.own_commits.update(
            {(tp.topic, tp.partition): offset for tp, offset in offsets.items() if tp in assignment}
        )
        await hooks.on_committed({tp.partition for tp in offsets if tp in assignment})
    return did_commit


# ---- hook 5 ---------------------------------------------------------------------------


async def _seek_to_committed_or_reset(self: Any) -> Any:
    """Hook 5's seek, holding the commit gate: no commit between asking for the committed
    offsets and Faust taking them as its own (module header, hook 5)."""
    hooks = _hooks_of.get(self.app)
    if hooks is None:
        return await self.call_thread(_seek_assigned, self._ensure_consumer(), self.app)
    async with hooks.lock:
        return await self.call_thread(_seek_assigned, self._ensure_consumer(), self.app)


async def _seek_assigned(consumer: Any, app: Any) -> dict:
    """Seek every assigned source partition to its committed offset, or to where the reset
    policy starts when there is none; report the offsets. All the asking is done before the
    first seek, so no record fetched after one seek can be dropped while asking for another.
    A committed offset below the log start (retention or DeleteRecords removed records the
    worker had not read) is logged once, and the partition starts at the log start."""
    changelogs = app.tables.changelog_topics
    committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
    sources = [tp for tp in committed if tp.topic not in changelogs]
    hooks = _hooks_of.get(app)
    if hooks is not None:
        await _until_own_commits_show(consumer, committed, sources, dict(hooks.own_commits))
    missing = [tp for tp in sources if committed[tp] is None]
    if missing:
        ends = (
            consumer.beginning_offsets
            if app.conf.consumer_auto_offset_reset == "earliest"
            else consumer.end_offsets
        )
        defaults = await ends(missing)
    present = [tp for tp in sources if committed[tp] is not None]
    log_starts = await consumer.beginning_offsets(present) if present else {}
    starts = {}
    for tp in sources:
        starts[tp] = committed[tp] if committed[tp] is not None else defaults[tp]
        if committed[tp] is not None and log_starts.get(tp, 0) > committed[tp]:
            starts[tp] = log_starts[tp]
            _log.error(
                "records %d..%d of %s-%d were deleted from Kafka (retention or DeleteRecords) before the "
                "worker read them; they are not counted, and the worker goes on from offset %d",
                committed[tp],
                log_starts[tp] - 1,
                tp.topic,
                tp.partition,
                log_starts[tp],
            )
        consumer.seek(tp, starts[tp])
    for tp, offset in committed.items():
        if tp.topic in changelogs and offset:
            consumer.seek(tp, offset)  # aiokafka's own behaviour for the changelog
    if hooks is not None:
        hooks.on_seek({TP(tp.topic, tp.partition): offset for tp, offset in starts.items()})
    return committed


async def _until_own_commits_show(
    consumer: Any, committed: dict, sources: list, own: dict[tuple[str, int], int]
) -> None:
    """Ask again for the committed offsets of the partitions where the broker answered less
    than this worker's own last commit (its markers are not written yet), updating
    `committed`, until it shows them or `STABLE_OFFSETS_WAIT_S` passed (then the broker's
    answer stands, and a warning says so)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STABLE_OFFSETS_WAIT_S

    def behind() -> list:
        return [
            tp
            for tp in sources
            if (tp.topic, tp.partition) in own
            and (committed[tp] is None or committed[tp] < own[(tp.topic, tp.partition)])
        ]

    lagging = behind()
    while lagging and loop.time() < deadline:
        await asyncio.sleep(STABLE_OFFSETS_RETRY_S)
        for tp in lagging:
            committed[tp] = await consumer.committed(tp)
        lagging = behind()
    for tp in lagging:
        _log.warning(
            "the broker still shows offset %s as committed for %s-%d, below the %d this worker "
            "committed; going on from the broker's offset",
            committed[tp],
            tp.topic,
            tp.partition,
            own[(tp.topic, tp.partition)],
        )


_original_fetch_records = faust_compat.original(AIOKafkaConsumerThread, "_fetch_records")


async def _fetch_records_on_the_trail(
    self: Any, consumer: Any, active_partitions: Any, *args: Any, **kwargs: Any
) -> Any:
    """Faust's fetch, telling the worker's trail the fetcher's position before and after it
    and the offsets it returned, per source partition (in the consumer's thread, where
    seeks run too; a seek during the wait for records can make `start` stale, see
    streams/worker/delivery.py)."""
    hooks = _hooks_of.get(self.app)
    if hooks is None:
        return await _original_fetch_records(self, consumer, active_partitions, *args, **kwargs)
    subscription = consumer._subscription.subscription  # noqa: SLF001
    assignment = subscription.assignment if subscription is not None else None
    topics = hooks.source_topics

    def positions() -> dict:
        if assignment is None:
            return {}
        found = {}
        for tp in assignment.tps:
            state = assignment.state_value(tp) if tp.topic in topics else None
            if state is not None and state.has_valid_position:
                found[tp] = state.position
        return found

    before = positions()
    records = await _original_fetch_records(self, consumer, active_partitions, *args, **kwargs)
    if records:
        now = consumer._subscription.subscription  # noqa: SLF001
        if now is not subscription or (now is not None and now.assignment is not assignment):
            before = {}  # a rebalance during the wait: note no jump from a position of before
        after = positions()
        trail = hooks.trail
        for tp, batch in records.items():
            if tp.topic in topics:
                trail.fetched(
                    tp, before.get(tp), [record.offset for record in batch], after.get(tp)
                )
    return records


_original_add_gap = faust_compat.original(Consumer, "_add_gap")


async def _add_gap_where_normal(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Faust's drain loop takes any jump in offsets for a gap it may commit over; the
    worker's source topics get gaps only from `add_gap`, for the jumps the fetcher made."""
    if _hooks_of.get(self.app) is None:
        await _original_add_gap(self, tp, offset_from, offset_to)


async def add_gap(consumer: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Let Faust commit over offsets `offset_from`..`offset_to` (inclusive), which the log
    has no record for (commit markers, an aborted transaction, removed records)."""
    await _original_add_gap(consumer, TP(tp.topic, tp.partition), offset_from, offset_to)


def install(app: Any, hooks: WorkerHooks) -> None:
    """Apply hooks 2-5 (the class patches once, through streams/worker/faust/compat.py, which first
    checks the library versions and the patched functions' source) and attach `hooks` to `app`."""
    faust_compat.patch(AIOKafkaConsumerThread, "_highwaters", _highwaters_from_broker)
    faust_compat.patch(AIOKafkaConsumerThread, "seek_to_committed", _seek_to_committed_or_reset)
    faust_compat.patch(AIOKafkaConsumerThread, "_fetch_records", _fetch_records_on_the_trail)
    faust_compat.patch(Consumer, "_add_gap", _add_gap_where_normal)
    faust_compat.patch(TransactionManager, "on_rebalance", _restart_transactions)
    faust_compat.patch(Consumer, "force_commit", _gated_force_commit)
    faust_compat.patch(Consumer, "_commit_offsets", _reporting_commit_offsets)
    _hooks_of[app] = hooks


# ---- hooks 1 and 6 --------------------------------------------------------------------


async def send_in_partition_transaction(
    app: Any,
    source_topic: str,
    source_partition: int,
    topic: str,
    key: bytes | None,
    value: bytes | None,  # None: a tombstone
    partition: int | None,
    headers: list[tuple[str, bytes]] | None = None,
) -> Any:
    """Send a message inside the transaction of (source_topic, source_partition); return its future."""
    if app.in_transaction:
        group = app.assignor.group_for_topic(source_topic)
        transactional_id = f"{app.conf.id}-{group}-{source_partition}"
        producer = app.consumer.transactions.producer
        return await producer.send(
            topic, key, value, partition, None, headers, transactional_id=transactional_id
        )
    producer = await app.maybe_start_producer()
    return await producer.send(topic, key, value, partition, None, headers)


async def write_committed_rows(
    table: Any, partition: int, rows: Sequence[tuple[bytes, bytes | None]]
) -> None:
    """Write committed changelog rows of `partition` into the table's local store (a value
    of None deletes the key: a pruned-away account's tombstone).

    A commit can carry tens of thousands of rows (about 0.2 s of CPU in one go), so the
    rows are taken in slices of ROW_SLICE, the event loop serving requests between them,
    and RocksDB gets them as one write batch, written in a thread (rocksdict lets go of the
    interpreter lock there): all of them or, if the process dies first, none."""
    store = table.data
    if hasattr(store, "_db_for_partition"):  # RocksDB: one database per partition
        db = store._db_for_partition(partition)  # noqa: SLF001
        batch = rocksdict.WriteBatch(raw_mode=True)  # the raw mode Faust opens its databases in
        async for sliced in in_turns(rows, ROW_SLICE):
            for key, value in sliced:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
        await asyncio.get_running_loop().run_in_executor(None, db.write, batch)
        key_index = store._key_index  # noqa: SLF001
        for key, value in rows:
            if value is None:
                key_index.pop(key, None)
            else:
                key_index[key] = partition
    else:  # the memory store is one dict
        async for sliced in in_turns(rows, ROW_SLICE):
            for key, value in sliced:
                if value is None:
                    store.pop(key, None)
                else:
                    store[key] = value


async def rewind(consumer: Any, tp: Any, offset: int) -> None:
    """Seek one partition back, between two fetches: the consumer runs in its own thread,
    and a seek from the outside while it fetches breaks aiokafka's fetcher."""
    thread = consumer._thread  # noqa: SLF001
    await thread.call_thread(_seek_now, thread._ensure_consumer(), ensure_aiokafka_TP(tp), offset)  # noqa: SLF001
    consumer._read_offset[tp] = offset  # noqa: SLF001


async def _seek_now(aiokafka_consumer: Any, tp: Any, offset: int) -> None:
    aiokafka_consumer.seek(tp, offset)


def forget_unacked(consumer: Any, message: Any) -> None:
    """Let go of a message fetched before a rebalance without committing its offset: the
    consumer reads it again from the committed offset."""
    message.acked = True
    consumer._unacked_messages.discard(message)  # noqa: SLF001


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset Faust last committed for `tp` (None: none yet), as Faust itself keeps it."""
    committed: int | None = consumer._committed_offset.get(tp)  # noqa: SLF001
    return committed


def last_fetch_ms(consumer: Any) -> int | None:
    """Epoch ms of the newest answered fetch over the assigned partitions, or None."""
    inner = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    if inner is None:
        return None
    newest = None
    for tp in list(inner.assignment()):
        try:
            stamp = inner.last_poll_timestamp(tp)
        except Exception:  # noqa: BLE001 - a partition being (un)assigned has no state
            continue
        if stamp is not None and (newest is None or stamp > newest):
            newest = stamp
    return newest
