"""Lifecycle: signups and onboarding progress over 30 days.

Definitions (window (T - 30d, T]; counts of events after de-duplication by event id):
- `pulse_signups{window="30d"}`: `signup` events in the window.
- `pulse_onboarding_steps_completed{window="30d"}`: `onboarding_step_completed` events.
- `pulse_onboarding_completed{window="30d"}`: `onboarding_completed` events.
All additive. They are event counts, not cohort rates: a completion rate of a signup
cohort needs a cohort definition the seeds leave open (a PromQL ratio of these gauges is
the period approximation).

State per account: one sorted array of tagged times `tagged(time, kind)` (engine.timeline)
since the activity late horizon minus 30 days.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

from streams.engine.engine_config import EngineConfig
from streams.engine.samples import Sample
from streams.engine.timeline import (
    DAY_MS,
    TAGS,
    drop_through,
    insert_sorted,
    last_tagged,
    tag_of,
    tagged,
    window_change,
)

WINDOW_NAME = "30d"
WINDOW_MS = 30 * DAY_MS
KINDS: tuple[tuple[str, str], ...] = (
    ("signup", "pulse_signups"),
    ("onboarding_step_completed", "pulse_onboarding_steps_completed"),
    ("onboarding_completed", "pulse_onboarding_completed"),
)
KIND_OF_TYPE = {event_type: code for code, (event_type, _) in enumerate(KINDS)}
HELP: dict[str, str] = {
    "pulse_signups": "Signup events in the window (T - W, T].",
    "pulse_onboarding_steps_completed": "onboarding_step_completed events in the window (T - W, T].",
    "pulse_onboarding_completed": "onboarding_completed events in the window (T - W, T].",
}


def record(milestones: array[int], time: int, event_type: str) -> None:
    insert_sorted(milestones, tagged(time, KIND_OF_TYPE[event_type]))


def prune(milestones: array[int], stream_time: int, config: EngineConfig) -> None:
    cutoff = stream_time - config.activity_lag_ms - WINDOW_MS
    drop_through(milestones, last_tagged(cutoff))


@dataclass(slots=True)
class LifecycleTotals:
    counts: list[int] = field(default_factory=lambda: [0] * len(KINDS))


def tally(milestones: array[int], as_of: int, totals: LifecycleTotals) -> None:
    end = bisect_right(milestones, last_tagged(as_of))
    start = bisect_right(milestones, last_tagged(as_of - WINDOW_MS))
    counts = totals.counts
    for index in range(start, end):
        counts[tag_of(milestones[index])] += 1


def next_change(milestones: array[int], as_of: int) -> int:
    """The earliest time after T at which `tally` can count other milestones without a new
    event (timeline.NEVER: never)."""
    return window_change(milestones, as_of, WINDOW_MS, TAGS)


def samples(totals: LifecycleTotals) -> list[Sample]:
    window = (("window", WINDOW_NAME),)
    return [
        Sample(name, window, count) for (_, name), count in zip(KINDS, totals.counts, strict=True)
    ]
