"""Activity: active users, stickiness and login count.

Definitions (windows are (T - W, T], T = the evaluation time):
- Active user over W: a user, i.e. the pair (account_id, user_id), with at least one
  `login` or `feature_used` event in the window. `logout` is not activity.
  Exported as `pulse_active_users{window="1d"|"7d"|"30d"}` (additive).
- Stickiness: 1d active users / 30d active users, 0 when no user is active over 30 days
  (`pulse_stickiness_ratio`, within 0..1: every 1d-active user is 30d-active).
- Login count over W: the number of `login` events in the window (after de-duplication
  by event id), `pulse_logins{window="1d"|"7d"}` (additive).
Events without a user_id feed none of these.

State per user: a presence set of activity times (exact for every window >= 1 day, at
most about two times per day) and the sorted login times. Both keep what a snapshot up to
the late horizon behind the account's stream time can need, and no more.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from streams.engine.config import EngineConfig
from streams.engine.samples import Sample, ratio_sample
from streams.engine.timeline import (
    DAY_MS,
    NO_TIME,
    add_presence,
    drop_through,
    insert_sorted,
    presence_change,
    window_change,
)
from streams.engine.users import User

ACTIVE_WINDOWS: tuple[tuple[str, int], ...] = (("1d", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS))
LOGIN_WINDOWS: tuple[tuple[str, int], ...] = (("1d", DAY_MS), ("7d", 7 * DAY_MS))
LONGEST_ACTIVE_WINDOW = 30 * DAY_MS
LONGEST_LOGIN_WINDOW = 7 * DAY_MS
HELP: dict[str, str] = {
    "pulse_active_users": "Users (account_id, user_id) with at least one login or feature_used event in the window (T - W, T].",
    "pulse_stickiness_ratio": "Users active over 1 day divided by users active over 30 days (0 when none are active).",
    "pulse_logins": "Login events in the window (T - W, T].",
}


def record_activity(user: User, time: int) -> None:
    """A login or feature_used at `time`."""
    add_presence(user.seen, time, DAY_MS)


def record_login(user: User, time: int) -> None:
    insert_sorted(user.logins, time)


def prune(user: User, stream_time: int, config: EngineConfig) -> None:
    """Forget what no snapshot at or after stream_time - activity lag can need."""
    horizon = stream_time - config.activity_lag_ms
    drop_through(user.seen, horizon - LONGEST_ACTIVE_WINDOW)
    drop_through(user.logins, horizon - LONGEST_LOGIN_WINDOW)


@dataclass(slots=True)
class ActivityTotals:
    active: list[int] = field(default_factory=lambda: [0] * len(ACTIVE_WINDOWS))
    logins: list[int] = field(default_factory=lambda: [0] * len(LOGIN_WINDOWS))


def tally(user: User, as_of: int, totals: ActivityTotals) -> None:
    seen = user.seen
    if seen:
        # The latest activity at or before T decides every (nested) window at once.
        index = len(seen) if seen[-1] <= as_of else bisect_right(seen, as_of)
        if index:
            latest = seen[index - 1]
            active = totals.active
            for position, (_, width) in enumerate(ACTIVE_WINDOWS):
                if latest > as_of - width:
                    active[position] += 1
    logins = user.logins
    if logins:
        end = len(logins) if logins[-1] <= as_of else bisect_right(logins, as_of)
        for position, (_, width) in enumerate(LOGIN_WINDOWS):
            totals.logins[position] += end - bisect_right(logins, as_of - width, 0, end)


_ACTIVE_WIDTHS = tuple(width for _, width in ACTIVE_WINDOWS)


def next_change(user: User, as_of: int) -> int:
    """The earliest time after T at which `tally` of this user can give other figures
    without a new event: the latest activity leaves a window, a login leaves one, or a
    kept time after T comes into view (timeline.NEVER: none)."""
    change = presence_change(user.seen, as_of, _ACTIVE_WIDTHS)
    for _, width in LOGIN_WINDOWS:
        change = min(change, window_change(user.logins, as_of, width))
    return change


def latest_at(user: User, as_of: int) -> int:
    """The latest kept activity time at or before T (NO_TIME: none). It may lie up to a day
    before the true latest when T is earlier than the user's latest activity, but whole
    days since it are exact: the presence set answers every window of >= 1 day."""
    seen = user.seen
    index = bisect_right(seen, as_of)
    return seen[index - 1] if index else NO_TIME


def samples(totals: ActivityTotals) -> list[Sample]:
    out = [
        Sample("pulse_active_users", (("window", name),), count)
        for (name, _), count in zip(ACTIVE_WINDOWS, totals.active, strict=True)
    ]
    out.append(ratio_sample("pulse_stickiness_ratio", (), totals.active[0], totals.active[2]))
    out.extend(
        Sample("pulse_logins", (("window", name),), count)
        for (name, _), count in zip(LOGIN_WINDOWS, totals.logins, strict=True)
    )
    return out
