"""The transaction of one partition's state: what a checkpoint writes, and when it counts.

In the spirit of Quix Streams' `PartitionTransaction` (quixstreams/state/base/
transaction.py): each partition's changes since the last checkpoint belong to one explicit
transaction object with a status, instead of loose "dirty" sets and a "pending" map.

    STARTED  --prepare(offsets, rows)-->  PREPARED  --commit()-->  COMMITTED
       |                                     |
       +-------------abort()-----------------+------------------>  ABORTED

- STARTED: events are being applied. The transaction collects the accounts they changed,
  whether the partition's counters changed, the records they must send (dead letters,
  re-keyed messages) and the highest offset applied per source topic-partition.
- PREPARED (a checkpoint): the changed rows are encoded and sent, with the outbox, in the
  partition's Kafka transaction; nothing more may be added. The transaction keeps the
  rows until Kafka has committed them, with the offsets they cover.
- COMMITTED: a Kafka commit covered the partition; the rows may go to the local store
  (which must never hold a row Kafka could still abort). Returned once, by `commit()`.
- ABORTED: the rows and the offsets are forgotten (a rebalance, or a checkpoint Kafka
  refused). The in-memory state they came from is no longer the truth either: the owner
  drops it and reloads the partition from the table (the committed state).

A finished transaction (COMMITTED or ABORTED) refuses every further call, so a stale
object cannot write into a partition that moved on.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

S = TypeVar("S")  # what the outbox holds (streams.worker.state.Send)

Row = tuple[bytes, bytes | None]
"""A changelog row: key and value (None: a tombstone, the key is deleted)."""


class TransactionStatus(enum.Enum):
    STARTED = "started"
    PREPARED = "prepared"
    COMMITTED = "committed"
    ABORTED = "aborted"


class TransactionError(RuntimeError):
    """A call the transaction's status does not allow (a bug, never bad input)."""


class PartitionTransaction(Generic[S]):
    """One partition's changes from the first event after a checkpoint to their commit."""

    __slots__ = ("partition", "status", "changed", "counters_changed", "outbox", "offsets", "rows")

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.status = TransactionStatus.STARTED
        self.changed: set[str] = set()  # account ids whose rows the applied events changed
        self.counters_changed = False
        self.outbox: list[S] = []  # dead letters and re-keyed messages
        self.offsets: dict[
            tuple[str, int], int
        ] = {}  # (topic, partition) -> highest offset applied
        self.rows: list[Row] = []  # set by prepare

    def _require(self, *allowed: TransactionStatus) -> None:
        if self.status not in allowed:
            names = " or ".join(status.value for status in allowed)
            raise TransactionError(
                f"transaction of partition {self.partition} is {self.status.value}, not {names}"
            )

    # ---- STARTED ----------------------------------------------------------------------

    def applied(self, topic: str, partition: int, offset: int) -> None:
        """A message of topic-partition at `offset` was applied in this transaction."""
        self._require(TransactionStatus.STARTED)
        key = (topic, partition)
        if offset > self.offsets.get(key, -1):
            self.offsets[key] = offset

    def change(self, account_id: str) -> None:
        self._require(TransactionStatus.STARTED)
        self.changed.add(account_id)

    def change_counters(self) -> None:
        self._require(TransactionStatus.STARTED)
        self.counters_changed = True

    def send(self, record: S) -> None:
        self._require(TransactionStatus.STARTED)
        self.outbox.append(record)

    def is_empty(self) -> bool:
        return not (self.changed or self.counters_changed or self.outbox)

    # ---- the checkpoint -----------------------------------------------------------------

    def prepare(self, rows: list[Row]) -> list[S]:
        """Close the transaction to new changes with the encoded rows of its changes;
        return the outbox, to be sent before the rows. The offsets it covers are those
        recorded by `applied`."""
        self._require(TransactionStatus.STARTED)
        self.rows = rows
        self.status = TransactionStatus.PREPARED
        outbox, self.outbox = self.outbox, []
        return outbox

    def commit(self) -> list[Row]:
        """Kafka committed the partition's transaction: return the rows (once)."""
        self._require(TransactionStatus.PREPARED)
        self.status = TransactionStatus.COMMITTED
        rows, self.rows = self.rows, []
        return rows

    def abort(self) -> None:
        """Forget everything: rows, outbox, offsets. Allowed from STARTED and PREPARED."""
        self._require(TransactionStatus.STARTED, TransactionStatus.PREPARED)
        self.status = TransactionStatus.ABORTED
        self.changed.clear()
        self.outbox.clear()
        self.offsets.clear()
        self.rows = []
        self.counters_changed = False
