"""IncrementalSnapshot equals Engine.snapshot at every time, window edges included.

Snapshots are taken at each event time and at every time a window edge can fall on
(event time + 30 min gap, + 1 day, 7, 30, 90, 365 days, each -1 ms, exactly, +1 ms), with
events applied as their time passes, pruning in between as a history does. Unit pure
tests: no I/O."""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec
import pytest

from streams.contract.model import Payment, SubscriptionSet
from streams.engine.engine import Engine, run_steps
from streams.engine.engine_config import EngineConfig
from streams.engine.incremental import IncrementalSnapshot, sum_totals
from streams.engine.revenue import RevenueConfig
from streams.engine.timeline import DAY_MS, HOUR_MS, MINUTE_MS
from tests.engine_events import FEATURES, T0, device_events, synthetic_events

OFFSETS = (
    0,
    30 * MINUTE_MS,
    30 * MINUTE_MS + 1,
    DAY_MS,
    7 * DAY_MS,
    7 * DAY_MS + 30 * MINUTE_MS,
    30 * DAY_MS,
    90 * DAY_MS,
    365 * DAY_MS,
)


def edge_times(events: list, rng: random.Random, limit: int) -> list[int]:
    """Every time a window edge of some event can fall on, +-1 ms, sampled to `limit`."""
    times = {
        e.occurred_at + offset + delta for e in events for offset in OFFSETS for delta in (-1, 0, 1)
    }
    last = max(e.occurred_at for e in events) + 40 * DAY_MS
    chosen = sorted(t for t in times if t <= last)
    if len(chosen) > limit:
        chosen = sorted(rng.sample(chosen, limit))
    return chosen


def hourly(events: list, after_days: int = 40) -> list[int]:
    """Every hour from the first event's hour to `after_days` after the last event: steps
    as a history takes them, crossing local midnights and DST changes."""
    first = min(e.occurred_at for e in events) // HOUR_MS * HOUR_MS
    last = max(e.occurred_at for e in events) + after_days * DAY_MS
    return list(range(first, last + 1, HOUR_MS))


def run(
    events: list,
    times: list[int],
    config: EngineConfig,
    prune_every: int = DAY_MS,
    revenue: RevenueConfig | None = None,
) -> IncrementalSnapshot:
    engine = Engine(config, RevenueConfig() if revenue is None else revenue)
    incremental = IncrementalSnapshot(engine)
    pending = sorted(events, key=lambda e: e.occurred_at)
    position = 0
    for as_of in times:
        while position < len(pending) and pending[position].occurred_at <= as_of:
            engine.apply(pending[position])
            incremental.touch(pending[position])
            position += 1
        engine.prune(step_ms=prune_every)
        assert incremental.snapshot(as_of) == engine.snapshot(as_of), f"at {as_of}"
    return incremental


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_equals_the_full_snapshot_at_every_window_edge(seed: int):
    events = synthetic_events(seed, days=45)
    times = edge_times(events, random.Random(seed), 1200)
    incremental = run(events, times, EngineConfig())
    units = len(incremental.shares)
    # it recounts what changed, not every unit at every time
    assert incremental.recounted < units * len(times) / 4


def test_equals_with_listed_features_and_the_other_series():
    events = synthetic_events(4, days=35)
    config = EngineConfig(features=FEATURES[:2])
    run(events, edge_times(events, random.Random(4), 800), config)


def test_equals_with_a_feature_cap_that_folds_features_into_other():
    events = synthetic_events(5, days=35)
    run(events, edge_times(events, random.Random(5), 600), EngineConfig(feature_cap=2))


def test_late_events_applied_out_of_order_are_recounted():
    events = synthetic_events(6, days=30)
    rng = random.Random(6)
    engine = Engine(EngineConfig(), RevenueConfig())
    incremental = IncrementalSnapshot(engine)
    held_back = [e for e in events if rng.random() < 0.2]
    kept = [e for e in events if e not in held_back]
    end = max(e.occurred_at for e in events)
    hours = list(range(min(e.occurred_at for e in events), end + DAY_MS, 3_600_000))
    position = 0
    for index, as_of in enumerate(hours):
        while position < len(kept) and kept[position].occurred_at <= as_of:
            engine.apply(kept[position])
            incremental.touch(kept[position])
            position += 1
        if index % 24 == 0:  # a day's late events, all from the past
            late = [e for e in held_back if e.occurred_at <= as_of]
            for event in late:
                engine.apply(event)
                incremental.touch(event)
                held_back.remove(event)
        assert incremental.snapshot(as_of) == engine.snapshot(as_of), f"at {as_of}"


def test_a_replaced_account_and_time_going_back_are_recounted():
    events = synthetic_events(7, days=20)
    engine = Engine(EngineConfig(), RevenueConfig())
    incremental = IncrementalSnapshot(engine)
    for event in events:
        engine.apply(event)
        incremental.touch(event)
    end = max(e.occurred_at for e in events)
    assert incremental.snapshot(end) == engine.snapshot(end)
    del engine.store["acct1"]  # an account rebuilt from fewer events
    engine.apply_batch(
        e for e in events if e.account_id == "acct1" and e.occurred_at < end - 5 * DAY_MS
    )
    incremental.touch_account("acct1")
    assert incremental.snapshot(end + DAY_MS) == engine.snapshot(end + DAY_MS)
    assert incremental.snapshot(end - 3 * DAY_MS) == engine.snapshot(end - 3 * DAY_MS)


# --- issue 16's metrics: tagged sessions, local days, activity knobs, idle users ------------


@pytest.mark.parametrize("seed", [8, 9])
def test_equals_with_sessions_on_several_devices(seed: int) -> None:
    """Tagged sessions (one session_id per device, several open at once, some closed by a
    logout, some by inactivity) recounted at their edges: sessions.next_change's tagged
    branch."""
    events = device_events(seed, days=12)
    assert any(e.type == "login" and e.session_id for e in events)
    times = sorted(set(edge_times(events, random.Random(seed), 1500)) | set(hourly(events, 9)))
    run(events, times, EngineConfig())


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kathmandu"])
def test_equals_hourly_across_local_midnights_and_a_dst_change(zone: str) -> None:
    """Hourly steps over 2026-03-01..03-25 (New York springs forward on 03-08): the 30
    local days move on at each local midnight, whatever the events do."""
    events = [
        e
        for e in device_events(10, days=20) + synthetic_events(10, days=20, accounts=2)
        if e.occurred_at < T0 + 20 * DAY_MS
    ]
    events.sort(key=lambda e: e.occurred_at)
    times = hourly(events, 4)
    run(events, times, EngineConfig(time_zone=zone))


@pytest.mark.parametrize(
    ("activity_types", "core_features"),
    [
        (("feature_used",), ("export", "reports")),
        (("login",), ("export",)),
        (("login", "feature_used"), ("search",)),
    ],
)
def test_equals_with_activity_knobs_and_users_who_only_log_in(
    activity_types: tuple[str, ...], core_features: tuple[str, ...]
) -> None:
    """Non-default activity types and core features, users who log in and do nothing, a
    user who stops half way: logins and core uses entering and leaving the idle window."""
    events = device_events(11, days=20)
    config = EngineConfig(
        activity_types=activity_types, core_features=core_features, time_zone="Europe/Berlin"
    )
    times = sorted(set(edge_times(events, random.Random(11), 1500)) | set(hourly(events, 0)[::5]))
    run(events, times, config)


def test_equals_with_payments_and_prices_in_currencies_whose_rate_changes() -> None:
    """Dated rates: each subscription and payment converted at the rate in force at its
    time, the rate changing every few days inside the range."""
    events = []
    for event in synthetic_events(12, days=35):
        if isinstance(event, (SubscriptionSet, Payment)):
            currency = "EUR" if event.account_id in ("acct0", "acct2") else "GBP"
            event = msgspec.structs.replace(event, currency=currency)
        events.append(event)
    events.append(
        msgspec.structs.replace(events[-1], event_id="late-pay", occurred_at=T0 + 20 * DAY_MS)
    )
    dated = tuple(
        (T0 - DAY_MS + k * 3 * DAY_MS, code, Decimal(base) + Decimal(k) / 100)
        for k in range(15)
        for code, base in (("EUR", "1.05"), ("GBP", "1.25"))
    )
    revenue = RevenueConfig(dated_rates=dated)
    assert any(isinstance(e, Payment) for e in events)
    run(events, edge_times(events, random.Random(12), 800), EngineConfig(), revenue=revenue)


@pytest.mark.parametrize(
    "config",
    [EngineConfig(), EngineConfig(feature_cap=2), EngineConfig(features=FEATURES[:2])],
    ids=["default", "cap-folds-into-other", "listed"],
)
def test_the_sums_of_disjoint_accounts_add_up_to_the_full_snapshot(config: EngineConfig):
    """What `pulse replay --jobs N` relies on: engines holding disjoint accounts, their
    `tally_steps` summed by `sum_totals` and their window feature sets added, give the
    samples of one engine holding them all, at every time (the unlabelled `other` count
    included, which needs the labels of the union)."""
    events = synthetic_events(8, days=35, accounts=5)
    whole = Engine(config, RevenueConfig())
    parts = [Engine(config, RevenueConfig()) for _ in range(3)]
    accounts = sorted({e.account_id for e in events})
    for event in sorted(events, key=lambda e: e.occurred_at):
        whole.apply(event)
        parts[accounts.index(event.account_id) % 3].apply(event)
    assert all(part.store for part in parts)
    for as_of in edge_times(events, random.Random(8), 150):
        totals = sum_totals(run_steps(part.tally_steps(as_of, 0)) for part in parts)
        feature_sets: dict[frozenset[str], int] = {}
        for part in parts:
            for used, users in part.window_feature_sets(as_of).items():
                feature_sets[used] = feature_sets.get(used, 0) + users
        assert whole.samples(totals, as_of, feature_sets) == whole.snapshot(as_of), f"at {as_of}"
    other = [
        s.value
        for s in whole.snapshot(max(e.occurred_at for e in events))
        if s.name == "pulse_feature_users" and ("feature", "other") in s.labels
    ]
    if config == EngineConfig():
        assert other == []  # fewer features than the cap: no other series
    else:
        assert len(other) == 1 and other[0] > 0  # the case the feature sets are for
