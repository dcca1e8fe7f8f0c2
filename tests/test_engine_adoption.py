"""Feature adoption: feature users, adoption ratio, the bounded feature label."""

from __future__ import annotations

from streams.engine.engine import Engine
from streams.engine.engine_config import EngineConfig
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
