"""Lifecycle: signups and onboarding over 30 days."""

from __future__ import annotations

from streams.engine.engine import Engine
from tests.engine_events import DAY_MS, T0, onboarded, signup, step, value

T = T0 + 40 * DAY_MS


def test_lifecycle_counts_with_window_edges():
    engine = Engine()
    for event in (
        signup(T - 30 * DAY_MS, user="edge"),
        signup(T, user="a"),
        signup(T - DAY_MS, user="b"),
        step(T - 2),
        step(T - 3, name="connect"),
        onboarded(T - 1),
        onboarded(T + 1, user="later"),
    ):
        engine.apply(event)
    samples = engine.snapshot(T)
    assert value(samples, "pulse_signups", window="30d") == 2
    assert value(samples, "pulse_onboarding_steps_completed", window="30d") == 2
    assert value(samples, "pulse_onboarding_completed", window="30d") == 1
