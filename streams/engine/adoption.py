"""Feature adoption: users of each feature over 30 days, and their share of active users.

Definitions (window (T - 30d, T]):
- Feature users: users (account_id, user_id) with at least one `feature_used` event of
  that feature in the window, `pulse_feature_users{feature, window="30d"}` (additive over
  accounts; a user counts once per feature, so the sum over features is not a user count).
- Feature adoption: feature users / 30d active users (`pulse_active_users{window="30d"}`),
  0 when nobody is active; `pulse_feature_adoption_ratio{feature, window="30d"}`, within
  0..1 since every feature user is active. This is the seed's "monthly feature users /
  active users" with the denominator fixed to distinct active users (not logins).

The `feature` label is bounded. With `[engine] features` set, exactly those names get
their own series (0 when unused) and every other feature is folded into
`feature="other"`: the users of at least one unlisted feature. Without it, the
`feature_cap` (default 50) features with the most users in the window keep their name
(ties broken by name) and the rest fold into `other` (only exported when non-empty). Both
rules depend only on the state at T, never on arrival order. Setting the list is the
stable choice when several workers export the same metric. A product feature that is
itself named "other" always folds into the `other` series.

State per user: for each feature, a presence set of its use times (exact for 30 days),
all of them in one array (`User.feature_times`): each feature's times preceded by their
count, in the order of `User.feature_names`, the features in first-use order. A user uses
a few features and keeps about two times for each (one array per feature in a dict cost
about 670 bytes per user, for about 60 bytes of times). Only this module reads the layout;
`features_of` gives each feature's times to the other families.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from streams.engine.engine_config import FEATURE_OTHER, EngineConfig
from streams.engine.samples import Sample, ratio_sample
from streams.engine.timeline import (
    DAY_MS,
    NEVER,
    add_presence,
    any_in,
    presence_change,
)
from streams.engine.users import User

WINDOW_NAME = "30d"
WINDOW_MS = 30 * DAY_MS
HELP: dict[str, str] = {
    "pulse_feature_users": "Users with at least one feature_used event of the feature in the window (capped feature label).",
    "pulse_feature_adoption_ratio": "Feature users divided by users active in the same window (0 when none are active).",
}


def record(user: User, feature: str, time: int) -> None:
    times = user.feature_times
    start = 0
    for name in user.feature_names:
        if name == feature:
            break
        start += times[start] + 1
    else:  # a new feature: one copy of its name for all users (about 57 bytes a user)
        user.feature_names = (*user.feature_names, sys.intern(feature))
        times.append(1)
        times.append(time)
        return
    end = start + 1 + times[start]
    times[start] = add_presence(times, time, WINDOW_MS, start + 1, end) - start - 1


def features_of(user: User) -> Iterator[tuple[str, array[int]]]:
    """(feature, its presence set: a copy) of each feature the user keeps, in first-use order."""
    times = user.feature_times
    start = 0
    for name in user.feature_names:
        end = start + 1 + times[start]
        yield name, times[start + 1 : end]
        start = end


def set_features(user: User, features: Iterable[tuple[str, Iterable[int]]]) -> None:
    """Replace the user's features by these (feature, sorted presence set), in this order;
    features without times are left out."""
    names: list[str] = []
    times: array[int] = array("q")
    for name, kept in features:
        section = array("q", kept)
        if section:
            names.append(sys.intern(name))
            times.append(len(section))
            times.extend(section)
    user.feature_names = tuple(names)
    user.feature_times = times


def prune(user: User, stream_time: int, config: EngineConfig) -> None:
    cutoff = stream_time - config.activity_lag_ms - WINDOW_MS
    times = user.feature_times
    start = 0
    for _ in user.feature_names:  # is any feature's earliest time at or before the cutoff?
        if times[start + 1] <= cutoff:
            break
        start += times[start] + 1
    else:
        return
    set_features(
        user, ((name, kept[bisect_right(kept, cutoff) :]) for name, kept in features_of(user))
    )


@dataclass(slots=True)
class AdoptionTotals:
    users_by_feature: dict[str, int] = field(default_factory=dict)
    other_users: int = 0


def tally(user: User, as_of: int, totals: AdoptionTotals, labelled: Collection[str] | None) -> None:
    """Count the user once per feature used in the window; with `labelled` given, also
    count them once in `other` if they used a feature outside it."""
    low = as_of - WINDOW_MS
    users_by_feature = totals.users_by_feature
    uses_other = False
    for feature, times in features_of(user):
        if any_in(times, low, as_of):
            users_by_feature[feature] = users_by_feature.get(feature, 0) + 1
            if labelled is not None and feature not in labelled:
                uses_other = True
    if uses_other:
        totals.other_users += 1


def next_change(user: User, as_of: int) -> int:
    """The earliest time after T at which `tally` of this user can count other features
    without a new event (a feature's latest use leaves the window, or a kept later use
    comes into view); timeline.NEVER when none can."""
    change = NEVER
    for _, times in features_of(user):
        change = min(change, presence_change(times, as_of, _WIDTHS))
    return change


_WIDTHS = (WINDOW_MS,)


def window_features(user: User, as_of: int) -> frozenset[str]:
    """The features the user used in the window."""
    low = as_of - WINDOW_MS
    return frozenset(feature for feature, times in features_of(user) if any_in(times, low, as_of))


def users_outside(feature_sets: Mapping[frozenset[str], int], labelled: Collection[str]) -> int:
    """The `other` users: of the users counted per set of features used in the window
    (`Engine.window_feature_sets`), those who used a feature outside `labelled`."""
    kept = frozenset(labelled)
    return sum(users for used, users in feature_sets.items() if not used <= kept)


def used_any(user: User, low_exclusive: int, high_inclusive: int, among: Collection[str]) -> bool:
    """Did the user use, in (low, high], a feature of `among` (empty: any feature)?"""
    return any(
        (not among or feature in among) and any_in(times, low_exclusive, high_inclusive)
        for feature, times in features_of(user)
    )


def labelled_features(totals: AdoptionTotals, config: EngineConfig) -> tuple[str, ...]:
    """The features that keep their own label (the configured list, else the top by users)."""
    if config.features:
        return config.features
    ranked = sorted(
        (item for item in totals.users_by_feature.items() if item[0] != FEATURE_OTHER),
        key=lambda item: (-item[1], item[0]),
    )
    return tuple(feature for feature, _ in ranked[: config.feature_cap])


def samples(
    totals: AdoptionTotals,
    labelled: tuple[str, ...],
    other_users: int,
    emit_other: bool,
    active_30d: int,
) -> list[Sample]:
    rows = [(feature, totals.users_by_feature.get(feature, 0)) for feature in sorted(labelled)]
    if emit_other:
        rows.append((FEATURE_OTHER, other_users))
    out: list[Sample] = []
    for feature, users in rows:
        labels = (("feature", feature), ("window", WINDOW_NAME))
        out.append(Sample("pulse_feature_users", labels, users))
    for feature, users in rows:
        labels = (("feature", feature), ("window", WINDOW_NAME))
        out.append(ratio_sample("pulse_feature_adoption_ratio", labels, users, active_30d))
    return out
