"""The worker's state: each account in parts (table rows), one counters row per partition.

An account's state (its admission state, stream times and remembered event ids, and its
engine state) is stored as parts, each one table row: a header, one row per user, one per
ticket, one per group of remembered ids (streams/worker/state_parts.py), so that no row grows with
the number of users, tickets or events, and a checkpoint writes only the parts that
changed. Not compressed: zlib took 60 % of the time to encode a row, and rows are written
far more often than read. Accounts stored by earlier versions as one row are still read
(state_parts.one_row), and replaced by parts the next time the account is written. The changelog topic and the producer still allow rows of up to
16 MiB (app.MAX_ROW_BYTES), for such rows.

Rows are read from the table once into a per-partition cache, changed in memory by the
shared per-event `Pipeline` as events arrive, and sent to the table's changelog at each
checkpoint (every few seconds) for the accounts changed since the last one, in the
partition's transaction, with the dead letters and re-keyed messages of those events.
Each partition's changes belong to an explicit `PartitionTransaction`
(streams/worker/partition_transaction.py): started by the first change after a checkpoint,
prepared by the checkpoint with the rows it sends and the offsets it covers, committed
when Kafka has committed them (only then are the rows written to the local store, so the
store never holds a row Kafka might still abort), aborted at a rebalance or a refused
checkpoint (the partition's cache is then dropped and reloaded from the table, the
committed truth, after Faust has recovered it from the changelog).

Who changes what: only the agent loads partitions (`sync`) and applies events
(`process`), and only checkpoints, commits and aborts move transactions. A scrape
(`snapshot`) reads the cache as it is at that instant (the event loop runs nothing else
meanwhile, so it is a consistent snapshot) and changes nothing: no row is loaded, no
pipeline built, no counter or transaction touched. The `pulse_events_*`
counters of each partition live in a row of their own, under a key chosen to hash to that
partition, so they move with the partition on rebalance and recover with it after a crash.

State shrinks: each checkpoint first prunes the accounts changed since the last one
(`Engine.prune`, at most once per day of an account's stream time, which is as exact as
pruning after every event and far cheaper), so their rows are written already pruned; an
account whose row is left with nothing in it is deleted with a tombstone (a None value).
Accounts not changed since their last prune have nothing new to age out: every horizon
is relative to the account's own clocks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from streams.contract.deadletter import dead_letter_key
from streams.contract.decoding import Rejection
from streams.engine import state_codec
from streams.engine.account import AccountState
from streams.engine.engine import Engine, Steps, run_steps
from streams.engine.samples import Sample
from streams.engine.timeline import DAY_MS
from streams.ingest.admission import AccountAdmission
from streams.ingest.counters import PipelineCounters
from streams.ingest.pipeline import Pipeline, Status
from streams.kafka.topics import partition_of
from streams.pulse_config import PulseConfig
from streams.worker.partition_transaction import PartitionTransaction, Row
from streams.worker.record_cache import RecordCache
from streams.worker.state_parts import AccountParts, account_of, join, one_row, part_key, split

REKEY_HEADER = "pulse-source"
COUNTERS_PREFIX = b"\x00counters/"
PRUNE_STEP_MS = DAY_MS
V = TypeVar("V")
"""An account is pruned at a checkpoint once its stream time has moved this far since its last prune."""
CHECKPOINT_SLICE_ACCOUNTS = 25
"""Accounts pruned and encoded per slice of a checkpoint (`WorkerBook.checkpoint_steps`):
about 2.5 ms of work at 10,000 accounts (slices of 100 were among the longest stretches
of the event loop while consuming: docs/performance.md, "Account layer, live")."""


def counters_key(partition: int, partitions: int) -> bytes:
    """A key that hashes to `partition`: where that partition's counters row lives."""
    salt = 0
    while True:
        key = COUNTERS_PREFIX + f"{partition}/{salt}".encode()
        if partition_of(key, partitions) == partition:
            return key
        salt += 1


@dataclass(frozen=True, slots=True)
class Send:
    """A message a checkpoint must produce inside its partition's transaction."""

    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone (a deleted row)
    partition: int | None
    headers: list[tuple[str, bytes]] | None = None


class PartitionState:
    """The cached rows of one partition, seen by the engine and admission as two stores,
    and the transactions of their changes: `tx` collects what events change now,
    `prepared` holds the checkpoints sent and not yet committed, oldest first."""

    def __init__(self, partition: int = 0) -> None:
        self.partition = partition
        self.engine_rows: dict[str, AccountState] = {}
        self.admission_rows: dict[str, AccountAdmission] = {}
        self.counters = PipelineCounters()
        self.tx: PartitionTransaction[Send] = PartitionTransaction(partition)
        self.prepared: list[PartitionTransaction[Send]] = []
        self.parts = AccountParts()  # what is stored of each account, part by part

    def abort(self) -> None:
        """Abort every open transaction of the partition (its cache must then be dropped)."""
        for tx in (*self.prepared, self.tx):
            tx.abort()
        self.prepared = []

    def load_row(self, account_id: str, value: bytes) -> None:
        """An account stored as one row (the format before parts): loaded, and replaced by
        parts (its key deleted) the next time the account is written."""
        admission, engine = one_row(account_id, value)
        self.admission_rows[account_id] = AccountAdmission.from_bytes(admission)
        self.engine_rows[account_id] = state_codec.account_from_bytes(engine)
        self.parts.loaded(account_id, [(account_id.encode(), value)])

    def load_parts(self, account_id: str, parts: dict[bytes, bytes]) -> None:
        """An account stored as parts (streams/worker/state_parts.py), its tag-and-name -> value."""
        engine, admission = join(parts)
        self.admission_rows[account_id] = admission
        if engine is not None:
            self.engine_rows[account_id] = engine
        keyed = ((part_key(account_id, part), value) for part, value in parts.items())
        self.parts.loaded(account_id, keyed)

    def rows_of(self, account_id: str) -> list[Row]:
        """The changelog rows that bring the stored account up to date: its changed parts,
        and tombstones for the parts gone (every part, when nothing is left of it)."""
        kept = self.admission_rows.get(account_id)
        engine = self.engine_rows.get(account_id)
        if engine is None and (kept is None or not kept.lanes):
            self.admission_rows.pop(account_id, None)
            return self.parts.rows(account_id, None)
        return self.parts.rows(account_id, split(engine, kept))

    def load_counters(self, value: bytes) -> None:
        stored = orjson.loads(value)
        self.counters = PipelineCounters(stored["events"], stored["rejected"], stored["duplicates"])

    def counters_bytes(self) -> bytes:
        c = self.counters
        return orjson.dumps(
            {
                "events": c.events_by_type,
                "rejected": c.rejected_by_reason,
                "duplicates": c.duplicates,
            }
        )


class _PartitionStore(Generic[V]):
    """AccountStore (streams/engine/store.py) over one kind of row of a partition's cache
    (engine or admission rows); a write records the account in the open transaction."""

    def __init__(self, state: PartitionState, rows: dict[str, V]) -> None:
        self._state = state
        self._rows = rows

    def get(self, account_id: str) -> V | None:
        return self._rows.get(account_id)

    def __setitem__(self, account_id: str, value: V) -> None:
        self._rows[account_id] = value
        self._state.tx.change(account_id)

    def __delitem__(self, account_id: str) -> None:
        del self._rows[account_id]
        self._state.tx.change(account_id)

    def keys(self) -> Iterable[str]:
        return self._rows.keys()

    def values(self) -> Iterable[V]:
        return self._rows.values()


class WorkerBook:
    """Per-partition pipelines over the table; the worker's only window onto its state."""

    def __init__(
        self,
        config: PulseConfig,
        clock: Callable[[], int],
        *,
        partitions: int,
        rekey_topic: str,
        dead_letter_topic: str,
        unprefixed: Callable[[str], str],
        frozen_clock: bool = False,
        account_records: bool = True,
    ) -> None:
        self.config = config
        self.clock = clock
        self.partitions = partitions
        self.rekey_topic = rekey_topic
        self.dead_letter_topic = dead_letter_topic
        self.unprefixed = unprefixed
        self.table: Any = None  # the Faust table (attach)
        self._states: dict[int, PartitionState] = {}
        self._pipelines: dict[int, Pipeline] = {}
        self._counters_keys = {p: counters_key(p, partitions) for p in range(partitions)}
        self.touched: set[str] = set()  # accounts changed since the record cache last looked
        self.gone: set[str] = set()  # accounts deleted (pruned empty) since the cache last looked
        self.generation = 0  # moves on whenever the loaded partitions change
        self.record_cache = RecordCache(self, clock, frozen=frozen_clock)
        # off (--no-account-records): no record is computed, no account sample exported
        self.account_records = account_records

    def attach(self, table: Any) -> None:
        self.table = table
        self.changelog_topic = table.changelog_topic.get_topic_name()

    # ---- loading and forgetting --------------------------------------------------------

    def sync(self, owned: set[int]) -> None:
        """Drop partitions no longer owned (aborting their transactions); load newly owned
        ones from the table. Called by the agent only (on assignment and after recovery),
        never by a scrape."""
        for partition in set(self._states) - owned:
            self._states.pop(partition).abort()
            del self._pipelines[partition]
            self.generation += 1
        new = owned - set(self._states)
        if not new:
            return
        self.generation += 1
        for partition in new:
            self._states[partition] = PartitionState(partition)
        parts: dict[str, dict[bytes, bytes]] = {}
        for key, value in self.table.items():
            located = account_of(key)
            if located is not None:
                account_id, part = located
                if partition_of(account_id.encode(), self.partitions) in new:
                    parts.setdefault(account_id, {})[part] = value
                continue
            partition = partition_of(key, self.partitions)
            if partition not in new:
                continue
            state = self._states[partition]
            if key.startswith(COUNTERS_PREFIX):
                state.load_counters(value)
            else:
                state.load_row(key.decode(), value)
        for account_id, stored in parts.items():
            owner = self._states[partition_of(account_id.encode(), self.partitions)]
            owner.load_parts(account_id, stored)
        for partition in new:
            state = self._states[partition]
            pipeline = Pipeline(
                self.config,
                clock=self.clock,
                admission_state=_PartitionStore(state, state.admission_rows),
                engine=Engine(
                    self.config.engine,
                    self.config.revenue,
                    store=_PartitionStore(state, state.engine_rows),
                ),
            )
            pipeline.counters = state.counters
            self._pipelines[partition] = pipeline

    def forget_cache(self) -> None:
        """Abort every partition's transactions and drop the cache: the next `sync`
        reloads it from the table (a rebalance, a recovery, a refused checkpoint)."""
        for state in self._states.values():
            state.abort()
        self._states.clear()
        self._pipelines.clear()
        self.generation += 1

    def transactions(
        self, partition: int
    ) -> tuple[list[PartitionTransaction[Send]], PartitionTransaction[Send]]:
        """The partition's prepared transactions (oldest first) and its open one."""
        state = self._states[partition]
        return list(state.prepared), state.tx

    # ---- processing ----------------------------------------------------------------------

    def process(self, message: Any, *, is_rekeyed: bool) -> None:
        """Run one Kafka message through the pipeline of its partition. What it must send
        (a dead letter, or the message itself to the re-key topic) waits in the
        partition's open transaction for the next checkpoint."""
        partition = message.partition
        pipeline = self._pipelines[partition]
        state = self._states[partition]
        tx = state.tx
        topic, source_partition, offset = message.topic, partition, message.offset
        tx.applied(topic, partition, offset)
        if is_rekeyed:
            topic, source_partition, offset = _source_of(message)
        value = (
            message.value if message.value is not None else b""
        )  # a null value (tombstone) is bad input too
        decoded = pipeline.decode(value, self.unprefixed(topic))
        if isinstance(decoded, Rejection):
            outcome = pipeline.reject(value, decoded, topic, source_partition, offset)
            tx.change_counters()
            tx.send(
                Send(
                    self.dead_letter_topic,
                    dead_letter_key(message.key),
                    outcome.dead_letter,
                    partition,
                )
            )
            return
        key = decoded.account_id.encode()
        if not is_rekeyed and (
            message.key != key or partition_of(key, self.partitions) != partition
        ):
            header = f"{topic}\x00{source_partition}\x00{offset}".encode()
            tx.send(Send(self.rekey_topic, key, message.value, None, [(REKEY_HEADER, header)]))
            return
        outcome = pipeline.admit_and_apply(decoded, value, topic, source_partition, offset)
        tx.change_counters()
        if self.account_records:
            self.touched.add(decoded.account_id)
        if outcome.status is Status.REJECTED:
            tx.send(
                Send(
                    self.dead_letter_topic,
                    dead_letter_key(message.key),
                    outcome.dead_letter,
                    partition,
                )
            )

    def checkpoint(self) -> dict[int, list[Send]]:
        """Prepare each partition's open transaction: what it sends in the partition's
        Kafka transaction is its outbox, then the changelog rows of the accounts it
        changed (pruned first) and its counters row. A new transaction starts for the
        events that follow; the prepared one keeps its rows until `take_committed`."""
        return run_steps(self.checkpoint_steps(CHECKPOINT_SLICE_ACCOUNTS))

    def checkpoint_steps(self, slice_accounts: int) -> Steps[dict[int, list[Send]]]:
        """`checkpoint` in slices: it yields after every `slice_accounts` accounts pruned
        and encoded, and returns what `checkpoint` returns. Pruning and encoding 10,000
        changed accounts takes about a second, which the worker's event loop would
        otherwise spend on nothing else: between two slices it serves requests. The
        caller must not resume it once the partitions were reloaded (`generation`
        moved on: their transactions are aborted) nor apply events meanwhile; the
        transactions move to PREPARED only after the last slice, all at once."""
        encoded: dict[int, tuple[list[Row], list[Send]]] = {}
        topic = self.changelog_topic
        for partition, state in list(self._states.items()):
            tx = state.tx
            if tx.is_empty():
                continue  # its offsets (messages that changed nothing) stay with the open transaction
            engine = self._pipelines[partition].engine
            changed = list(tx.changed)
            rows: list[Row] = []
            sends: list[Send] = []
            for start in range(0, len(changed), slice_accounts):
                accounts = changed[start : start + slice_accounts]
                deleted = engine.prune(accounts, step_ms=PRUNE_STEP_MS)
                if deleted and self.account_records:
                    self.gone.update(deleted)
                sliced = [row for account_id in accounts for row in state.rows_of(account_id)]
                rows += sliced
                sends += [Send(topic, key, value, partition) for key, value in sliced]
                yield
            encoded[partition] = rows, sends
        out = {}
        for partition, (rows, sends) in encoded.items():
            state = self._states[partition]
            tx = state.tx
            if self.account_records:
                self.touched.update(tx.changed)
            if tx.counters_changed:
                counters = (self._counters_keys[partition], state.counters_bytes())
                rows.append(counters)
                sends.append(Send(topic, *counters, partition))
            outbox = tx.prepare(rows)
            state.prepared.append(tx)
            state.tx = PartitionTransaction(partition)
            out[partition] = outbox + sends
        return out

    def take_committed(self, partition: int) -> list[Row]:
        """Kafka committed `partition`'s transaction: commit its prepared transactions
        and return, for the local store, one row per key with the value the last of
        them gave it (None: deleted). One commit can cover several checkpoints, and
        with parts a key deleted in one (a group of remembered ids emptied, a user
        pruned) can be written again in the next: the store must end as the changelog
        does, whatever order it applies the rows in."""
        state = self._states.get(partition)
        if state is None or not state.prepared:
            return []
        if len(state.prepared) == 1:  # the usual case: one row per key already
            return state.prepared.pop().commit()
        latest: dict[bytes, bytes | None] = {}
        for tx in state.prepared:
            for key, value in tx.commit():
                latest.pop(key, None)  # re-inserted: the order of the last writes
                latest[key] = value
        state.prepared = []
        return list(latest.items())

    # ---- scraping ---------------------------------------------------------------------------

    def loaded(self) -> set[int]:
        """The partitions whose rows are loaded (and so can be shown)."""
        return set(self._states)

    def account_state(self, account_id: str) -> AccountState | None:
        """One account's engine state from the loaded partitions (None: unknown here)."""
        return _MergedStore(self._states.values()).get(account_id)

    def account_ids(self) -> Iterator[str]:
        """Every account_id of the loaded partitions, without building a list (the record
        cache walks them for every portfolio query)."""
        return itertools.chain.from_iterable(
            state.engine_rows.keys() for state in self._states.values()
        )

    def account_states(self) -> list[tuple[str, AccountState]]:
        """Every (account_id, engine state) of the loaded partitions (the account API)."""
        return [item for state in self._states.values() for item in state.engine_rows.items()]

    def snapshot(self, as_of: int) -> tuple[list[Sample], dict[int, PipelineCounters]]:
        """The business samples of the loaded partitions (the engine's figures, then the
        account samples) and each partition's pipeline counters, rendered by a scrape
        (streams/worker/scrape.py). Read-only: a snapshot of the cache as it is now (see
        the module header)."""
        return run_steps(self.snapshot_steps(as_of, 0))

    def snapshot_steps(
        self, as_of: int, slice_accounts: int
    ) -> Steps[tuple[list[Sample], dict[int, PipelineCounters]]]:
        """`snapshot` as steps of `slice_accounts` accounts (`Engine.snapshot_steps`): the
        worker's scrape serves other requests between them, while no event is applied
        (streams/worker/app.py), so the steps still read one state of the cache."""
        engine = Engine(
            self.config.engine, self.config.revenue, store=_MergedStore(self._states.values())
        )
        snapshot = yield from engine.snapshot_steps(as_of, slice_accounts)
        counters = {partition: state.counters for partition, state in self._states.items()}
        accounts: list[Sample] = []
        if self.account_records:
            # over the cached records at the stepped clock, kept between refresh rounds
            accounts = yield from self.record_cache.account_samples_steps(
                len(self._states), self.partitions, slice_accounts * 10
            )
        return [*snapshot, *accounts], counters


class _MergedStore:
    """Read-only AccountStore over every owned partition (for snapshots)."""

    def __init__(self, states: Iterable[PartitionState]) -> None:
        self._states = list(states)

    def get(self, account_id: str) -> AccountState | None:
        for state in self._states:
            if account_id in state.engine_rows:
                return state.engine_rows[account_id]
        return None

    def keys(self) -> Iterator[str]:
        for state in self._states:
            yield from state.engine_rows.keys()

    def values(self) -> Iterator[AccountState]:
        for state in self._states:
            yield from state.engine_rows.values()

    def __setitem__(self, account_id: str, state: AccountState) -> None:
        raise TypeError("a snapshot's store is read-only")

    def __delitem__(self, account_id: str) -> None:
        raise TypeError("a snapshot's store is read-only")


def _source_of(message: Any) -> tuple[str, int, int]:
    for name, value in message.headers or ():
        if name == REKEY_HEADER:
            topic, partition, offset = value.decode().split("\x00")
            return topic, int(partition), int(offset)
    return message.topic, message.partition, message.offset
