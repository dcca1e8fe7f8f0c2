"""WorkerBook without Kafka: what a checkpoint sends, and bad input that Kafka allows."""

from __future__ import annotations

import orjson

from streams.engine.state_codec import account_to_bytes
from streams.worker.scrape import book_families
from streams.worker.state import COUNTERS_PREFIX, PartitionState, WorkerBook, partition_of
from streams.worker.state_parts import account_of
from tests.support.worker_book import Message, worker_book

PARTITIONS = 2


def book(now: int = 2_000_000_000_000, **options: bool) -> WorkerBook:
    return worker_book(now, partitions=PARTITIONS, **options)


def login(account: str, event_id: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "type": "login",
            "occurred_at": "2026-03-01T09:00:00Z",
            "account_id": account,
            "user_id": "u-1",
        }
    )


def test_a_null_value_is_a_dead_letter_not_a_crash():
    worker = book()
    worker.process(Message("pulse.logins", 0, 7, b"acme", None), is_rekeyed=False)
    sends = worker.checkpoint()[0]
    dead = [orjson.loads(s.value) for s in sends if s.topic == "dead-letter"]
    assert [(d["reason"], d["offset"]) for d in dead] == [("invalid_json", 7)]


def test_a_checkpoint_sends_the_outbox_then_the_changed_rows_once():
    worker = book()
    key = b"acme"
    partition = partition_of(key, PARTITIONS)
    worker.process(
        Message("pulse.logins", partition, 0, key, login("acme", "e-1")), is_rekeyed=False
    )
    worker.process(Message("pulse.logins", partition, 1, key, b"not json"), is_rekeyed=False)
    worker.process(
        Message("pulse.logins", partition, 2, key, login("acme", "e-2")), is_rekeyed=False
    )
    sends = worker.checkpoint()[partition]
    assert sends[0].topic == "dead-letter" and {s.topic for s in sends[1:]} == {"changelog"}
    assert sends[-1].key.startswith(COUNTERS_PREFIX)
    assert {account_of(s.key)[0] for s in sends[1:-1]} == {"acme"}, "the account's parts, each once"
    assert len({s.key for s in sends}) == len(sends)
    assert worker.checkpoint() == {}, "nothing changed since: nothing to send"
    committed = dict(worker.take_committed(partition))
    assert committed.keys() == {s.key for s in sends[1:]}
    restored = PartitionState()
    restored.load_parts(
        "acme", {account_of(k)[1]: v for k, v in committed.items() if account_of(k)}
    )
    assert restored.admission_rows["acme"].remembers("e-1") and restored.admission_rows[
        "acme"
    ].remembers("e-2")


def test_a_message_in_the_wrong_partition_is_forwarded_to_the_rekey_topic():
    worker = book()
    key = b"acme"
    wrong = 1 - partition_of(key, PARTITIONS)
    worker.process(
        Message("pulse.logins", wrong, 5, b"other-key", login("acme", "e-1")), is_rekeyed=False
    )
    (send,) = worker.checkpoint()[wrong]
    assert send.topic == "rekeyed" and send.key == key and send.partition is None


def test_a_huge_key_and_value_still_make_a_dead_letter_that_fits():
    """Kafka allows a 900 KB key with a 400 KB value; the dead letter (record and key) must
    still fit the dead-letter topic, or the checkpoint would be refused."""
    from streams.contract.deadletter import MAX_KEY_BYTES, MAX_RECORD_BYTES

    worker = book()
    key = b"k" * 900_000
    worker.process(
        Message("pulse.logins", 0, 3, key, b'{"x": "' + b"\\u0001" * 70_000 + b'"}'),
        is_rekeyed=False,
    )
    (dead,) = [s for s in worker.checkpoint()[0] if s.topic == "dead-letter"]
    assert dead.key == key[:MAX_KEY_BYTES] and len(dead.value) <= MAX_RECORD_BYTES
    assert orjson.loads(dead.value)["reason"] == "too_large"


# ---- a scrape changes nothing; transactions --------------------------------------------------


def scrape(worker: WorkerBook, owned: set[int]) -> list:
    """What the worker's /metrics renders (`PulseWorker._metrics_page`: the business
    families in slices, then the collector) over a stand-in worker (no Faust app: pure
    unit test)."""
    import asyncio
    from types import SimpleNamespace

    from streams.exposition import FamiliesCollector
    from streams.worker.app import PulseWorker
    from streams.worker.scrape import worker_families
    from streams.worker.telemetry import PipelineTelemetry

    stand_in = SimpleNamespace(
        book=worker,
        ready=lambda: True,
        owned_partitions=lambda: set(owned),
        clock=worker.clock,
        telemetry=PipelineTelemetry(),
        consumer_lag=dict,
        app=SimpleNamespace(consumer=None),
        kafka_watch=SimpleNamespace(families=lambda last_fetch_ms: iter(())),
        state_lock=asyncio.Lock(),
    )
    business = asyncio.run(PulseWorker._business_families(stand_in))
    return list(FamiliesCollector(lambda: worker_families(stand_in, business)).collect())  # type: ignore[arg-type]


def fingerprint(worker: WorkerBook) -> dict:
    """Everything a scrape could change: rows, pipelines, counters, transactions, table."""
    out = {
        "table": dict(worker.table),
        "loaded": worker.loaded(),
        "pipelines": dict(worker._pipelines),
    }
    for partition, state in worker._states.items():
        prepared, tx = worker.transactions(partition)
        out[partition] = (
            {a: account_to_bytes(s) for a, s in state.engine_rows.items()},
            {a: s.to_bytes() for a, s in state.admission_rows.items()},
            state.counters_bytes(),
            id(state.counters),
            [(t, t.status, sorted(t.changed), dict(t.offsets), list(t.rows)) for t in prepared],
            (
                tx,
                tx.status,
                sorted(tx.changed),
                tx.counters_changed,
                list(tx.outbox),
                dict(tx.offsets),
            ),
        )
    return out


def accounts_in(partition: int, count: int) -> list[str]:
    return [
        a
        for a in (f"acct-{i}" for i in range(200))
        if partition_of(a.encode(), PARTITIONS) == partition
    ][:count]


def login_message(account: str, offset: int, event_id: str) -> Message:
    return Message(
        "pulse.logins",
        partition_of(account.encode(), PARTITIONS),
        offset,
        account.encode(),
        login(account, event_id),
    )


MARCH_2 = 1_772_409_600_000  # 2026-03-02T00:00:00Z, the day after the logins


def active_users(families) -> float:
    return sum(
        s.value
        for f in families
        if f.name == "pulse_active_users"
        for s in f.samples
        if s.labels.get("window") == "30d"
    )


def test_a_scrape_leaves_every_row_pipeline_counter_and_transaction_untouched():
    worker = book(MARCH_2)
    (a0,), (a1,) = accounts_in(0, 1), accounts_in(1, 1)
    worker.process(login_message(a0, 0, "e-1"), is_rekeyed=False)
    worker.process(login_message(a1, 0, "e-2"), is_rekeyed=False)
    worker.process(Message("pulse.logins", 0, 1, b"x", b"not json"), is_rekeyed=False)
    worker.checkpoint()
    worker.table.update(
        worker.take_committed(0)
    )  # partition 0 committed, partition 1 still prepared
    worker.process(login_message(a0, 2, "e-3"), is_rekeyed=False)  # an open transaction
    before = fingerprint(worker)
    families = scrape(worker, {0, 1})
    assert active_users(families) > 0
    assert fingerprint(worker) == before


def test_a_scrape_never_loads_a_partition_the_agent_has_not_loaded():
    """Loading happens in the agent (on assignment and recovery), never in collect(): a
    partition owned but not loaded yet shows no business samples (absent, not 0)."""
    worker = book(MARCH_2)
    (a1,) = accounts_in(1, 1)
    worker.process(login_message(a1, 0, "e-1"), is_rekeyed=False)
    worker.checkpoint()
    worker.table.update(worker.take_committed(1))
    worker.forget_cache()
    worker.sync({0})  # the agent has loaded partition 0 only
    before = fingerprint(worker)
    names = {family.name for family in scrape(worker, {0, 1})}
    assert fingerprint(worker) == before and worker.loaded() == {0}
    assert "pulse_active_users" not in names and "pulse_events_processed" in names
    worker.sync({0, 1})  # the agent loads it
    assert active_users(scrape(worker, {0, 1})) == 1


def test_checkpoints_prepare_transactions_with_their_offsets_and_a_commit_ends_them():
    from streams.worker.partition_transaction import TransactionStatus

    worker = book(MARCH_2)
    (a0,) = accounts_in(0, 1)
    worker.process(login_message(a0, 4, "e-1"), is_rekeyed=False)
    worker.process(login_message(a0, 5, "e-2"), is_rekeyed=False)
    worker.checkpoint()
    worker.process(login_message(a0, 6, "e-3"), is_rekeyed=False)
    worker.checkpoint()
    prepared, open_tx = worker.transactions(0)
    assert [t.status for t in prepared] == [TransactionStatus.PREPARED] * 2
    assert [t.offsets for t in prepared] == [{("pulse.logins", 0): 5}, {("pulse.logins", 0): 6}]
    assert open_tx.status is TransactionStatus.STARTED and open_tx.is_empty()
    rows = worker.take_committed(0)
    assert {account_of(key)[0] for key, _ in rows if not key.startswith(COUNTERS_PREFIX)} == {a0}
    assert all(t.status is TransactionStatus.COMMITTED for t in prepared)
    assert worker.transactions(0)[0] == [] and worker.take_committed(0) == []


def test_abort_forgets_uncommitted_effects_and_the_agent_reloads_the_committed_state():
    from streams.worker.partition_transaction import TransactionStatus

    worker = book(MARCH_2)
    a0, b0 = accounts_in(0, 2)
    worker.process(login_message(a0, 0, "e-1"), is_rekeyed=False)
    worker.checkpoint()
    worker.table.update(worker.take_committed(0))  # a0's login is committed
    worker.process(login_message(b0, 1, "e-2"), is_rekeyed=False)
    worker.checkpoint()  # b0's login prepared, never committed
    worker.process(
        Message("pulse.logins", 0, 2, b"x", b"not json"), is_rekeyed=False
    )  # and an open one
    prepared, open_tx = worker.transactions(0)
    assert active_users(book_families(worker, worker.clock())) == 2
    worker.forget_cache()  # a rebalance, or a checkpoint Kafka refused
    assert [t.status for t in (*prepared, open_tx)] == [TransactionStatus.ABORTED] * 2
    assert worker.loaded() == set() and open_tx.outbox == [] and prepared[0].rows == []
    worker.sync({0, 1})
    assert active_users(book_families(worker, worker.clock())) == 1  # a0 only: what Kafka committed
    assert worker.checkpoint() == {}


def test_a_commit_of_several_checkpoints_gives_the_local_store_the_last_value_of_each_key():
    """A key deleted by one checkpoint and written again by the next (both committed at
    once) stays written in the local store, as it does in the changelog: the worker
    applies the committed rows' values, then their deletions (streams/worker/app.py)."""
    from streams.worker.partition_transaction import PartitionTransaction

    worker = book(MARCH_2)
    key, other = b"\x01part-a", b"\x01part-b"
    first, second = PartitionTransaction(0), PartitionTransaction(0)
    first.prepare([(key, None), (other, b"1")])
    second.prepare([(key, b"again"), (other, None)])
    worker._states[0].prepared = [first, second]  # noqa: SLF001 - two checkpoints, not yet committed
    rows = worker.take_committed(0)
    assert rows == [(key, b"again"), (other, None)]
    store: dict[bytes, bytes] = {}
    store.update((k, v) for k, v in rows if v is not None)  # as streams/worker/app.py applies them
    for k, v in rows:
        if v is None:
            store.pop(k, None)
    assert store == {key: b"again"}


def _family_names(families) -> set[str]:
    return {family.name for family in families}


def test_without_account_records_a_scrape_has_the_engine_metrics_and_no_account_metrics():
    """--no-account-records (settings.account_records=False): no record is computed, no
    account or watchlist series is exported; the engine's metrics are as before."""
    worker = book(MARCH_2, account_records=False)
    on = book(MARCH_2)
    for (account,) in (accounts_in(0, 1), accounts_in(1, 1)):
        for each in (worker, on):
            each.process(login_message(account, 0, "e-" + account), is_rekeyed=False)
    families = scrape(worker, {0, 1})
    assert active_users(families) > 0
    names = _family_names(families)
    assert not {
        name
        for name in names
        if name.startswith(("pulse_accounts", "pulse_watchlist", "pulse_mrr_at_risk"))
    }
    assert not worker.touched  # nothing for the record cache to compute
    assert {"pulse_accounts", "pulse_mrr_at_risk"} <= _family_names(scrape(on, {0, 1}))


def test_an_account_a_checkpoint_prunes_away_leaves_the_record_cache_at_once():
    """The record cache keeps the rows of loaded accounts only, without walking the book
    (streams/worker/record_cache.py): a checkpoint names the accounts its pruning deleted."""
    from streams.engine.account import AccountState

    worker = book(MARCH_2)
    (account,) = accounts_in(0, 1)
    worker.process(login_message(account, 0, "e-" + account), is_rekeyed=False)
    cache = worker.record_cache
    assert cache.refresh(10.0) is True
    assert [row[0]["account_id"] for row in cache.rows(cache.as_of())] == [account]
    # what aging out every event leaves: a state with nothing in it, deleted by the prune
    worker._states[partition_of(account.encode(), worker.partitions)].engine_rows[account] = (
        AccountState()
    )
    worker.checkpoint()
    assert worker.gone == {account}
    assert cache.rows(cache.as_of()) == [] and cache.records(cache.as_of()) == []
    assert not worker.gone
