"""Activity: active users, stickiness, login counts; and the presence sets behind them."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engine.engine import Engine
from streams.engine.timeline import add_presence, any_in, new_times
from tests.engine_events import DAY_MS, MINUTE_MS, T0, feature, login, logout, value

T = T0 + 40 * DAY_MS


def snapshot_of(*events, as_of: int = T):
    engine = Engine()
    for event in events:
        engine.apply(event)
    return engine.snapshot(as_of)


def active(samples, window: str) -> float:
    return value(samples, "pulse_active_users", window=window)


def test_event_exactly_at_window_start_is_out_and_at_t_is_in():
    samples = snapshot_of(login(T - DAY_MS, user="edge"), feature(T, user="now"))
    assert active(samples, "1d") == 1  # only "now"
    assert active(samples, "7d") == 2


def test_one_millisecond_inside_each_window_counts():
    samples = snapshot_of(
        login(T - DAY_MS + 1, user="d"), login(T - 7 * DAY_MS + 1, user="w"), login(T - 30 * DAY_MS + 1, user="m"),
        login(T - 30 * DAY_MS, user="out"),
    )
    assert [active(samples, w) for w in ("1d", "7d", "30d")] == [1, 2, 3]


def test_events_after_the_evaluation_time_are_not_applied():
    samples = snapshot_of(login(T + 1, user="future"), feature(T - 5 * DAY_MS, user="past"))
    assert active(samples, "1d") == 0
    assert active(samples, "30d") == 1
    assert value(samples, "pulse_logins", window="7d") == 0


def test_logout_is_not_activity_and_users_are_per_account():
    samples = snapshot_of(
        logout(T - MINUTE_MS, user="gone"),
        login(T - MINUTE_MS, user="u", account="a1"),
        login(T - MINUTE_MS, user="u", account="a2"),
    )
    assert active(samples, "1d") == 2


def test_stickiness_is_daily_over_monthly_and_zero_without_users():
    samples = snapshot_of(login(T - 1, user="x"), login(T - 10 * DAY_MS, user="y"), login(T - 20 * DAY_MS, user="z"))
    assert value(samples, "pulse_stickiness_ratio") == 1 / 3
    assert value(snapshot_of(), "pulse_stickiness_ratio") == 0


def test_login_count_counts_every_login_event_in_the_window():
    samples = snapshot_of(
        login(T, user="a"), login(T - 1, user="a"), login(T - DAY_MS, user="a"),
        login(T - 7 * DAY_MS + 1, user="b"), feature(T - 2, user="a"), login(T - 7 * DAY_MS, user="c"),
    )
    assert value(samples, "pulse_logins", window="1d") == 2
    assert value(samples, "pulse_logins", window="7d") == 4


def test_evaluation_in_the_past_ignores_later_events():
    engine = Engine()
    for day in range(10):
        engine.apply(login(T0 + day * DAY_MS, user=f"u{day}"))
    past = engine.snapshot(T0 + 4 * DAY_MS)
    assert active(past, "1d") == 1
    assert active(past, "30d") == 5
    assert value(past, "pulse_logins", window="7d") == 5


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.integers(min_value=0, max_value=10 * DAY_MS), min_size=1, max_size=40),
    width=st.sampled_from([DAY_MS, 3 * DAY_MS, 7 * DAY_MS]),
    probes=st.lists(st.integers(min_value=-DAY_MS, max_value=12 * DAY_MS), min_size=1, max_size=20),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_presence_set_answers_like_the_full_list_in_any_order(times, width, probes, seed):
    shuffled = list(times)
    random.Random(seed).shuffle(shuffled)
    presence = new_times()
    for time in shuffled:
        add_presence(presence, time, DAY_MS)
    assert list(presence) == sorted(set(presence))
    for probe in probes:
        expected = any(probe - width < time <= probe for time in times)
        assert any_in(presence, probe - width, probe) is expected


def test_presence_set_stays_small_for_in_order_input():
    presence = new_times()
    for minute in range(0, 30 * 24 * 60, 7):  # every 7 minutes for 30 days
        add_presence(presence, minute * MINUTE_MS, DAY_MS)
    assert len(presence) <= 2 * 30 + 2
