"""Sessions: count and total duration of a user's closed sessions that ended in 7 days.

Definition: a user's `login`, `feature_used` and `logout` events, in event-time order,
are grouped into sessions; the next event joins the current session when it is at most
the session gap (default 30 minutes; exactly 30 minutes joins, 30 minutes + 1 ms splits)
after the previous one and the previous one is not a `logout` (a logout ends its
session). At equal times a logout sorts after the user's other events, so activity stamped
at the logout's millisecond still belongs to the session it ends; a logout with no
activity within the gap before it is a session of its own, of duration 0.
Duration = last event - first event. At T a session is closed if it ended with a logout
or its last event is more than the gap before T (T - last > gap); only events at or
before T are considered, so a later event cannot reopen it at T.

- `pulse_sessions{window="7d"}`: closed sessions whose last event is in (T - 7d, T].
- `pulse_session_duration_sum_seconds{window="7d"}`: the sum of their durations, in seconds.
Both additive. The result does not depend on arrival order: the trail is kept sorted and
sessions are derived from it at evaluation time, so a late event can merge two sessions
and a late logout can split one.

State per user: the sorted trail `time * 2 + is_logout` since the late horizon minus 7 days,
plus `trail_head`, the start of the session the oldest kept entry continues (so pruning
never shortens a session that is still visible).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass

from streams.engine.config import EngineConfig
from streams.engine.samples import Sample
from streams.engine.timeline import DAY_MS, NEVER, NO_TIME, SECOND_MS, insert_sorted
from streams.engine.users import User

WINDOW_NAME = "7d"
WINDOW_MS = 7 * DAY_MS
HELP: dict[str, str] = {
    "pulse_sessions": "Closed sessions (30 min inactivity gap, logout ends) whose last event is in the window.",
    "pulse_session_duration_sum_seconds": "Total duration (last event - first event) of the closed sessions that ended in the window.",
}


def record(user: User, time: int, is_logout: bool) -> None:
    insert_sorted(user.trail, time * 2 + is_logout)


def prune(user: User, stream_time: int, config: EngineConfig) -> None:
    """Drop entries no snapshot at or after stream_time - activity lag can see.

    A session ending inside some future window may have started before the cutoff; its
    start is kept in `trail_head`. Events that arrive later lie after the late horizon,
    more than 7 days (> one gap) after any dropped entry, so they never join a dropped one.
    """
    trail = user.trail
    cutoff = stream_time - config.activity_lag_ms - WINDOW_MS
    if not trail or trail[0] >> 1 > cutoff:
        return
    keep_from = bisect_right(trail, cutoff * 2 + 1)
    if keep_from == len(trail):
        del trail[:]
        user.trail_head = NO_TIME
        return
    gap = config.session_gap_ms
    last_dropped = trail[keep_from - 1]
    if last_dropped & 1 or (trail[keep_from] >> 1) - (last_dropped >> 1) > gap:
        user.trail_head = NO_TIME
    else:
        start_index = _session_start_index(trail, keep_from - 1, gap)
        if start_index > 0 or user.trail_head == NO_TIME:
            user.trail_head = trail[start_index] >> 1
    del trail[:keep_from]


def _session_start_index(trail: array[int], index: int, gap: int) -> int:
    """Index of the first entry of the session that contains trail[index]."""
    while index > 0:
        previous = trail[index - 1]
        if previous & 1 or (trail[index] >> 1) - (previous >> 1) > gap:
            break
        index -= 1
    return index


@dataclass(slots=True)
class SessionTotals:
    closed: int = 0
    duration_ms: int = 0


def tally(user: User, as_of: int, gap: int, totals: SessionTotals) -> None:
    trail = user.trail
    end = bisect_right(trail, as_of * 2 + 1)  # entries at or before as_of
    first_in_window = bisect_right(trail, (as_of - WINDOW_MS) * 2 + 1)
    if first_in_window >= end:
        return
    index = _session_start_index(trail, first_in_window, gap)
    entry = trail[index]
    start = user.trail_head if index == 0 and user.trail_head != NO_TIME else entry >> 1
    last = entry >> 1
    ended_by_logout = entry & 1
    closed = 0
    duration = 0
    for position in range(index + 1, end):
        entry = trail[position]
        time = entry >> 1
        if ended_by_logout or time - last > gap:
            closed += 1
            duration += last - start
            start = time
        last = time
        ended_by_logout = entry & 1
    if ended_by_logout or as_of - last > gap:
        closed += 1
        duration += last - start
    totals.closed += closed
    totals.duration_ms += duration


def next_change(user: User, as_of: int, gap: int) -> int:
    """The earliest time after T at which `tally` of this user can give other figures
    without a new event: a kept later entry comes into view, the oldest session in the
    window leaves it (when its last entry does), or the latest session closes by
    inactivity (T - last > gap). timeline.NEVER when none can."""
    trail = user.trail
    end = bisect_right(trail, as_of * 2 + 1)
    change = trail[end] >> 1 if end < len(trail) else NEVER
    if not end:
        return change
    first_in_window = bisect_right(trail, (as_of - WINDOW_MS) * 2 + 1, 0, end)
    if first_in_window < end:
        # the session of the oldest entry in the window counts until its last entry leaves
        index = first_in_window
        while index + 1 < end:
            entry, following = trail[index], trail[index + 1]
            if entry & 1 or (following >> 1) - (entry >> 1) > gap:
                break
            index += 1
        change = min(change, (trail[index] >> 1) + WINDOW_MS)
    last = trail[end - 1]
    if not last & 1 and as_of - (last >> 1) <= gap:
        change = min(change, (last >> 1) + gap + 1)
    return change


def samples(totals: SessionTotals) -> list[Sample]:
    labels = (("window", WINDOW_NAME),)
    return [
        Sample("pulse_sessions", labels, totals.closed),
        Sample("pulse_session_duration_sum_seconds", labels, totals.duration_ms / SECOND_MS),
    ]
