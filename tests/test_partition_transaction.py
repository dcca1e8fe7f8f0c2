"""PartitionTransaction: its status transitions, and that abort forgets (pure unit tests)."""

from __future__ import annotations

import pytest

from streams.worker.partition_transaction import (
    PartitionTransaction,
    TransactionError,
    TransactionStatus,
)


def started() -> PartitionTransaction[str]:
    tx: PartitionTransaction[str] = PartitionTransaction(3)
    tx.applied("pulse.logins", 3, 10)
    tx.applied("pulse.logins", 3, 12)
    tx.applied("pulse.logins", 3, 11)  # never lowers the offset covered
    tx.applied("pulse.tickets", 3, 4)
    tx.change("acme")
    tx.change_counters()
    tx.send("a dead letter")
    return tx


def test_prepare_closes_the_transaction_with_its_rows_and_offsets():
    tx = started()
    assert tx.status is TransactionStatus.STARTED and not tx.is_empty()
    outbox = tx.prepare([(b"acme", b"row")])
    assert outbox == ["a dead letter"]
    assert tx.status is TransactionStatus.PREPARED
    assert tx.offsets == {("pulse.logins", 3): 12, ("pulse.tickets", 3): 4}
    for change in (
        lambda: tx.change("other"),
        tx.change_counters,
        lambda: tx.send("x"),
        lambda: tx.applied("pulse.logins", 3, 13),
        lambda: tx.prepare([]),
    ):
        with pytest.raises(TransactionError, match="partition 3 is prepared, not started"):
            change()


def test_commit_returns_the_rows_once_and_ends_the_transaction():
    tx = started()
    tx.prepare([(b"acme", b"row"), (b"gone", None)])
    assert tx.commit() == [(b"acme", b"row"), (b"gone", None)]
    assert tx.status is TransactionStatus.COMMITTED
    for call in (tx.commit, tx.abort, lambda: tx.change("acme")):
        with pytest.raises(TransactionError, match="is committed"):
            call()


def test_a_started_transaction_cannot_commit():
    with pytest.raises(TransactionError, match="is started, not prepared"):
        started().commit()


@pytest.mark.parametrize("prepare", [False, True])
def test_abort_forgets_everything(prepare):
    tx = started()
    if prepare:
        tx.prepare([(b"acme", b"row")])
    tx.abort()
    assert tx.status is TransactionStatus.ABORTED
    assert (tx.changed, tx.counters_changed, tx.outbox, tx.offsets, tx.rows) == (
        set(),
        False,
        [],
        {},
        [],
    )
    for call in (tx.commit, tx.abort, lambda: tx.prepare([]), lambda: tx.send("x")):
        with pytest.raises(TransactionError, match="is aborted"):
            call()
