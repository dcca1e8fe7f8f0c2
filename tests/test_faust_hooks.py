"""Unit tests of each hook in streams/worker/faust/hooks.py, with stand-ins for the Faust and
aiokafka objects they touch (no broker: the worker tests on the real broker cover them
together)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.structs import TopicPartition
from faust.stores.rocksdb import RocksDBOptions
from faust.types import TP

from streams.worker.delivery import FetchTrail
from streams.worker.faust import hooks as faust_hooks
from streams.worker.faust.hooks import WorkerHooks


class _App:  # weak-referenceable, as Faust's apps are
    def __init__(self, **attributes) -> None:
        self.__dict__.update(attributes)


def _hooks(app, *, committed=None, sought=None, topics=frozenset({"pulse.logins"})) -> WorkerHooks:
    heard = committed if committed is not None else []

    async def on_committed(partitions: set[int]) -> None:
        heard.append(partitions)

    hooks = WorkerHooks(
        on_committed,
        (sought if sought is not None else []).append,
        FetchTrail(),
        topics,
    )
    faust_hooks._hooks_of[app] = hooks
    return hooks


def run(coroutine):
    return asyncio.run(coroutine)


# ---- hook 1 -----------------------------------------------------------------------------


def test_sends_go_through_the_source_partitions_transactional_producer():
    calls = []

    class Producer:
        async def send(self, *args, **kwargs):
            calls.append((args, kwargs))
            return "future"

    app = _App(
        in_transaction=True,
        conf=SimpleNamespace(id="cs-pulse"),
        assignor=SimpleNamespace(group_for_topic=lambda topic: 0),
        consumer=SimpleNamespace(transactions=SimpleNamespace(producer=Producer())),
    )
    result = run(
        faust_hooks.send_in_partition_transaction(
            app, "cs-pulse-rekeyed", 3, "pulse.dead-letter", b"k", b"v", 3, [("h", b"1")]
        )
    )
    assert result == "future"
    assert calls == [
        (
            ("pulse.dead-letter", b"k", b"v", 3, None, [("h", b"1")]),
            {"transactional_id": "cs-pulse-0-3"},
        )
    ]


# ---- hook 2 -----------------------------------------------------------------------------


def test_changelog_highwaters_are_asked_of_the_broker():
    asked = []

    async def end_offsets(partitions):
        asked.append(partitions)
        return {tp: 42 for tp in partitions}

    thread = SimpleNamespace(_ensure_consumer=lambda: SimpleNamespace(end_offsets=end_offsets))
    tps = {TP("cs-pulse-accounts-changelog", 0)}
    assert run(faust_hooks._highwaters_from_broker(thread, tps)) == {
        TP("cs-pulse-accounts-changelog", 0): 42
    }
    assert asked == [list(tps)]


# ---- hook 3 -----------------------------------------------------------------------------


def test_every_rebalance_stops_every_transactional_producer_and_starts_the_assigned_ones():
    events = []

    async def stop(ids):
        events.append(("stop", sorted(ids)))

    async def start(ids):
        events.append(("start", ids))

    manager = SimpleNamespace(
        producer=SimpleNamespace(_transaction_producers={"app-0-1": object(), "app-0-2": object()}),
        _stop_transactions=stop,
        _start_transactions=start,
        _tps_to_transactional_ids=lambda tps: {f"app-0-{tp.partition}" for tp in tps},
        log=SimpleNamespace(info=lambda *args: None),
    )
    assigned = {TP("pulse.logins", 2), TP("pulse.logins", 0)}
    run(faust_hooks._restart_transactions(manager, assigned, set(), set()))
    # partition 2 was kept: its producer is restarted too, aborting what was not committed
    assert events == [("stop", ["app-0-1", "app-0-2"]), ("start", ["app-0-0", "app-0-2"])]


# ---- hook 4 -----------------------------------------------------------------------------


def test_commits_wait_for_the_checkpoint_in_flight_and_none_follows_an_abandoned_one(monkeypatch):
    commits = []

    async def force_commit(consumer, *args, **kwargs):
        commits.append("commit")
        return True

    monkeypatch.setattr(faust_hooks, "_original_force_commit", force_commit)
    app = _App()
    hooks = _hooks(app)
    consumer = SimpleNamespace(app=app)

    async def scenario():
        async with hooks.lock:  # a checkpoint in flight
            pending = asyncio.ensure_future(faust_hooks._gated_force_commit(consumer))
            await asyncio.sleep(0.01)
            assert commits == []
        assert await pending is True and commits == ["commit"]
        hooks.refuse_commits = True
        assert await faust_hooks._gated_force_commit(consumer) is False
        assert commits == ["commit"]
        # an app without hooks commits as Faust does
        assert await faust_hooks._gated_force_commit(SimpleNamespace(app=_App())) is True

    run(scenario())


def test_a_commit_reports_the_assigned_partitions_it_covered(monkeypatch):
    async def commit_offsets(consumer, offsets, *args, **kwargs):
        return bool(offsets)

    monkeypatch.setattr(faust_hooks, "_original_commit_offsets", commit_offsets)
    app, committed = _App(), []
    _hooks(app, committed=committed)
    assignment = {TP("cs-pulse-rekeyed", 1), TP("pulse.logins", 3)}
    consumer = SimpleNamespace(app=app, assignment=lambda: assignment)
    offsets = {
        TP("cs-pulse-rekeyed", 1): 10,
        TP("pulse.logins", 3): 5,
        TP("pulse.logins", 0): 7,
    }  # 0: revoked
    assert run(faust_hooks._reporting_commit_offsets(consumer, offsets)) is True
    assert run(faust_hooks._reporting_commit_offsets(consumer, {})) is False
    assert committed == [{1, 3}]


# ---- hook 5 -----------------------------------------------------------------------------


class _AiokafkaConsumer:
    def __init__(self, committed, log_starts, ends) -> None:
        self._committed, self._log_starts, self._ends = committed, log_starts, ends
        self.seeks = []

    def assignment(self):
        return set(self._committed)

    async def committed(self, tp):
        return self._committed[tp]

    async def beginning_offsets(self, tps):
        return {tp: self._log_starts[tp] for tps_ in [tps] for tp in tps_}

    async def end_offsets(self, tps):
        return {tp: self._ends[tp] for tp in tps}

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))


def test_seek_to_committed_or_the_reset_start_and_past_deleted_records(caplog):
    logins = [TopicPartition("pulse.logins", n) for n in range(3)]
    changelog = TopicPartition("app-accounts-changelog", 0)
    consumer = _AiokafkaConsumer(
        committed={logins[0]: 10, logins[1]: None, logins[2]: 4, changelog: 7},
        log_starts={logins[0]: 3, logins[1]: 2, logins[2]: 9},
        ends={},
    )
    sought = []
    app = _App(
        tables=SimpleNamespace(changelog_topics={"app-accounts-changelog"}),
        conf=SimpleNamespace(consumer_auto_offset_reset="earliest"),
    )
    _hooks(app, sought=sought)
    with caplog.at_level("ERROR", logger="cs-pulse.worker"):
        committed = run(faust_hooks._seek_assigned(consumer, app))
    assert committed[logins[1]] is None
    assert sorted(consumer.seeks) == sorted(
        [(logins[0], 10), (logins[1], 2), (logins[2], 9), (changelog, 7)]
    )
    assert sought == [
        {TP("pulse.logins", 0): 10, TP("pulse.logins", 1): 2, TP("pulse.logins", 2): 9}
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "records 4..8 of pulse.logins-2 were deleted from Kafka (retention or DeleteRecords) before the worker "
        "read them; they are not counted, and the worker goes on from offset 9"
    ]


def test_the_drain_loop_adds_no_gap_for_the_worker_which_adds_its_own(monkeypatch):
    gaps = []

    async def add_gap(consumer, tp, start, end):
        gaps.append((consumer.app.name, tp, start, end))

    monkeypatch.setattr(faust_hooks, "_original_add_gap", add_gap)
    worker, other = _App(name="worker"), _App(name="other")
    _hooks(worker)
    tp = TopicPartition("pulse.logins", 0)
    run(faust_hooks._add_gap_where_normal(SimpleNamespace(app=worker), tp, 5, 9))
    run(faust_hooks._add_gap_where_normal(SimpleNamespace(app=other), tp, 5, 9))
    run(faust_hooks.add_gap(SimpleNamespace(app=worker), tp, 3, 4))
    assert gaps == [("other", tp, 5, 9), ("worker", TP("pulse.logins", 0), 3, 4)]
    assert type(gaps[1][1]) is TP


def test_each_fetch_of_a_source_partition_goes_on_the_trail(monkeypatch):
    """The fetcher's position before and after, and the offsets it returned: a commit
    marker at 12 and an aborted transaction 15..17 become jumps the worker may take."""
    logins, changelog = (
        TopicPartition("pulse.logins", 0),
        TopicPartition("app-accounts-changelog", 0),
    )
    states = {
        logins: SimpleNamespace(has_valid_position=True, position=10),
        changelog: SimpleNamespace(has_valid_position=True, position=0),
    }
    assignment = SimpleNamespace(tps=set(states), state_value=states.get)
    aiokafka_consumer = SimpleNamespace(
        _subscription=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))
    )
    fetches = iter([({logins: [10, 11], changelog: [0]}, 13), ({logins: [13, 14, 18]}, 20)])

    async def fetch_records(thread, consumer, active, *args, **kwargs):
        records, position = next(fetches)
        states[logins].position = position
        return {tp: [SimpleNamespace(offset=o) for o in offsets] for tp, offsets in records.items()}

    monkeypatch.setattr(faust_hooks, "_original_fetch_records", fetch_records)
    app = _App()
    hooks = _hooks(app)
    thread = SimpleNamespace(app=app)
    run(faust_hooks._fetch_records_on_the_trail(thread, aiokafka_consumer, None, timeout=1.0))
    run(faust_hooks._fetch_records_on_the_trail(thread, aiokafka_consumer, None, timeout=1.0))
    assert hooks.trail.take_jump(logins, 12) == 13 and hooks.trail.take_jump(logins, 15) == 18
    assert hooks.trail.take_jump(logins, 11) is None and hooks.trail._jumps.get(changelog) is None


# ---- hook 6 -----------------------------------------------------------------------------


def test_committed_rows_go_into_the_partitions_own_store(tmp_path, monkeypatch):
    """Into RocksDB databases opened as Faust opens them; more rows than one slice."""
    monkeypatch.setattr(faust_hooks, "ROW_SLICE", 3)
    dbs = {p: RocksDBOptions(use_rocksdict=True).open(tmp_path / str(p)) for p in (0, 1)}
    rocks = SimpleNamespace(_db_for_partition=dbs.__getitem__, _key_index={})
    rows = [(b"acct-%d" % i, b"row-%d" % i) for i in range(7)]
    run(faust_hooks.write_committed_rows(SimpleNamespace(data=rocks), 1, rows))
    assert [(key, dbs[1][key]) for key, _ in rows] == rows
    assert list(dbs[0].keys()) == [] and rocks._key_index == {key: 1 for key, _ in rows}
    # a later commit: one row changed, two deleted (tombstones of pruned-away accounts)
    later = [(b"acct-0", b"row-0'"), (b"acct-1", None), (b"acct-6", None)]
    run(faust_hooks.write_committed_rows(SimpleNamespace(data=rocks), 1, later))
    expected = {**dict(rows), b"acct-0": b"row-0'"}
    del expected[b"acct-1"], expected[b"acct-6"]
    assert dict(dbs[1].items()) == expected and set(rocks._key_index) == set(expected)
    memory: dict = {}
    run(faust_hooks.write_committed_rows(SimpleNamespace(data=memory), 1, rows))
    run(faust_hooks.write_committed_rows(SimpleNamespace(data=memory), 1, later))
    assert memory == expected


def test_a_message_let_go_is_no_longer_unacknowledged():
    message = _App(acked=False)
    consumer = SimpleNamespace(_unacked_messages={message})
    faust_hooks.forget_unacked(consumer, message)
    assert message.acked and consumer._unacked_messages == set()


def test_rewind_seeks_in_the_consumers_thread_and_moves_the_read_offset():
    seeks = []
    aiokafka_consumer = SimpleNamespace(seek=lambda tp, offset: seeks.append((tp, offset)))

    async def call_thread(function, *args):
        return await function(*args)

    thread = SimpleNamespace(call_thread=call_thread, _ensure_consumer=lambda: aiokafka_consumer)
    consumer = SimpleNamespace(_thread=thread, _read_offset={})
    tp = TP("pulse.logins", 2)
    run(faust_hooks.rewind(consumer, tp, 17))
    assert seeks == [(TopicPartition("pulse.logins", 2), 17)] and consumer._read_offset == {tp: 17}


@pytest.fixture(autouse=True)
def _no_hooks_left():
    yield
    faust_hooks._hooks_of.clear()


def test_no_jump_is_noted_across_a_rebalance_during_the_fetch(monkeypatch):
    logins = TopicPartition("pulse.logins", 0)
    old = SimpleNamespace(has_valid_position=True, position=3)
    new = SimpleNamespace(has_valid_position=True, position=12)
    subscription = SimpleNamespace(
        assignment=SimpleNamespace(tps={logins}, state_value={logins: old}.get)
    )
    aiokafka_consumer = SimpleNamespace(_subscription=SimpleNamespace(subscription=subscription))

    async def fetch_records(thread, consumer, active, *args, **kwargs):
        aiokafka_consumer._subscription.subscription = SimpleNamespace(
            assignment=SimpleNamespace(tps={logins}, state_value={logins: new}.get)
        )
        return {logins: [SimpleNamespace(offset=10), SimpleNamespace(offset=11)]}

    monkeypatch.setattr(faust_hooks, "_original_fetch_records", fetch_records)
    app = _App()
    hooks = _hooks(app)
    run(faust_hooks._fetch_records_on_the_trail(SimpleNamespace(app=app), aiokafka_consumer, None))
    assert hooks.trail.take_jump(logins, 3) is None


class _LaggingConsumer(_AiokafkaConsumer):
    """Answers each partition's committed offset from a list, one answer per question (the
    last one from then on): the broker shows a transaction's offsets only once their
    markers are written, after the commit returned."""

    def __init__(self, answers, log_starts) -> None:
        super().__init__({tp: values[-1] for tp, values in answers.items()}, log_starts, {})
        self._answers = {tp: list(values) for tp, values in answers.items()}
        self.questions = 0

    async def committed(self, tp):
        self.questions += 1
        values = self._answers[tp]
        return values.pop(0) if len(values) > 1 else values[0]


def _seek_app(monkeypatch):
    async def commit_offsets(consumer, offsets, *args, **kwargs):
        return True

    monkeypatch.setattr(faust_hooks, "_original_commit_offsets", commit_offsets)
    app, sought = (
        _App(
            tables=SimpleNamespace(changelog_topics={"app-accounts-changelog"}),
            conf=SimpleNamespace(consumer_auto_offset_reset="earliest"),
        ),
        [],
    )
    _hooks(app, sought=sought)
    return app, sought


def test_the_seek_after_a_commit_waits_for_the_broker_to_show_it(monkeypatch):
    """This worker committed offset 120 of pulse.logins-0 just before the rebalance; the
    broker answers 100 (the commit before) twice, then 120. Seeking to 100 would apply
    records 100..119 again (their effects are in the committed state already)."""
    app, sought = _seek_app(monkeypatch)
    logins = [TopicPartition("pulse.logins", n) for n in range(2)]
    assignment = {TP("pulse.logins", 0), TP("pulse.logins", 1)}
    worker_consumer = SimpleNamespace(app=app, assignment=lambda: assignment)
    run(faust_hooks._reporting_commit_offsets(worker_consumer, {TP("pulse.logins", 0): 120}))
    consumer = _LaggingConsumer(
        answers={logins[0]: [100, 100, 120], logins[1]: [7]}, log_starts={tp: 0 for tp in logins}
    )
    run(faust_hooks._seek_assigned(consumer, app))
    assert sorted(consumer.seeks) == [(logins[0], 120), (logins[1], 7)]
    assert sought == [{TP("pulse.logins", 0): 120, TP("pulse.logins", 1): 7}]


def test_the_seek_goes_on_from_the_brokers_offset_when_it_never_shows_the_own_commit(
    monkeypatch, caplog
):
    app, sought = _seek_app(monkeypatch)
    monkeypatch.setattr(faust_hooks, "STABLE_OFFSETS_WAIT_S", 0.05)
    logins = TopicPartition("pulse.logins", 0)
    worker_consumer = SimpleNamespace(app=app, assignment=lambda: {TP("pulse.logins", 0)})
    run(faust_hooks._reporting_commit_offsets(worker_consumer, {TP("pulse.logins", 0): 120}))
    consumer = _LaggingConsumer(answers={logins: [100]}, log_starts={logins: 0})
    with caplog.at_level("WARNING", logger="cs-pulse.worker"):
        run(faust_hooks._seek_assigned(consumer, app))
    assert consumer.seeks == [(logins, 100)]
    assert consumer.questions > 1
    assert [r.getMessage() for r in caplog.records] == [
        "the broker still shows offset 100 as committed for pulse.logins-0, below the 120 this "
        "worker committed; going on from the broker's offset"
    ]


def test_the_seek_holds_the_commit_gate():
    """Faust seeks while the worker may be committing: a commit between asking for the
    committed offsets and Faust taking them would be undone by them."""
    app = _App()
    hooks = _hooks(app)
    held = []

    async def call_thread(method, consumer, app_):
        held.append(hooks.lock.locked())
        return {}

    thread = SimpleNamespace(app=app, call_thread=call_thread, _ensure_consumer=lambda: None)

    async def seek_then_commit():
        await faust_hooks._seek_to_committed_or_reset(thread)
        return hooks.lock.locked()

    assert run(seek_then_commit()) is False
    assert held == [True]
