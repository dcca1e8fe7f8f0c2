"""Journey: the long-lived facts of one account that its record and onboarding cohorts need.

Definitions (each is a first time, so the state and every answer are the same whatever
the arrival order; "at T" reads only the times at or before T):
- signup: the earliest `signup` event of the account (any of its users): the start of
  its onboarding and of the cohort it belongs to.
- started: the earliest `signup` or `subscription_started`: the start of the tenure.
- steps: per onboarding step name, its earliest `onboarding_step_completed` (a step
  counts once, at its first completion); the last step at T is the latest of these.
- completed: the earliest `onboarding_completed`.
- first_use: per feature, its earliest `feature_used` (activation by a core feature).
- first_active: the earliest `login` or `feature_used` (the account has been in the
  product; a start of tenure when it has no signup or subscription).
- first_counted: the earliest event that made a user active by the configured rule
  (`[engine] activity_types` and `core_features`, as for the active users): the account
  has had activity, so a record without any kept activity says "30 or more days since"
  rather than "never".
- first_seen: the earliest event of any type: before it the account does not exist (a
  trend never compares with a time before the account's first event).

These are a handful of numbers per account and are never pruned: a cohort looks back
further than the activity late horizon.
"""

from __future__ import annotations

import sys

from streams.engine.timeline import NO_TIME


def _earliest(current: int, time: int) -> int:
    return time if current == NO_TIME or time < current else current


def _record_first(first: dict[str, int], name: str, time: int) -> None:
    """Keep `time` as the first time of `name` (a feature or a step) if it is earlier; this
    runs for every feature_used event. A new name is interned: one copy of each feature
    and step name for all accounts, not one per account."""
    known = first.get(name)
    if known is None:
        first[sys.intern(name)] = time
    elif time < known:
        first[name] = time


class Journey:
    __slots__ = (
        "completed",
        "first_active",
        "first_counted",
        "first_seen",
        "first_use",
        "signup",
        "started",
        "steps",
    )

    def __init__(self) -> None:
        self.signup = NO_TIME
        self.started = NO_TIME
        self.completed = NO_TIME
        self.first_active = NO_TIME
        self.first_counted = NO_TIME
        self.first_seen = NO_TIME
        self.steps: dict[str, int] = {}
        self.first_use: dict[str, int] = {}

    def record_event(self, time: int) -> None:
        self.first_seen = _earliest(self.first_seen, time)

    def exists_at(self, as_of: int) -> bool:
        return self.first_seen != NO_TIME and self.first_seen <= as_of

    def record_signup(self, time: int) -> None:
        self.signup = _earliest(self.signup, time)
        self.started = _earliest(self.started, time)

    def record_subscription_start(self, time: int) -> None:
        self.started = _earliest(self.started, time)

    def record_step(self, step: str, time: int) -> None:
        _record_first(self.steps, step, time)

    def record_completed(self, time: int) -> None:
        self.completed = _earliest(self.completed, time)

    def record_activity(self, time: int, feature: str | None, counted: bool) -> None:
        """A login (`feature` None) or a feature_used; `counted`: it made its user active."""
        self.first_active = _earliest(self.first_active, time)
        if counted:
            self.first_counted = _earliest(self.first_counted, time)
        if feature is not None:
            _record_first(self.first_use, feature, time)

    # ------------------------------------------------------------------ answers at T

    @staticmethod
    def at(time: int, as_of: int) -> int | None:
        """`time` if it is known at `as_of`, else None."""
        return time if time != NO_TIME and time <= as_of else None

    def steps_done(self, as_of: int, steps: tuple[str, ...]) -> tuple[int, int | None]:
        """(how many of `steps` (every step seen when empty) were completed by T, the latest
        of their first completions at or before T)."""
        names = steps or tuple(self.steps)
        done = [
            self.steps[name] for name in names if name in self.steps and self.steps[name] <= as_of
        ]
        return len(done), (max(done) if done else None)

    def first_use_of(self, features: tuple[str, ...], as_of: int) -> int | None:
        times = [
            self.first_use[f]
            for f in features
            if f in self.first_use and self.first_use[f] <= as_of
        ]
        return min(times) if times else None

    def is_empty(self) -> bool:
        return self.first_seen == NO_TIME
