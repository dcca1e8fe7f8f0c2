"""Activity: active users, stickiness (rolling and averaged), login count, logged in but idle.

Who is active follows `[engine] activity_types` (default `login` and `feature_used`) and
`core_features` (default: every feature): an *activity event* is an event of one of those
types, and for `feature_used` one of a core feature. `logout` is never activity.

Definitions (windows are (T - W, T], T = the evaluation time):
- Active user over W: a user, i.e. the pair (account_id, user_id), with at least one
  activity event in the window, `pulse_active_users{window="1d"|"7d"|"30d"}` (additive).
- Stickiness: 1d active users / 30d active users, 0 when no user is active over 30 days
  (`pulse_stickiness_ratio`, within 0..1: every 1d-active user is 30d-active).
- Averaged stickiness, by calendar day in `[engine] time_zone` (default UTC): the 30
  complete local days before the day that contains T (the current, partial day is not one
  of them; a 23- or 25-hour DST day is one day). A user is active on a day with at least
  one activity event in [day start, next day start).
  `pulse_daily_active_users_sum_users{window="30d"}`: the sum over the 30 days of that day's active
  users (additive). `pulse_calendar_active_users{window="30d"}`: users active on at least
  one of the 30 days (additive). `pulse_average_stickiness_ratio{window="30d"}`:
  (user-days / 30) / calendar active users, the average DAU over the 30 days divided by
  the MAU of the same days, 0 when nobody was active (within 0..1).
- Login count over W: the number of `login` events in the window (after de-duplication
  by event id), `pulse_logins{window="1d"|"7d"}` (additive), whatever `activity_types` says.
- Logged in but idle: users with at least one `login` in (T - 30d, T] and no
  `feature_used` of a core feature in it, `pulse_login_only_users{window="30d"}`
  (additive; seed 000's E02 "logs in but does not do the active tasks").
Events without a user_id feed none of these.

State per user: a presence set of activity times (`seen`, thinned for 20 hours, so exact
for every rolling window >= 1 day and every local day of 20 hours or more), the sorted
login times (`logins`), and a presence set of login times exact for 30 days
(`login_seen`). All keep what a snapshot up to the late horizon behind the account's
stream time can need, and no more. The three are sections of one array,
`User.activity_times` = [len(seen), len(logins), *seen, *logins, *login_seen] (three
arrays cost 542 bytes per user on the 20,000-user benchmark file, one costs 354); only
this module reads the layout.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.engine import adoption
from streams.engine.engine_config import EngineConfig
from streams.engine.local_days import complete_days_before, days_after, next_day_start
from streams.engine.samples import Sample, ratio_sample
from streams.engine.timeline import (
    DAY_MS,
    HOUR_MS,
    NEVER,
    NO_TIME,
    add_presence,
    any_in,
    drop_through,
    insert_sorted,
    presence_change,
    window_change,
)
from streams.engine.users import User

ACTIVE_WINDOWS: tuple[tuple[str, int], ...] = (
    ("1d", DAY_MS),
    ("7d", 7 * DAY_MS),
    ("30d", 30 * DAY_MS),
)
ACTIVE_1D, ACTIVE_7D, ACTIVE_30D = range(len(ACTIVE_WINDOWS))  # positions in `active` totals
LOGIN_WINDOWS: tuple[tuple[str, int], ...] = (("1d", DAY_MS), ("7d", 7 * DAY_MS))
LOGINS_1D, LOGINS_7D = range(len(LOGIN_WINDOWS))  # positions in `logins` totals
LONGEST_ACTIVE_WINDOW = 30 * DAY_MS
LONGEST_LOGIN_WINDOW = 7 * DAY_MS
PRESENCE_MS = 20 * HOUR_MS
"""`seen` is thinned for this width: exact for any window or local day at least this long
(every real time zone's shortest day today is 22 or 23 hours)."""
CALENDAR_DAYS = 30
CALENDAR_WINDOW = "30d"
CALENDAR_LOOKBACK_MS = 32 * DAY_MS
"""How far before T the first of the 30 complete local days may start (31 days, plus DST
hours and any change of UTC offset), with room to spare."""
IDLE_WINDOW = "30d"
IDLE_WINDOW_MS = 30 * DAY_MS
HELP: dict[str, str] = {
    "pulse_active_users": "Users (account_id, user_id) with at least one activity event "
    "(default: login or feature_used) in the window (T - W, T].",
    "pulse_stickiness_ratio": "Users active over 1 day divided by users active over 30 days (0 when none are active).",
    "pulse_daily_active_users_sum_users": "Sum over the 30 complete local calendar days "
    "before T's day of the users active that day.",
    "pulse_calendar_active_users": "Users active on at least one of the 30 complete local "
    "calendar days before T's day.",
    "pulse_average_stickiness_ratio": "Average daily active users over the 30 complete local "
    "calendar days before T's day, divided by the users active on any of them (0 when none).",
    "pulse_logins": "Login events in the window (T - W, T].",
    "pulse_login_only_users": "Users with a login and no use of a core feature in the window "
    "(T - W, T].",
}


_SEEN, _LOGINS = 0, 1  # where `activity_times` holds the lengths of those sections
_HEAD = 2  # where `seen` begins


def seen_of(user: User) -> array[int]:
    """The presence set of activity times (a copy)."""
    times = user.activity_times
    return times[_HEAD : _HEAD + times[_SEEN]]


def logins_of(user: User) -> array[int]:
    """The sorted login times (a copy)."""
    times = user.activity_times
    start = _HEAD + times[_SEEN]
    return times[start : start + times[_LOGINS]]


def login_seen_of(user: User) -> array[int]:
    """The presence set of login times (a copy)."""
    times = user.activity_times
    return times[_HEAD + times[_SEEN] + times[_LOGINS] :]


def set_activity(user: User, seen: list[int], logins: list[int], login_seen: list[int]) -> None:
    """Replace the user's three sets by these (each sorted, as `*_of` gives them)."""
    user.activity_times = array("q", (len(seen), len(logins), *seen, *logins, *login_seen))


def record_activity(user: User, time: int) -> None:
    """An activity event at `time` (see `EngineConfig.counts_as_activity`)."""
    times = user.activity_times
    end = add_presence(times, time, PRESENCE_MS, _HEAD, _HEAD + times[_SEEN])
    times[_SEEN] = end - _HEAD


def record_login(user: User, time: int) -> None:
    times = user.activity_times
    start = _HEAD + times[_SEEN]
    end = start + times[_LOGINS]
    insert_sorted(times, time, start, end)
    times[_LOGINS] += 1
    add_presence(times, time, IDLE_WINDOW_MS, end + 1)


def prune(user: User, stream_time: int, config: EngineConfig) -> None:
    """Forget what no snapshot at or after stream_time - activity lag can need."""
    horizon = stream_time - config.activity_lag_ms
    times = user.activity_times
    logins = _HEAD + times[_SEEN]
    login_seen = logins + times[_LOGINS]
    drop_through(times, horizon - IDLE_WINDOW_MS, login_seen)  # the last section first
    times[_LOGINS] -= drop_through(times, horizon - LONGEST_LOGIN_WINDOW, logins, login_seen)
    times[_SEEN] -= drop_through(times, horizon - CALENDAR_LOOKBACK_MS, _HEAD, logins)


@dataclass(slots=True)
class ActivityTotals:
    active: list[int] = field(default_factory=lambda: [0] * len(ACTIVE_WINDOWS))
    logins: list[int] = field(default_factory=lambda: [0] * len(LOGIN_WINDOWS))
    user_days: int = 0
    calendar_active: int = 0
    login_only: int = 0


def tally(user: User, as_of: int, totals: ActivityTotals) -> None:
    tally_active(user, as_of, totals)
    tally_logins(user, as_of, totals)


def tally_active(user: User, as_of: int, totals: ActivityTotals) -> None:
    seen = seen_of(user)
    if seen:
        # The latest activity at or before T decides every (nested) window at once.
        index = len(seen) if seen[-1] <= as_of else bisect_right(seen, as_of)
        if index:
            latest = seen[index - 1]
            active = totals.active
            for position, (_, width) in enumerate(ACTIVE_WINDOWS):
                if latest > as_of - width:
                    active[position] += 1


def tally_logins(user: User, as_of: int, totals: ActivityTotals) -> None:
    logins = logins_of(user)
    if logins:
        end = len(logins) if logins[-1] <= as_of else bisect_right(logins, as_of)
        for position, (_, width) in enumerate(LOGIN_WINDOWS):
            totals.logins[position] += end - bisect_right(logins, as_of - width, 0, end)


def tally_days(user: User, bounds: Sequence[int], totals: ActivityTotals) -> None:
    """Count the local days of `bounds` (see `local_days.complete_days_before`) on which
    the user was active, and the user once if there is any."""
    seen = seen_of(user)
    low = bisect_left(seen, bounds[0])
    high = bisect_left(seen, bounds[-1], low)
    if low == high:
        return
    # the day of a time is where it sorts among the boundaries; distinct days, counted once
    totals.user_days += len({bisect_right(bounds, time) for time in seen[low:high]})
    totals.calendar_active += 1


def tally_idle(user: User, as_of: int, config: EngineConfig, totals: ActivityTotals) -> None:
    """Count the user if they logged in over the last 30 days and used no core feature."""
    low = as_of - IDLE_WINDOW_MS
    if not any_in(login_seen_of(user), low, as_of):
        return
    if adoption.used_any(user, low, as_of, config.core_features):
        return
    totals.login_only += 1


_ACTIVE_WIDTHS = tuple(width for _, width in ACTIVE_WINDOWS)


def tally_user(
    user: User, as_of: int, days: Sequence[int], config: EngineConfig, totals: ActivityTotals
) -> None:
    """One user's whole share of the family at T (`days`: `calendar_bounds(T, config)`)."""
    tally_logins(user, as_of, totals)
    tally_activity(user, as_of, days, config, totals)


def tally_activity(
    user: User, as_of: int, days: Sequence[int], config: EngineConfig, totals: ActivityTotals
) -> None:
    """`tally_user` but the login counts (`tally_logins`): what the activity and login
    times decide, which changes at other times than the counts do."""
    tally_active(user, as_of, totals)
    times = user.activity_times
    if times[_SEEN]:
        tally_days(user, days, totals)
    if len(times) > _HEAD + times[_SEEN] + times[_LOGINS]:  # login_seen is not empty
        tally_idle(user, as_of, config, totals)


def _calendar_change(seen: array[int], as_of: int, zone_name: str) -> int:
    """The first local day boundary after T at which a day with activity enters or leaves
    the 30 complete days before T's day (`tally_days`): a time on local date d is among
    them while T's date runs from d + 1 to d + 30, so it enters at the start of d + 1 and
    leaves at the start of d + 31; the earliest such times decide."""
    bounds = complete_days_before(as_of, CALENDAR_DAYS, zone_name)
    later = days_after(as_of, CALENDAR_DAYS, zone_name)  # later[k]: the start of d(T) + 1 + k
    change = NEVER
    entering = bisect_left(seen, bounds[-1])  # the first activity on T's day or later
    if entering < len(seen):
        first = seen[entering]
        change = later[0] if first < later[0] else next_day_start(first, zone_name)
    leaving = bisect_left(seen, bounds[0])  # the first activity of the 30 days
    if leaving < len(seen) and seen[leaving] < bounds[-1]:
        # on day k of the 30 (d(T) - 30 + k), so it leaves at the start of d(T) + 1 + k
        change = min(change, later[bisect_right(bounds, seen[leaving]) - 1])
    return change


def next_change(user: User, as_of: int, config: EngineConfig) -> int:
    """The earliest time after T at which `tally_user` of this user can give other figures
    without a new event (early is allowed, late is not): the earlier of `logins_change`
    and `activity_change` (timeline.NEVER: none)."""
    return min(logins_change(user, as_of), activity_change(user, as_of, config))


def logins_change(user: User, as_of: int) -> int:
    """When `tally_logins` can change: a login enters or leaves a window."""
    change = NEVER
    logins = logins_of(user)
    for _, width in LOGIN_WINDOWS:
        change = min(change, window_change(logins, as_of, width))
    return change


def activity_change(user: User, as_of: int, config: EngineConfig) -> int:
    """When `tally_activity` can change: the latest activity leaves a window, a kept time
    after T comes into view, a day with activity enters or leaves the 30 calendar days,
    or a login or a core feature use enters or leaves the idle window."""
    seen = seen_of(user)
    change = presence_change(seen, as_of, _ACTIVE_WIDTHS)
    if seen:
        change = min(change, _calendar_change(seen, as_of, config.time_zone))
    login_seen = login_seen_of(user)
    if login_seen:
        change = min(change, window_change(login_seen, as_of, IDLE_WINDOW_MS))
        core = config.core_features
        for feature, times in adoption.features_of(user):
            if not core or feature in core:
                change = min(change, window_change(times, as_of, IDLE_WINDOW_MS))
    return change


def latest_at(user: User, as_of: int) -> int:
    """The latest kept activity time at or before T (NO_TIME: none). It may lie up to a day
    before the true latest when T is earlier than the user's latest activity, but whole
    days since it are exact: the presence set answers every window of >= 1 day."""
    seen = seen_of(user)
    index = bisect_right(seen, as_of)
    return seen[index - 1] if index else NO_TIME


def calendar_bounds(as_of: int, config: EngineConfig) -> tuple[int, ...]:
    """The boundaries of the 30 complete local days before T's day."""
    return complete_days_before(as_of, CALENDAR_DAYS, config.time_zone)


def samples(totals: ActivityTotals) -> list[Sample]:
    out = [
        Sample("pulse_active_users", (("window", name),), count)
        for (name, _), count in zip(ACTIVE_WINDOWS, totals.active, strict=True)
    ]
    out.append(
        ratio_sample(
            "pulse_stickiness_ratio", (), totals.active[ACTIVE_1D], totals.active[ACTIVE_30D]
        )
    )
    calendar = (("window", CALENDAR_WINDOW),)
    out.append(Sample("pulse_daily_active_users_sum_users", calendar, totals.user_days))
    out.append(Sample("pulse_calendar_active_users", calendar, totals.calendar_active))
    out.append(
        ratio_sample(
            "pulse_average_stickiness_ratio",
            calendar,
            totals.user_days,
            CALENDAR_DAYS * totals.calendar_active,
        )
    )
    out.extend(
        Sample("pulse_logins", (("window", name),), count)
        for (name, _), count in zip(LOGIN_WINDOWS, totals.logins, strict=True)
    )
    out.append(Sample("pulse_login_only_users", (("window", IDLE_WINDOW),), totals.login_only))
    return out
