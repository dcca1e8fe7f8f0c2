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

State per user: for each feature, a presence set of its use times (exact for 30 days).
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from streams.engine.engine_config import FEATURE_OTHER, EngineConfig
from streams.engine.samples import Sample, ratio_sample
from streams.engine.timeline import (
    DAY_MS,
    NEVER,
    add_presence,
    any_in,
    drop_through,
    new_times,
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
    times = user.features.get(feature)
    if times is None:  # one copy of each feature name for all users (about 57 bytes a user)
        times = user.features[sys.intern(feature)] = new_times()
    add_presence(times, time, WINDOW_MS)


def prune(user: User, stream_time: int, config: EngineConfig) -> None:
    cutoff = stream_time - config.activity_lag_ms - WINDOW_MS
    emptied = []
    for feature, times in user.features.items():
        drop_through(times, cutoff)
        if not times:
            emptied.append(feature)
    for feature in emptied:
        del user.features[feature]


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
    for feature, times in user.features.items():
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
    for times in user.features.values():
        change = min(change, presence_change(times, as_of, _WIDTHS))
    return change


_WIDTHS = (WINDOW_MS,)


def window_features(user: User, as_of: int) -> frozenset[str]:
    """The features the user used in the window."""
    low = as_of - WINDOW_MS
    return frozenset(
        feature for feature, times in user.features.items() if any_in(times, low, as_of)
    )


def users_outside(feature_sets: Mapping[frozenset[str], int], labelled: Collection[str]) -> int:
    """The `other` users: of the users counted per set of features used in the window
    (`Engine.window_feature_sets`), those who used a feature outside `labelled`."""
    kept = frozenset(labelled)
    return sum(users for used, users in feature_sets.items() if not used <= kept)


def used_any(user: User, low_exclusive: int, high_inclusive: int, among: Collection[str]) -> bool:
    """Did the user use, in (low, high], a feature of `among` (empty: any feature)?"""
    return any(
        (not among or feature in among) and any_in(times, low_exclusive, high_inclusive)
        for feature, times in user.features.items()
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
