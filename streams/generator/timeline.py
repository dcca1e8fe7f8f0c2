"""Event-time ordering for the simulation: day buckets plus a queue of future actions.

The simulation runs one UTC day at a time. Code that decides something (a session, a
ticket's whole life, a renewal) `emit`s events at their own instants, which may lie in the
current day or later ones; each goes to the bucket of its UTC day. Decisions that depend on
state at a later instant (a renewal must see the subscription as it is then) are
`schedule`d as actions and run when the simulation reaches that instant. When a day is
done its bucket is sorted (stable, by time) and handed out, so the output is in event-time
order while memory holds only the days still open. Events at or after `end` are dropped:
the dataset ends there.

Most events are session steps, so those are kept compact until their day closes: a flat
tuple `(at, type, account_id, user_id, detail, count)` (see `activity.expand_session_step`)
takes a third of the memory of the dict it becomes. Every other event is `(at, dict)`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from streams.generator.clock import DAY_MS

Event = dict[str, Any]  # an event object whose "event_id" and "occurred_at" are filled on output
Entry = tuple[
    Any, ...
]  # (at, Event) or a compact session step (at, type, account_id, user_id, detail, count)
_by_time = itemgetter(0)


class Timeline:
    def __init__(self, end: int, first_day: int) -> None:
        self.end = end
        self.open_day = first_day  # no event may be emitted into an earlier day
        self._buckets: dict[int, list[Entry]] = {}
        self._actions: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._sequence = 0

    def emit(self, at: int, event: Event) -> None:
        """Record `event` at instant `at` (dropped when at >= end)."""
        self.emit_entry((at, event))

    def emit_entry(self, entry: Entry) -> None:
        """Record an entry whose first item is its instant (dropped when that is >= end)."""
        at = entry[0]
        if at >= self.end:
            return
        day = at // DAY_MS
        if day < self.open_day:
            raise AssertionError(
                f"event at day {day} emitted after day {self.open_day - 1} was closed: {entry}"
            )
        bucket = self._buckets.get(day)
        if bucket is None:
            bucket = self._buckets[day] = []
        bucket.append(entry)

    def schedule(self, at: int, action: Callable[..., None], *args: Any) -> None:
        """Run `action(at, *args)` when the simulation reaches `at` (never, if at >= end)."""
        if at < self.end:
            self._sequence += 1
            heapq.heappush(self._actions, (at, self._sequence, action, args))

    def run_actions_before(self, limit: int) -> None:
        """Run every scheduled action with time < limit, in time order (ties: scheduling order)."""
        actions = self._actions
        while actions and actions[0][0] < limit:
            at, _, action, args = heapq.heappop(actions)
            action(at, *args)

    def close_day(self, day: int) -> list[Entry]:
        """The day's entries in time order (ties keep emission order); the day is closed."""
        self.open_day = day + 1
        bucket = self._buckets.pop(day, [])
        bucket.sort(key=_by_time)
        return bucket
