"""Time constants and the compact sorted-array helpers every engine family uses.

Time is an integer of epoch milliseconds (UTC) everywhere in the engine. A window of
width W evaluated at T is the half-open interval (T - W, T]: an event exactly at T - W is
out, one exactly at T is in.

Presence sets. Several questions have the form "is there at least one event in
(T - W, T]?" (active users, feature users). They only need a *thinned* sorted set of event
times: a time t_i whose neighbours satisfy t_{i+1} - t_{i-1} < W can be dropped without
changing the answer for any T and any window >= W (if t_i is in the window then so is
t_{i-1} or t_{i+1}). Thinning survives later insertions, so the set stays exact for
out-of-order input while holding at most about two times per W.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
NO_TIME = -(1 << 62)
"""Marks an absent time (far before any representable event time)."""
NEVER = 1 << 62
"""A time after every real one: "no change ahead" for the `*_change` functions below."""

# Tagged times. A few families keep events of several kinds (a ticket's state changes,
# lifecycle milestones, survey responses, session trail entries) in time order in one
# sorted int64 array: each value is `time * scale + tag` with 0 <= tag < scale, so the
# array sorts by time first and one bisect finds the values at or before a time. The
# family that owns the array names its tags and its scale; these helpers are the one
# place that packs and unpacks.

TAGS = 4
"""The default scale: up to four kinds (ticket ranks, lifecycle milestone kinds)."""


def tagged(time: int, tag: int, scale: int = TAGS) -> int:
    """The stored value of an event of kind `tag` at `time`."""
    return time * scale + tag


def tagged_time(value: int, scale: int = TAGS) -> int:
    """The time of a stored value."""
    return value // scale


def tag_of(value: int, scale: int = TAGS) -> int:
    """The kind of a stored value."""
    return value % scale


def last_tagged(time: int, scale: int = TAGS) -> int:
    """The largest value at `time`: bisect_right(values, last_tagged(t)) counts the
    values at or before t."""
    return time * scale + scale - 1


# Sections. A family that keeps several short sorted sets per user holds them in one array
# (an array costs 64 bytes before its values, and a user's sets hold a few values each):
# `insert_sorted`, `drop_through` and `add_presence` then work on the section [start, end)
# of the array and leave the rest as it is; the family keeps where its sections begin.


def new_times() -> array[int]:
    """An empty sorted array of int64 values."""
    return array("q")


def insert_sorted(values: array[int], value: int, start: int = 0, end: int | None = None) -> None:
    """Insert keeping order, into the whole array or its section [start, end) (see
    "Sections" above); appending in time order (the common case) is O(1)."""
    if end is None:
        end = len(values)
    if start == end or values[end - 1] <= value:
        values.insert(end, value)
    else:
        insort(values, value, start, end)


def count_in(values: array[int], low_exclusive: int, high_inclusive: int) -> int:
    """How many values lie in (low_exclusive, high_inclusive]."""
    return bisect_right(values, high_inclusive) - bisect_right(values, low_exclusive)


def drop_through(values: array[int], cutoff: int, start: int = 0, end: int | None = None) -> int:
    """Remove every value <= cutoff, of the whole array or its section [start, end);
    return how many were removed."""
    if end is None:
        end = len(values)
    if start == end or values[start] > cutoff:
        return 0
    stop = bisect_right(values, cutoff, start, end)
    del values[start:stop]
    return stop - start


def any_in(presence: array[int], low_exclusive: int, high_inclusive: int) -> bool:
    """Is some time of the presence set in (low_exclusive, high_inclusive]?"""
    if presence and presence[-1] <= high_inclusive:  # evaluating at or after the latest time
        return presence[-1] > low_exclusive
    index = bisect_right(presence, high_inclusive)
    return index > 0 and presence[index - 1] > low_exclusive


def add_presence(
    presence: array[int], time: int, min_window: int, start: int = 0, end: int | None = None
) -> int:
    """Add `time` to a presence set kept exact for every window >= `min_window`: the whole
    array, or its section [start, end). Returns the set's new end."""
    if end is None:
        end = len(presence)
    if start == end or presence[end - 1] < time:  # in time order: append, or replace the last
        if end - start >= 2 and time - presence[end - 2] < min_window:
            presence[end - 1] = time  # the previous last is redundant: its neighbours are close
            return end
        presence.insert(end, time)
        return end + 1
    index = bisect_left(presence, time, start, end)
    if presence[index] == time:
        return end
    presence.insert(index, time)
    end += 1
    # Drop redundant neighbours of the insertion point (and what a drop exposes).
    position = max(index - 1, start + 1)
    last = index + 1
    while position <= min(last, end - 2):
        if presence[position + 1] - presence[position - 1] < min_window:
            del presence[position]
            end -= 1
            position = max(position - 1, start + 1)
        else:
            position += 1
    return end


# The `*_change` helpers answer, for a tally that reads stored times only through
# comparisons with T (or T - width), the earliest time after T at which it can read
# something else, as long as no event is added: an incremental snapshot keeps a tally
# until then (streams/engine/incremental.py). Being early is allowed (a recount that
# finds the same figures); being late is not.


def window_change(values: array[int], as_of: int, width: int, scale: int = 1) -> int:
    """For a tally of the values whose time (`tagged_time(value, scale)`; plain times with
    scale 1) lies in (T - width, T]: the earliest time after T at which that set changes
    (the next value enters, or the oldest one inside leaves at its time + width). NEVER
    when neither can happen. (The tagged-time helpers, inlined: this runs per snapshot.)"""
    end = bisect_right(values, as_of * scale + scale - 1)
    change = values[end] // scale if end < len(values) else NEVER
    start = bisect_right(values, (as_of - width) * scale + scale - 1, 0, end)
    if start < end:
        change = min(change, values[start] // scale + width)
    return change


def presence_change(presence: array[int], as_of: int, widths: tuple[int, ...]) -> int:
    """For a tally asking, per width w, whether the latest time at or before T lies in
    (T - w, T]: the earliest time after T at which an answer changes (a later time becomes
    the latest, or the latest leaves a window). NEVER when none can."""
    index = bisect_right(presence, as_of)
    change = presence[index] if index < len(presence) else NEVER
    if index:
        latest = presence[index - 1]
        for width in widths:
            if as_of < latest + width < change:
                change = latest + width
    return change
