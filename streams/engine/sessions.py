"""Sessions: count and total duration of a user's closed sessions that ended in 7 days.

Definition (docs/metrics.md, "Sessions"; GA4's session and engaged-session rules are the
anchor). A user's `login`, `feature_used` and `logout` events, in event-time order, are
cut into *runs* by the session gap (default 30 minutes; exactly 30 minutes joins, 30
minutes + 1 ms splits). Within a run:

- an event that carries a `session_id` (login, logout) belongs to that session;
- an event without one belongs to the session of the run's latest tagged login that no
  logout has ended yet (the device the user is on), or to the run's untagged session when
  there is none;
- a logout ends the one session it belongs to; a later event of that session key in the
  same run starts a new session.

So two devices' sessions stay apart, and a logout on one never ends the other. A user
whose events carry no `session_id` gets exactly the inactivity rule: runs split by the
gap, a logout ends the session. At equal times the order is: tagged logins, other
non-logout events, untagged logouts, tagged logouts (ties between tagged events by
session_id), so activity stamped at a logout's millisecond still belongs to the session
it ends. Duration = last event - first event. At T a session is closed if it ended with a
logout or its last event is more than the gap before T (T - last > gap); only events at
or before T are considered, so a later event cannot reopen it at T.

- `pulse_sessions{window="7d"}`: closed sessions whose last event is in (T - 7d, T].
- `pulse_session_duration_sum_seconds{window="7d"}`: the sum of their durations, in seconds.
- `pulse_sessions_zero_length{window="7d"}`: how many of those sessions last 0 seconds
  (a lone login or logout). They are in `pulse_sessions` and add 0 to the duration; the
  average session duration excludes them: duration / (sessions - zero-length).
All additive. The result does not depend on arrival order: the trails are kept sorted and
sessions are derived from them at evaluation time.

State per user: the sorted untagged trail `_entry(time, is_logout)` and `trail_head`, the
start of the session the oldest kept entry continues (so pruning never shortens a session
that is still visible); and the tagged logins and logouts of every session in one sorted
trail, `tagged`, with the session_id of each entry at the same position in `tagged_ids`:
one bytes object holding each entry's session_id in UTF-8, each followed by `_END`
(0xff, never a byte of UTF-8), rather than a list of strings, which cost about 70 bytes
more per session (a string object of its own; 850 of the 3,200 bytes per user of the
engine on the 20,000-user benchmark). UTF-8 orders bytes as the code points they encode,
so ties between sessions sort as their strings do. One trail rather than one per
session: a session is mostly a login and a logout, and an array of its own cost about
110 bytes more than its two entries. A user with tagged entries is pruned at run boundaries only
(whole runs that ended before the cutoff), which keeps the session of every kept untagged
event unchanged; such a user with no break of one gap in 7 days keeps its trail until it
has one.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter

from streams.engine.engine_config import EngineConfig
from streams.engine.samples import Sample
from streams.engine.timeline import DAY_MS, NEVER, NO_TIME, SECOND_MS, insert_sorted
from streams.engine.users import User

WINDOW_NAME = "7d"
WINDOW_MS = 7 * DAY_MS
HELP: dict[str, str] = {
    "pulse_sessions": "Closed sessions (per session_id, else 30 min inactivity gap; a logout ends its own "
    "session) whose last event is in the window.",
    "pulse_session_duration_sum_seconds": "Total duration (last event - first event) of the closed sessions that "
    "ended in the window.",
    "pulse_sessions_zero_length": "Closed sessions of 0 seconds (a lone login or logout) among pulse_sessions; "
    "the average duration excludes them.",
}

# Ranks at equal times (see the header); a merged entry sorts by (time, rank, session_id).
_TAGGED_LOGIN = 0
_UNTAGGED = 1
_UNTAGGED_LOGOUT = 2
_TAGGED_LOGOUT = 3
_UNTAGGED_KEY = b""
_END = b"\xff"
"""Ends each session_id in `User.tagged_ids` (never a byte of UTF-8)."""


def _utf8(session_id: str) -> bytes:
    """A session_id as `tagged_ids` holds it (surrogatepass: any str the decoder gives)."""
    return session_id.encode("utf-8", "surrogatepass")


def _ids(user: User) -> list[bytes]:
    """The session_id of each tagged entry, in order (UTF-8)."""
    return user.tagged_ids.split(_END)[:-1]


def _set_ids(user: User, ids: Iterable[bytes]) -> None:
    user.tagged_ids = b"".join(session_id + _END for session_id in ids)


# A trail entry is the tagged time (engine.timeline) of scale 2: `time * 2 + is_logout`.
# These are `tagged`, `tagged_time`, `tag_of` and `last_tagged` at that scale, written out
# with shifts because the session tally is the engine's tightest loop.


def _entry(time: int, is_logout: bool) -> int:
    return time * 2 + is_logout


def _time_of(entry: int) -> int:
    return entry >> 1


def _is_logout(entry: int) -> int:
    return entry & 1


def _last_at(time: int) -> int:
    """The largest entry at `time`: bisect_right finds the entries at or before it."""
    return time * 2 + 1


def _first_at(time: int) -> int:
    """The smallest entry at `time`: bisect_left finds the entries before it."""
    return time * 2


def record(user: User, time: int, is_logout: bool, session_id: str | None = None) -> None:
    view = user.sessions_view
    if view is not None:  # walk on from where the view stopped, or start again
        if session_id is None:
            entry = (time, _UNTAGGED_LOGOUT if is_logout else _UNTAGGED, _UNTAGGED_KEY)
        else:
            entry = (time, _TAGGED_LOGOUT if is_logout else _TAGGED_LOGIN, _utf8(session_id))
        if view.last is None or entry >= view.last:
            view.pending.append(entry)
        else:
            user.sessions_view = None
    if session_id is None:
        insert_sorted(user.trail, _entry(time, is_logout))
        return
    _insert_tagged(user, _entry(time, is_logout), session_id)


def _insert_tagged(user: User, entry: int, session_id: str) -> None:
    """Insert into `tagged` in order, the session_id at the same position in `tagged_ids`
    (mostly at the end: events come mostly in time order)."""
    tagged, ended = user.tagged, _utf8(session_id) + _END
    if not tagged or tagged[-1] <= entry:
        tagged.append(entry)
        user.tagged_ids += ended
        return
    at = bisect_right(tagged, entry)
    tagged.insert(at, entry)
    ids = _ids(user)
    ids.insert(at, ended[:-1])
    _set_ids(user, ids)


def tagged_trails(user: User) -> dict[str, list[int]]:
    """session_id -> its tagged entries in order, sessions in the order of their first
    entry: the stored form (state_codec)."""
    trails: dict[bytes, list[int]] = {}
    for entry, session_id in zip(user.tagged, _ids(user), strict=True):
        trail = trails.get(session_id)
        if trail is None:
            trails[session_id] = [entry]
        else:
            trail.append(entry)
    return {
        session_id.decode("utf-8", "surrogatepass"): trail for session_id, trail in trails.items()
    }


def set_tagged_trails(user: User, trails: Mapping[str, Iterable[int]]) -> None:
    """The inverse of `tagged_trails`: the user's tagged entries from their stored form."""
    pairs = sorted(
        (entry, _utf8(session_id)) for session_id, entries in trails.items() for entry in entries
    )
    user.tagged = array("q", [entry for entry, _ in pairs])
    _set_ids(user, [session_id for _, session_id in pairs])


def oldest(user: User) -> int:
    """The time of the user's oldest untagged entry or of the first entry of its first
    session id (NO_TIME: none): O(1), for the per-event "is a prune due?" check, which only
    saves memory (answers never depend on when pruning runs). Ids are mostly created in
    time order, so this is the oldest entry but after a late event of a new id."""
    trail, tagged = user.trail, user.tagged
    if tagged:
        return _time_of(min(trail[0], tagged[0]) if trail else tagged[0])
    return _time_of(trail[0]) if trail else NO_TIME


def has_entries(user: User) -> bool:
    return bool(user.trail or user.tagged)


def prune(user: User, stream_time: int, config: EngineConfig) -> None:
    """Drop entries no snapshot at or after stream_time - activity lag can see.

    A session ending inside some future window may have started before the cutoff; its
    start is kept in `trail_head`. Events that arrive later lie after the late horizon,
    more than 7 days (> one gap) after any dropped entry, so they never join a dropped one.
    """
    cutoff = stream_time - config.activity_lag_ms - WINDOW_MS
    if user.sessions_view is not None:
        user.sessions_view.forget(cutoff)
    if user.tagged:
        _prune_runs(user, cutoff, config.session_gap_ms)
        return
    trail = user.trail
    if not trail or _time_of(trail[0]) > cutoff:
        return
    keep_from = bisect_right(trail, _last_at(cutoff))
    if keep_from == len(trail):
        del trail[:]
        user.trail_head = NO_TIME
        return
    gap = config.session_gap_ms
    last_dropped = trail[keep_from - 1]
    if _is_logout(last_dropped) or _time_of(trail[keep_from]) - _time_of(last_dropped) > gap:
        user.trail_head = NO_TIME
    else:
        start_index = _session_start_index(trail, keep_from - 1, gap)
        if start_index > 0 or user.trail_head == NO_TIME:
            user.trail_head = _time_of(trail[start_index])
    del trail[:keep_from]


def _prune_runs(user: User, cutoff: int, gap: int) -> None:
    """Drop the whole runs (see the header) that ended at or before `cutoff`."""
    trails = (user.trail, user.tagged)
    if min((_time_of(trail[0]) for trail in trails if trail), default=NEVER) > cutoff:
        return  # nothing to drop: the common case, without sorting every entry
    times = sorted(
        {_time_of(entry) for entry in user.trail}.union(_time_of(entry) for entry in user.tagged)
    )
    if not times or times[0] > cutoff:
        return
    keep_after = NO_TIME  # entries at or before this time are dropped
    if times[-1] <= cutoff:
        keep_after = times[-1]
    else:
        for index in range(bisect_right(times, cutoff), 0, -1):
            if index < len(times) and times[index] - times[index - 1] > gap:
                keep_after = times[index - 1]
                break
    if keep_after == NO_TIME:
        return
    bound = _last_at(keep_after)
    del user.trail[: bisect_right(user.trail, bound)]
    user.trail_head = NO_TIME
    dropped = bisect_right(user.tagged, bound)
    if dropped:
        del user.tagged[:dropped]
        _set_ids(user, _ids(user)[dropped:])


def _session_start_index(trail: array[int], index: int, gap: int) -> int:
    """Index of the first entry of the session that contains trail[index]."""
    while index > 0:
        previous = trail[index - 1]
        if _is_logout(previous) or _time_of(trail[index]) - _time_of(previous) > gap:
            break
        index -= 1
    return index


@dataclass(slots=True)
class SessionTotals:
    closed: int = 0
    duration_ms: int = 0
    zero_length: int = 0


def tally(user: User, as_of: int, gap: int, totals: SessionTotals) -> None:
    if user.tagged:
        _tally_tagged(user, as_of, gap, totals)
        return
    trail = user.trail
    end = bisect_right(trail, _last_at(as_of))  # entries at or before as_of
    first_in_window = bisect_right(trail, _last_at(as_of - WINDOW_MS))
    if first_in_window >= end:
        return
    index = _session_start_index(trail, first_in_window, gap)
    entry = trail[index]
    start = user.trail_head if index == 0 and user.trail_head != NO_TIME else _time_of(entry)
    last = _time_of(entry)
    ended_by_logout = _is_logout(entry)
    closed = 0
    duration = 0
    zero = 0
    for position in range(index + 1, end):
        entry = trail[position]
        time = _time_of(entry)
        if ended_by_logout or time - last > gap:
            closed += 1
            duration += last - start
            zero += last == start
            start = time
        last = time
        ended_by_logout = _is_logout(entry)
    if ended_by_logout or as_of - last > gap:
        closed += 1
        duration += last - start
        zero += last == start
    totals.closed += closed
    totals.duration_ms += duration
    totals.zero_length += zero


def _run_floor(trails: list[array[int]], window_start: int, as_of: int, gap: int) -> int | None:
    """A time before the run that holds the first entry after `window_start` (so every
    run that reaches the window lies after it), or None when no entry is in the window.
    Walks back from the window start one run link (an entry within the gap) at a time."""
    if not any(
        bisect_right(t, _last_at(window_start)) < bisect_right(t, _last_at(as_of)) for t in trails
    ):
        return None
    floor = window_start
    while True:
        bound = _last_at(floor)
        after = [_time_of(t[i]) for t in trails if (i := bisect_right(t, bound)) < len(t)]
        before = [_time_of(t[i - 1]) for t in trails if (i := bisect_right(t, bound)) > 0]
        if not before or min(after) - max(before) > gap:
            return floor
        floor = max(before) - 1


def _merged(user: User, floor: int, as_of: int) -> list[Entry]:
    """The user's entries in (floor, as_of] as (time, rank, session_id), in order."""
    low, high = _last_at(floor), _last_at(as_of)
    trail, tagged = user.trail, user.tagged
    merged = [
        (_time_of(entry), _UNTAGGED_LOGOUT if _is_logout(entry) else _UNTAGGED, _UNTAGGED_KEY)
        for entry in trail[bisect_right(trail, low) : bisect_right(trail, high)]
    ]
    start, end = bisect_right(tagged, low), bisect_right(tagged, high)
    merged.extend(
        (_time_of(entry), _TAGGED_LOGOUT if _is_logout(entry) else _TAGGED_LOGIN, session_id)
        for entry, session_id in zip(tagged[start:end], _ids(user)[start:end], strict=True)
    )
    merged.sort()
    return merged


Entry = tuple[int, int, bytes]
"""(time, rank, session_id in UTF-8): one entry as the walk reads them, in this order
(header)."""


class SessionView:
    """The walk of the general rule (header) over a user's entries, run by run, and what it
    has found: the sessions of finished runs by their last entry (with running sums), the
    sessions a logout ended in the current run, and the current run's open sessions.

    At any T at or after the latest entry walked, T only decides which of these sessions
    are closed and in the window (`count`), so a view kept on the user (`sessions_view`)
    answers every later T by bisection and its next change exactly. Entries recorded in
    walk order after the latest one are walked on from where it stopped (`pending`);
    an entry recorded before it drops the view (`record`); a prune trims it (`forget`)."""

    __slots__ = (
        "before",
        "first_untagged",
        "gap",
        "head",
        "last",
        "lasts",
        "open_logins",
        "pending",
        "position",
        "run_ended",
        "sessions",
    )

    def __init__(self, gap: int, head: int, first_untagged: int) -> None:
        self.gap = gap
        self.head = head
        """The start of the session that the untagged entry at `first_untagged` continues,
        when that entry is walked first (NO_TIME: none; see `prune`)."""
        self.first_untagged = first_untagged
        self.lasts: list[int] = []
        """The last entry of each session of the finished runs, in order."""
        self.before: list[tuple[int, int]] = [(0, 0)]
        """before[i]: (duration, zero-length sessions) over the finished sessions before i."""
        self.run_ended: list[tuple[int, int]] = []
        """(start, last) of the current run's sessions that a logout ended."""
        self.sessions: dict[bytes, list[int]] = {}
        """Session key -> [start, last]: the current run's open sessions."""
        self.open_logins: dict[bytes, int] = {}
        """Tagged session -> position of its latest login not yet ended by a logout."""
        self.last: Entry | None = None
        self.position = 0
        self.pending: list[Entry] = []
        """Entries recorded since, each at or after `last` in walk order."""

    def walk(self, entries: list[Entry]) -> None:
        """Walk on over `entries`, in walk order, each at or after `last`."""
        gap, head, first_untagged = self.gap, self.head, self.first_untagged
        sessions, open_logins, run_ended = self.sessions, self.open_logins, self.run_ended
        previous = NO_TIME if self.last is None else self.last[0]
        position = self.position
        for time, rank, session_id in entries:
            if previous != NO_TIME and time - previous > gap:
                self._finish_run()
            previous = time
            if rank in (_TAGGED_LOGIN, _TAGGED_LOGOUT):
                key = session_id
            else:
                key = (
                    max(open_logins, key=open_logins.__getitem__) if open_logins else _UNTAGGED_KEY
                )
            if rank == _TAGGED_LOGIN:
                open_logins[key] = position
            session = sessions.get(key)
            if session is None:
                start = time
                if (
                    position == 0
                    and head != NO_TIME
                    and time == first_untagged
                    and rank >= _UNTAGGED
                ):
                    start = head
                session = sessions[key] = [start, time]
            else:
                session[1] = time
            if rank >= _UNTAGGED_LOGOUT:
                open_logins.pop(key, None)
                del sessions[key]
                run_ended.append((session[0], time))
            position += 1
        if entries:
            self.position = position
            self.last = entries[-1]

    def _finish_run(self) -> None:
        """A break of more than one gap: every session of the run is closed. Runs come in
        time order, so their sessions' last entries follow those already listed."""
        run = self.run_ended
        run.extend((start, last) for start, last in self.sessions.values())
        run.sort(key=itemgetter(1))
        lasts, before = self.lasts, self.before
        duration, zero = before[-1]
        for start, last in run:
            duration += last - start
            zero += last == start
            lasts.append(last)
            before.append((duration, zero))
        run.clear()
        self.sessions.clear()
        self.open_logins.clear()

    def forget(self, cutoff: int) -> None:
        """Drop the finished sessions that ended at or before `cutoff`, as `prune` drops
        their entries. The view is not walked again after a prune: a prune changes no
        answer at or after the account's clocks (only the entries that no such T sees go,
        and `trail_head` keeps the start of a session still in view), and the view gives
        the answers of the entries it walked."""
        drop = bisect_right(self.lasts, cutoff)
        if drop:
            del self.lasts[:drop]
            del self.before[:drop]

    def count(self, as_of: int, totals: SessionTotals) -> int:
        """Add the sessions closed at T whose last entry is in the window, T at or after
        the latest entry walked; return the next change: the earliest time a counted
        session leaves the window or an open one closes by inactivity (NEVER: none)."""
        gap, window_start = self.gap, as_of - WINDOW_MS
        lasts = self.lasts
        low = bisect_right(lasts, window_start)
        duration, zero = self.before[-1]
        duration_low, zero_low = self.before[low]
        closed, duration, zero = len(lasts) - low, duration - duration_low, zero - zero_low
        change = lasts[low] + WINDOW_MS if low < len(lasts) else NEVER
        for start, last in self.run_ended:
            if last > window_start:
                closed += 1
                duration += last - start
                zero += last == start
                change = min(change, last + WINDOW_MS)
        for start, last in self.sessions.values():
            if as_of - last <= gap:
                change = min(change, last + gap + 1)
            elif last > window_start:
                closed += 1
                duration += last - start
                zero += last == start
                change = min(change, last + WINDOW_MS)
        totals.closed += closed
        totals.duration_ms += duration
        totals.zero_length += zero
        return change


def _tally_tagged(user: User, as_of: int, gap: int, totals: SessionTotals) -> None:
    """The general rule (header) for a user with tagged entries: the walk from the run
    that reaches the window."""
    window_start = as_of - WINDOW_MS
    floor = _run_floor([user.trail, user.tagged], window_start, as_of, gap)
    if floor is None:
        return
    # the head continues trail[0] only when the walk reached the oldest untagged entry
    first_untagged = (
        _time_of(user.trail[0]) if user.trail and _time_of(user.trail[0]) > floor else NO_TIME
    )
    view = SessionView(gap, user.trail_head, first_untagged)
    view.walk(_merged(user, floor, as_of))
    view.count(as_of, totals)


def _view(user: User, gap: int) -> SessionView | None:
    """The walk over every kept entry, or None for a user with tagged entries and a
    `trail_head` (their walk must start where the window's run does, as `_tally_tagged`
    does). Without tagged entries the general rule is the inactivity rule of `tally`."""
    if user.tagged and user.trail_head != NO_TIME:
        return None
    view = SessionView(gap, user.trail_head, _time_of(user.trail[0]) if user.trail else NO_TIME)
    view.walk(_merged(user, NO_TIME, NEVER))
    return view


def tally_and_next_change(user: User, as_of: int, gap: int, totals: SessionTotals) -> int:
    """`tally(user, as_of, gap, totals)`, returning the time its figures next change
    without a new event. From the user's `SessionView` when T is at or after its latest
    entry (always, in history's steps): then the change is exact, and the view is walked
    once per change of the user. Otherwise by `tally` and the bound of `next_change`."""
    view = user.sessions_view
    if view is None or view.gap != gap:
        view = user.sessions_view = _view(user, gap)
    if view is not None and view.pending:
        view.pending.sort()
        view.walk(view.pending)
        view.pending.clear()
    if view is None or (view.last is not None and as_of < view.last[0]):
        tally(user, as_of, gap, totals)
        return next_change(user, as_of, gap)
    return view.count(as_of, totals)


def next_change(user: User, as_of: int, gap: int) -> int:
    """The earliest time after T at which `tally` of this user can give other figures
    without a new event: a kept later entry comes into view, the oldest session in the
    window leaves it (when its last entry does), or the latest session closes by
    inactivity (T - last > gap). timeline.NEVER when none can."""
    if user.tagged:
        return _tagged_change(user, as_of, gap)
    trail = user.trail
    end = bisect_right(trail, _last_at(as_of))
    change = _time_of(trail[end]) if end < len(trail) else NEVER
    if not end:
        return change
    first_in_window = bisect_right(trail, _last_at(as_of - WINDOW_MS), 0, end)
    if first_in_window < end:
        # the session of the oldest entry in the window counts until its last entry leaves
        index = first_in_window
        while index + 1 < end:
            entry, following = trail[index], trail[index + 1]
            if _is_logout(entry) or _time_of(following) - _time_of(entry) > gap:
                break
            index += 1
        change = min(change, _time_of(trail[index]) + WINDOW_MS)
    last = trail[end - 1]
    if not _is_logout(last) and as_of - _time_of(last) <= gap:
        change = min(change, _time_of(last) + gap + 1)
    return change


def _tagged_change(user: User, as_of: int, gap: int) -> int:
    """`next_change` for a user with tagged entries, by a coarser bound: `_tally_tagged`
    reads T only through comparisons of T, T - gap and T - 7d with entry times (an entry
    at or before T, a session's last entry within the gap, in the window), so the first
    entry time after T - offset, plus that offset (and one more millisecond), over those
    offsets and every trail, bounds it."""
    change = NEVER
    offsets = (0, 1, gap, gap + 1, WINDOW_MS, WINDOW_MS + 1, WINDOW_MS + gap, WINDOW_MS + gap + 1)
    for trail in (user.trail, user.tagged):
        for offset in offsets:
            # the first entry with time > T - offset
            index = bisect_left(trail, _first_at(as_of - offset + 1))
            if index < len(trail) and _time_of(trail[index]) + offset < change:
                change = _time_of(trail[index]) + offset
    return change


def samples(totals: SessionTotals) -> list[Sample]:
    labels = (("window", WINDOW_NAME),)
    return [
        Sample("pulse_sessions", labels, totals.closed),
        Sample("pulse_session_duration_sum_seconds", labels, totals.duration_ms / SECOND_MS),
        Sample("pulse_sessions_zero_length", labels, totals.zero_length),
    ]
