"""Feature adoption: feature users, adoption ratio, the bounded feature label."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engine import adoption
from streams.engine.engine import Engine
from streams.engine.engine_config import EngineConfig
from streams.engine.timeline import add_presence, drop_through
from streams.engine.users import User
from tests.engine_events import DAY_MS, T0, feature, login, value

T = T0 + 40 * DAY_MS


def snapshot_of(*events, config: EngineConfig | None = None, as_of: int = T):
    engine = Engine(config)
    for event in events:
        engine.apply(event)
    return engine.snapshot(as_of)


def features_in(samples) -> dict[str, float]:
    return {dict(s.labels)["feature"]: s.value for s in samples if s.name == "pulse_feature_users"}


def test_feature_users_and_adoption_over_active_users():
    samples = snapshot_of(
        feature(T - 1, "search", user="a"),
        feature(T - 2, "search", user="a"),
        feature(T - 3, "export", user="b"),
        login(T - 4, user="c"),
        login(T - 5, user="d"),
    )
    assert features_in(samples) == {"search": 1, "export": 1}
    assert value(samples, "pulse_feature_adoption_ratio", feature="search", window="30d") == 0.25


def test_feature_window_edges():
    samples = snapshot_of(
        feature(T - 30 * DAY_MS, "old", user="a"), feature(T - 30 * DAY_MS + 1, "new", user="b")
    )
    assert features_in(samples) == {"new": 1}


def test_top_n_keeps_the_most_used_features_and_folds_the_rest_into_other():
    events = []
    for index, name in enumerate(["a", "b", "c", "d"]):
        events += [
            feature(T - 1, name, user=f"u{u}") for u in range(4 - index)
        ]  # a: 4 users ... d: 1 user
    events.append(feature(T - 1, "c", user="u0"))
    samples = snapshot_of(*events, config=EngineConfig(feature_cap=2))
    # c and d are used by u0 (both) and u1 (c): other = 2 distinct users.
    assert features_in(samples) == {"a": 4, "b": 3, "other": 2}
    assert value(samples, "pulse_feature_adoption_ratio", feature="other", window="30d") == 0.5


def test_top_n_ties_are_broken_by_name():
    events = [feature(T - 1, name, user="u") for name in ["zeta", "alpha", "mid"]]
    assert features_in(snapshot_of(*events, config=EngineConfig(feature_cap=2))) == {
        "alpha": 1,
        "mid": 1,
        "other": 1,
    }


def test_configured_features_are_always_exported_and_the_rest_is_other():
    config = EngineConfig(features=("search", "unused"))
    samples = snapshot_of(
        feature(T - 1, "search", user="a"),
        feature(T - 1, "x", user="a"),
        feature(T - 1, "y", user="b"),
        config=config,
    )
    assert features_in(samples) == {"search": 1, "unused": 0, "other": 2}


def test_no_other_series_below_the_cap():
    assert features_in(snapshot_of(feature(T - 1, "search"))) == {"search": 1}


def test_a_feature_named_other_folds_into_the_other_series():
    samples = snapshot_of(
        feature(T - 1, "other", user="a"),
        feature(T - 1, "search", user="a"),
        feature(T - 1, "other", user="b"),
    )
    assert features_in(samples) == {"search": 1, "other": 2}
    names = [(s.name, s.labels) for s in samples]
    assert len(names) == len(set(names))


# The layout: every feature's presence set in one array (adoption.record, prune).

_STEPS = st.lists(  # half-days after the previous use, now and then before it
    st.tuples(st.sampled_from(["search", "export", "share", "other"]), st.integers(-10, 40)),
    max_size=60,
)


def _uses(steps: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Mostly in time order (the path written in place), on a grid that hits the window's
    edges exactly."""
    uses, halves = [], 100
    for name, step in steps:
        halves = max(0, halves + step)
        uses.append((name, halves * DAY_MS // 2))
    return uses


@settings(max_examples=300, deadline=None)
@given(steps=_STEPS, prune_at=st.lists(st.integers(0, 60), max_size=3))
def test_one_array_holds_what_a_presence_set_per_feature_would(steps, prune_at):
    """Each feature's times are exactly those of its own presence set (timeline.add_presence
    and drop_through), in first-use order, whatever the arrival order and the prunes."""
    uses = _uses(steps)
    user = User()
    expected: dict[str, array] = {}
    config = EngineConfig()
    prunes = sorted(prune_at)
    for index, (name, time) in enumerate(uses):
        adoption.record(user, name, T0 + time)
        add_presence(expected.setdefault(name, array("q")), T0 + time, adoption.WINDOW_MS)
        if prunes and index == prunes[0]:
            prunes.pop(0)
            stream_time = T0 + max(time for _, time in uses[: index + 1])
            adoption.prune(user, stream_time, config)
            cutoff = stream_time - config.activity_lag_ms - adoption.WINDOW_MS
            for times in expected.values():
                drop_through(times, cutoff)
            expected = {name: times for name, times in expected.items() if times}
    assert [(name, list(times)) for name, times in adoption.features_of(user)] == [
        (name, list(times)) for name, times in expected.items()
    ]
    assert user.feature_names == tuple(expected)
    assert user.is_empty() == (not expected)
