"""Sessions: gap, logout, closed vs open at T, window, arrival order, pruning."""

from __future__ import annotations

import itertools
import random

import pytest

from streams.engine.engine import Engine
from streams.engine.engine_config import EngineConfig
from streams.engine.sessions import SessionTotals, tagged_trails, tally, tally_and_next_change
from streams.engine.state_codec import account_from_bytes, account_to_bytes
from streams.engine.timeline import NEVER
from tests.engine_events import (
    DAY_MS,
    MINUTE_MS,
    T0,
    device_events,
    feature,
    login,
    logout,
    subscribed,
    value,
)

GAP = 30 * MINUTE_MS
T = T0 + 10 * DAY_MS


def sessions_at(events, as_of: int = T, config: EngineConfig | None = None) -> tuple[float, float]:
    engine = Engine(config)
    for event in events:
        engine.apply(event)
    samples = engine.snapshot(as_of)
    return value(samples, "pulse_sessions", window="7d"), value(
        samples, "pulse_session_duration_sum_seconds", window="7d"
    )


def test_gap_of_exactly_30_minutes_joins():
    start = T - DAY_MS
    assert sessions_at([login(start), feature(start + GAP)]) == (1, 1800)


def test_gap_of_30_minutes_and_1_ms_splits():
    start = T - DAY_MS
    assert sessions_at([login(start), feature(start + GAP + 1)]) == (2, 0)


def test_logout_ends_the_session_and_same_millisecond_activity_belongs_to_it():
    start = T - DAY_MS
    events = [
        login(start),
        feature(start + 10 * MINUTE_MS),
        logout(start + 10 * MINUTE_MS),
        feature(start + 11 * MINUTE_MS),
    ]
    # session 1: 10 minutes ended by the logout; session 2: the lone feature use, 0 s.
    assert sessions_at(events) == (2, 600)


def test_lone_logout_is_a_session_of_duration_zero():
    assert sessions_at([logout(T - DAY_MS)]) == (1, 0)


def test_open_session_at_t_is_not_counted_until_the_gap_has_passed():
    last = T - GAP  # exactly 30 minutes before T: still open
    assert sessions_at([login(last - 5 * MINUTE_MS), feature(last)]) == (0, 0)
    assert sessions_at([login(last - 5 * MINUTE_MS), feature(last - 1)]) == (1, 300 - 0.001)
    assert sessions_at([login(T - MINUTE_MS), logout(T)]) == (1, 60)


def test_later_events_do_not_keep_a_session_open_in_the_past():
    events = [login(T - 2 * GAP), feature(T - GAP - 1), feature(T + 1)]
    assert sessions_at(events, as_of=T) == (1, (GAP - 1) / 1000)


def test_window_counts_sessions_by_their_end_with_their_full_duration():
    week_start = T - 7 * DAY_MS
    ended_on_edge = [login(week_start - GAP, user="x"), feature(week_start, user="x")]
    ended_inside = [login(week_start - GAP + 1, user="y"), feature(week_start + 1, user="y")]
    assert sessions_at(ended_on_edge) == (0, 0)
    assert sessions_at(ended_inside) == (1, GAP / 1000)  # started before the window: full duration


def test_late_event_merges_two_sessions():
    start = T - DAY_MS
    first, second, bridge = (
        login(start),
        feature(start + 50 * MINUTE_MS),
        feature(start + 25 * MINUTE_MS),
    )
    assert sessions_at([first, second]) == (2, 0)
    assert sessions_at([first, second, bridge]) == (1, 3000)


def test_late_logout_splits_a_session():
    start = T - DAY_MS
    events = [login(start), feature(start + 20 * MINUTE_MS), feature(start + 40 * MINUTE_MS)]
    assert sessions_at(events) == (1, 2400)
    assert sessions_at([*events, logout(start + 20 * MINUTE_MS)]) == (2, 1200)


def test_result_does_not_depend_on_arrival_order():
    start = T - DAY_MS
    events = [
        login(start),
        feature(start + 20 * MINUTE_MS),
        logout(start + 35 * MINUTE_MS),
        login(start + 36 * MINUTE_MS),
        feature(start + 80 * MINUTE_MS),
        feature(start + 95 * MINUTE_MS),
    ]
    results = {sessions_at(list(order)) for order in itertools.permutations(events)}
    assert results == {(3, 35 * 60 + 15 * 60)}


def test_configured_gap_is_used():
    start = T - DAY_MS
    config = EngineConfig(session_gap_ms=10 * MINUTE_MS)
    assert sessions_at([login(start), feature(start + 15 * MINUTE_MS)], config=config) == (2, 0)


def test_pruning_keeps_the_start_of_a_long_session_still_in_view():
    engine = Engine()
    start = T0
    long_session = [
        feature(start + i * 20 * MINUTE_MS) for i in range(10 * 24 * 3)
    ]  # 10 days, 20-minute gaps
    for event in long_session:
        engine.apply(event)
    last = long_session[-1].occurred_at
    engine.apply(login(start + 50 * DAY_MS, user="other"))  # account stream time moves on
    as_of = start + 15 * DAY_MS  # = stream time - 35 days, the oldest exact evaluation time
    before = engine.snapshot(as_of)
    engine.prune()
    user = engine.store.get("a1").users["u1"]
    assert user.trail[0] >> 1 > start  # the head of the session was dropped ...
    after = engine.snapshot(as_of)
    assert (
        value(after, "pulse_session_duration_sum_seconds", window="7d") == (last - start) / 1000
    )  # ... not its start
    assert after == before


def test_the_engine_applies_what_admission_admits_and_judges_no_lateness_itself():
    """Admission alone judges lateness, per (account, topic): a login 35 days + 1 ms
    behind the account's latest billing event is on time on its own topic, so the engine
    applies it (it used to drop it by an account-wide clock of its own)."""
    engine = Engine()
    engine.apply(subscribed(T0 + 40 * DAY_MS, "99"))
    engine.apply(login(T0 + 5 * DAY_MS - 1, user="behind_billing"))
    engine.apply(login(T0 + 5 * DAY_MS, user="just_in_time"))
    engine.prune()  # billing running ahead does not age the users out either
    assert set(engine.store.get("a1").users) == {"behind_billing", "just_in_time"}
    assert value(engine.snapshot(T0 + 5 * DAY_MS), "pulse_active_users", window="1d") == 2


# --- sessions per session_id, zero-length sessions -----------------------------------


def zero_length_at(events, as_of: int = T) -> float:
    engine = Engine()
    for event in events:
        engine.apply(event)
    return value(engine.snapshot(as_of), "pulse_sessions_zero_length", window="7d")


def two_devices(start: int) -> list:
    """Laptop (session "lap") 09:00-09:40 with a logout; phone (session "ph") 09:10-09:25,
    logged out first. Feature uses carry no id: each belongs to the device whose login
    is the latest one still open."""
    return [
        login(start, session="lap"),
        feature(start + 5 * MINUTE_MS),  # laptop
        login(start + 10 * MINUTE_MS, session="ph"),
        feature(start + 20 * MINUTE_MS),  # phone: its login is the latest open one
        logout(start + 25 * MINUTE_MS, session="ph"),  # ends the phone session only
        feature(start + 30 * MINUTE_MS),  # laptop again
        logout(start + 40 * MINUTE_MS, session="lap"),
    ]


def test_two_devices_keep_their_own_sessions_and_a_logout_ends_only_its_own():
    start = T - DAY_MS
    # laptop: 40 minutes; phone: 15 minutes. Before session ids counted: 25 min + a lone
    # feature use + a lone logout, i.e. (3, 25 * 60 + 0 + 600)
    assert sessions_at(two_devices(start)) == (2, 40 * 60 + 15 * 60)
    assert zero_length_at(two_devices(start)) == 0


def test_two_devices_result_does_not_depend_on_arrival_order():
    start = T - DAY_MS
    events = two_devices(start)
    rng_orders = [
        events[::-1],
        events[3:] + events[:3],
        sorted(events, key=lambda e: e.event_id[::-1]),
    ]
    assert {sessions_at(order) for order in rng_orders} == {(2, 55 * 60)}


def test_an_untagged_logout_ends_the_latest_open_tagged_session():
    start = T - DAY_MS
    events = [
        login(start, session="a"),
        login(start + MINUTE_MS, session="b"),
        logout(start + 3 * MINUTE_MS),
        feature(start + 4 * MINUTE_MS),
        logout(start + 6 * MINUTE_MS),
    ]
    # b: 1..3 min (ended by the untagged logout); a: 0..6 min (the feature use joins a)
    assert sessions_at(events) == (2, 2 * 60 + 6 * 60)


@pytest.mark.parametrize(("low", "high"), [("z", "é"), ("\uffff", "\U0001f600"), ("a", "ab")])
def test_tagged_logins_at_one_millisecond_follow_their_session_ids_code_points(
    low: str, high: str
) -> None:
    """Ties between tagged logins go by session_id (the header): the one with the greater
    id is the latest, so an untagged event joins it, whatever the ids' UTF-8 lengths and
    whatever order the events arrive in (the ids are kept as UTF-8 bytes)."""
    assert low < high
    start = T - DAY_MS
    events = [
        login(start, session=high),
        login(start, session=low),
        feature(start + 10 * MINUTE_MS),
        logout(start + 20 * MINUTE_MS, session=low),
    ]
    # high: 0..10 min (the feature), closed by inactivity; low: 0..20 min, by its logout.
    # Had the feature joined low, high would be a session of 0 seconds: (2, 20 * 60).
    for order in (events, events[::-1], events[2:] + events[:2]):
        assert sessions_at(order) == (2, 10 * 60 + 20 * 60)


def test_a_new_session_id_starts_a_new_session_within_the_gap():
    start = T - DAY_MS
    events = [
        login(start, session="a"),
        feature(start + 5 * MINUTE_MS),
        login(start + 10 * MINUTE_MS, session="b"),
        feature(start + 15 * MINUTE_MS),
    ]
    assert sessions_at(events) == (2, 5 * 60 + 5 * 60)
    untagged = [
        login(start),
        feature(start + 5 * MINUTE_MS),
        login(start + 10 * MINUTE_MS),
        feature(start + 15 * MINUTE_MS),
    ]
    assert sessions_at(untagged) == (1, 15 * 60)  # the inactivity rule alone


def test_the_gap_still_splits_a_session_with_an_id():
    start = T - DAY_MS
    later = start + 5 * MINUTE_MS + GAP + 1
    events = [
        login(start, session="a"),
        feature(start + 5 * MINUTE_MS),
        feature(later),
        logout(later + MINUTE_MS, session="a"),
    ]
    # run 1: session a, 5 minutes. Run 2 (after the gap) has no open login: the feature use
    # is an untagged session of its own and the logout of "a" a lone one, both 0 s.
    assert sessions_at(events) == (3, 5 * 60)
    assert zero_length_at(events) == 2


def test_zero_length_sessions_are_counted_apart():
    start = T - DAY_MS
    events = [
        login(start),
        feature(start + 10 * MINUTE_MS),  # 10 minutes
        login(start + 2 * GAP),  # a lone login: 0 s
        logout(start + 4 * GAP, session="x"),
    ]  # a lone logout: 0 s
    assert sessions_at(events) == (3, 600)
    assert zero_length_at(events) == 2


def test_pruning_a_user_with_session_ids_keeps_every_answer_in_view():
    engine = Engine()
    events = []
    for day in range(12):
        base = T0 + day * DAY_MS
        events += [
            login(base, session=f"l{day}"),
            feature(base + 5 * MINUTE_MS),
            login(base + 6 * MINUTE_MS, session=f"p{day}"),
            feature(base + 7 * MINUTE_MS),
            logout(base + 9 * MINUTE_MS, session=f"p{day}"),
            logout(base + 12 * MINUTE_MS),
        ]
    for event in events:
        engine.apply(event)
    engine.apply(login(T0 + 50 * DAY_MS, user="other"))
    as_of = T0 + 15 * DAY_MS
    before = engine.snapshot(as_of)
    engine.prune()
    user = engine.store.get("a1").users["u1"]
    assert len(tagged_trails(user)) < 24  # whole runs before the cutoff were dropped
    assert engine.snapshot(as_of) == before
    state = engine.store.get("a1")
    restored = account_from_bytes(account_to_bytes(state))
    assert restored.users["u1"].tagged == user.tagged
    assert restored.users["u1"].tagged_ids == user.tagged_ids


# --- the kept session view (history's incremental snapshot) ----------------------------


def _figures(user, as_of: int, gap: int = GAP) -> tuple[int, int, int]:
    totals = SessionTotals()
    tally(user, as_of, gap, totals)
    return totals.closed, totals.duration_ms, totals.zero_length


def test_the_kept_view_answers_as_the_tally_and_its_change_is_never_late() -> None:
    """Events of users on several devices applied one by one (some late, so the view is
    dropped and walked again; pruning in between trims it): at times from the latest
    entry on, `tally_and_next_change` gives `tally`'s figures, they hold until the change
    it returns, and they differ there: exact, where the bound of `next_change` for tagged
    entries is often early (about half of these changes)."""
    rng = random.Random(5)
    events = [e for e in device_events(5, days=16) if e.account_id == "dev0"]
    late = [e for e in events if rng.random() < 0.1]
    engine = Engine()
    checked = exact = checked_changes = 0
    for index, event in enumerate(e for e in events if e not in late):
        engine.apply(event)
        if index % 7 == 0 and late:
            engine.apply(late.pop(0))  # an entry before the view's latest: walked again
        if index % 40 == 0:
            engine.prune()
        state = engine.store.get("dev0")
        for user in state.users.values():
            latest = max(
                [entry >> 1 for entry in user.trail] + [entry >> 1 for entry in user.tagged]
            )
            for as_of in (
                latest,
                latest + GAP,
                latest + GAP + 1,
                latest + rng.randrange(8 * DAY_MS),
            ):
                totals = SessionTotals()
                change = tally_and_next_change(user, as_of, GAP, totals)
                figures = (totals.closed, totals.duration_ms, totals.zero_length)
                assert figures == _figures(user, as_of), as_of
                assert change > as_of
                if change < NEVER:
                    assert _figures(user, change - 1) == figures, (as_of, change)
                    exact += _figures(user, change) != figures
                    checked_changes += 1
                checked += 1
    assert user.sessions_view is not None and checked > 500
    assert exact == checked_changes, (exact, checked_changes)
