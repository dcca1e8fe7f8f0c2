"""Whole-engine properties: arrival order, byte round trip, pruning, bounded state."""

from __future__ import annotations

import random

import orjson

from streams.engine import activity, state_codec
from streams.engine.engine import Engine
from streams.engine.engine_config import EngineConfig
from streams.engine.state_codec import account_from_bytes, account_to_bytes
from tests.engine_events import DAY_MS, HOUR_MS, T0, login, synthetic_events


def engine_with(events, config: EngineConfig | None = None) -> Engine:
    engine = Engine(config)
    for event in events:
        engine.apply(event)
    return engine


def test_snapshot_does_not_depend_on_arrival_order():
    events = synthetic_events(seed=1, days=30)
    end = events[-1].occurred_at
    in_order = engine_with(events)
    for seed in range(3):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        other = engine_with(shuffled)
        for as_of in (end, end - 3 * DAY_MS - 17, end - 20 * DAY_MS):
            assert other.snapshot(as_of) == in_order.snapshot(as_of)


def test_state_bytes_round_trip_gives_the_same_snapshots():
    events = synthetic_events(seed=2, days=30)
    engine = engine_with(events)
    restored = Engine()
    for account_id, state in engine.store.items():
        data = account_to_bytes(state)
        copy = account_from_bytes(data)
        assert account_to_bytes(copy) == data
        restored.store[account_id] = copy
    end = events[-1].occurred_at
    for as_of in (end, end - 5 * DAY_MS):
        assert restored.snapshot(as_of) == engine.snapshot(as_of)
    # and the restored state keeps working
    later = login(end + HOUR_MS, user="late", account="acct0")
    engine.apply(later)
    restored.apply(later)
    assert restored.snapshot(end + HOUR_MS) == engine.snapshot(end + HOUR_MS)


def test_pruning_keeps_every_snapshot_within_the_late_horizon_exact():
    events = synthetic_events(seed=3, days=120, accounts=2, users=3)
    reference = Engine(
        EngineConfig(activity_lag_ms=10**15, survey_lag_ms=10**15, ticket_retention_ms=2 * 10**15)
    )
    pruned = Engine()
    for event in events:
        reference.apply(event)
        pruned.apply(event)
    pruned.prune()
    oldest_exact = max(state.stream_time for state in pruned.store.values()) - 35 * DAY_MS
    end = events[-1].occurred_at
    for as_of in (end, oldest_exact, oldest_exact + 7 * DAY_MS + 5):
        assert pruned.snapshot(as_of) == reference.snapshot(as_of)
    # users age out by the account's latest activity, which may trail its latest event by days
    assert (
        len(account_to_bytes(pruned.store.get("acct0")))
        < len(account_to_bytes(reference.store.get("acct0"))) * 0.6
    )


def test_state_stops_growing_once_days_age_out():
    events = synthetic_events(seed=4, days=300, accounts=1, users=4)
    engine = Engine()
    sizes = {}
    checkpoints = {100, 200, 300}
    day = 0
    for event in events:
        while event.occurred_at >= T0 + (day + 1) * DAY_MS:
            day += 1
            if day in checkpoints:
                engine.prune()
                sizes[day] = len(account_to_bytes(engine.store.get("acct0")))
        engine.apply(event)
    assert sizes[200] < sizes[100] * 1.25
    assert sizes[300] < sizes[100] * 1.25
    user = engine.store.get("acct0").users["u0"]
    assert user.trail[0] >> 1 >= T0 + (299 - 43) * DAY_MS  # about 42 days of raw session trail
    assert len(activity.seen_of(user)) <= 2 * 66  # about two presence times per day for 65 days


class CountingStore(dict):
    """A dict store that counts writes, standing in for a changelogged table."""

    writes = 0

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)


def test_batch_apply_writes_each_account_once_and_gives_the_same_snapshot():
    events = synthetic_events(seed=9, days=5)
    store = CountingStore()
    batched = Engine(store=store)
    batched.apply_batch(events)
    assert store.writes == len({event.account_id for event in events})
    end = events[-1].occurred_at
    assert batched.snapshot(end) == engine_with(events).snapshot(end)


class _Versions:
    """The user versions last seen, with each user's JSON at that moment."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], tuple[object, bytes]] = {}
        self.unchanged = 0

    def check(self, engine: Engine) -> None:
        """A user whose version is the one seen before must encode as it did then."""
        for account_id, state in engine.store.items():
            for user_id, user in state.users.items():
                version = state_codec.user_version(user)
                data = orjson.dumps(state_codec.user_obj(user))
                before = self.seen.get((account_id, user_id))
                if before is not None and before[0] is version:
                    assert before[1] == data, (account_id, user_id)
                    self.unchanged += 1
                self.seen[account_id, user_id] = (version, data)


def test_a_user_version_changes_whenever_the_user_does():
    """Checkpoints skip the users whose version is the one last written
    (state_parts.AccountParts.rows): after each event, and after pruning, a user whose
    version stayed must encode as it did."""
    events = synthetic_events(seed=3, days=45)
    engine = Engine()
    versions = _Versions()
    for number, event in enumerate(events):
        engine.apply(event)
        if number % 7 == 0:
            versions.check(engine)
        if number % 500 == 0:
            engine.prune()
    versions.check(engine)
    for state in engine.store.values():
        state.stream_time += 20 * DAY_MS  # as if the users had gone quiet: pruning ages them out
        state.activity_time += 20 * DAY_MS
        state.prune(engine.config)
    versions.check(engine)
    assert versions.unchanged > 100  # the check did compare users that had not changed


def test_every_event_type_of_the_contract_has_one_handler() -> None:
    from streams.contract.model import EVENT_TYPES
    from streams.engine import account

    assert set(account._HANDLERS) == set(EVENT_TYPES)
    try:
        account._handler_table(
            (("login",), account.AccountState._apply_user_activity),
            (("login",), account.AccountState._apply_billing),
        )
    except RuntimeError as error:
        assert "two handlers" in str(error)
    else:
        raise AssertionError("a type with two handlers was accepted")


def test_a_one_shot_snapshot_and_records_keep_no_revenue_evaluation():
    """`keep_evaluations=False` (a replay evaluates once) gives the same samples and
    records, and leaves no account holding its revenue evaluation; the default keeps them
    for the next scrape."""
    from streams.engine.accounts_config import AccountsConfig
    from streams.engine.records import iter_account_records

    events = synthetic_events(seed=4, days=40)
    end = events[-1].occurred_at
    kept, dropped = engine_with(events), engine_with(events)

    def evaluations(engine: Engine) -> int:
        return sum(1 for s in engine.store.values() if s.revenue and s.revenue._cache)

    def records(engine: Engine, keep: bool) -> list:
        return list(
            iter_account_records(
                list(engine.store.items()),
                end,
                engine.config,
                engine.revenue_config,
                AccountsConfig(),
                keep_evaluations=keep,
            )
        )

    assert dropped.snapshot(end, keep_evaluations=False) == kept.snapshot(end)
    assert evaluations(kept) > 0 and evaluations(dropped) == 0
    assert records(dropped, keep=False) == records(kept, keep=True)
    assert evaluations(kept) > 0 and evaluations(dropped) == 0
