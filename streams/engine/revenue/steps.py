"""A subscription's state as a step function of time, and an account's MRR as their sum.

Definition (knowledge at T: only records with occurred_at <= T take part):

- Order. Billing records are ordered by (time, rank, event_id) with rank started = 0 <
  changed = 1 < canceled = 2, so the result never depends on arrival order.
- Terms. At time s the terms in force are those of the latest started/changed record with
  occurred_at <= s (a change takes effect at its occurred_at). Before the first one the
  subscription does not exist.
- Trial. While the terms' `trial_ends_at` > s the subscription is trialing: MRR 0.
- Cancellation. A cancel c takes effect at e(c) = its effective_at (or its occurred_at
  with `churn_recognition = "occurred_at"`; see `cancel_gap` for a backdated cancel under
  `backdated_cancellations = "when_known"`); it applies to the terms in force at e(c) and
  holds the subscription at 0 on the gap [e(c), r(c)), where r(c) is the occurred_at of
  the first started/changed record with occurred_at > e(c): new terms after the cancel's
  effective time re-activate the subscription (a subscription_started after a cancel is a
  restart). Started/changed records at or before e(c), even if they occurred after the
  cancel itself, only alter the terms until e(c): the scheduled cancellation stands (the
  event contract has no "withdraw cancellation" event). A record at exactly e(c) sorts
  before the cancel (rank), so it does not end the gap. Gaps of several cancels are united.
- MRR. Paying (in force, out of trial, outside every gap): `monthly_cents(terms)`;
  otherwise 0. Account MRR = the sum over its subscriptions, each rounded first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from streams.engine.revenue.money import Terms
from streams.engine.revenue.revenue_config import AT_OCCURRENCE, EFFECTIVE_WHEN_KNOWN

STARTED = 0
CHANGED = 1

FOREVER = 1 << 62
"""A time after every real one (epoch ms)."""

SetRecord = tuple[int, int, str, Terms]
"""(occurred_at, rank, event_id, terms) of a subscription_started / subscription_changed."""
CancelRecord = tuple[int, str, int]
"""(occurred_at, event_id, effective_at) of a subscription_canceled."""


class InForce(NamedTuple):
    """A subscription in force: its terms, and whether it pays (False while the trial runs)."""

    terms: Terms
    paying: bool


SubState = InForce | None
"""None: no subscription in force (not started, or canceled)."""
Timeline = list[tuple[int, SubState]]
"""(time, state from that time on), ascending, consecutive states distinct; None before."""


def cancel_gap(cancel: CancelRecord, set_times: list[int], mode: int) -> tuple[int, int]:
    """[start, end) during which `cancel` holds its subscription at 0 (`set_times` ascending);
    empty when start >= end.

    The cancel applies to the terms in force at its time (effective_at, or occurred_at in
    AT_OCCURRENCE mode) and ends at the next started/changed record after it. In
    EFFECTIVE_WHEN_KNOWN mode a backdated cancel (effective_at < occurred_at) starts at
    occurred_at instead, and only if no new terms re-activated the subscription in between.
    """
    occurred_at, _event_id, effective_at = cancel
    anchor = occurred_at if mode == AT_OCCURRENCE else effective_at
    renewal = bisect_right(set_times, anchor)
    end = set_times[renewal] if renewal < len(set_times) else FOREVER
    start = max(anchor, occurred_at) if mode == EFFECTIVE_WHEN_KNOWN else anchor
    return start, end


def sub_timeline(
    sets: list[SetRecord], cancels: list[CancelRecord], known_until: int, mode: int
) -> Timeline:
    """The state of one subscription over time, from the records with occurred_at <= known_until."""
    known = sets[: bisect_right(sets, (known_until, CHANGED + 1))]
    if not known:
        return []
    set_times = [record[0] for record in known]
    gaps = [
        gap
        for gap in (
            cancel_gap(cancel, set_times, mode) for cancel in cancels if cancel[0] <= known_until
        )
        if gap[0] < gap[1]
    ]
    breakpoints = set(set_times)
    for occurred_at, _rank, _event_id, terms in known:
        if terms.trial_ends_at is not None and terms.trial_ends_at > occurred_at:
            breakpoints.add(terms.trial_ends_at)
    for start, end in gaps:
        breakpoints.add(start)
        if end < FOREVER:
            breakpoints.add(end)
    timeline: Timeline = []
    previous: SubState = None
    for time in sorted(breakpoints):
        state: SubState = None
        if not any(start <= time < end for start, end in gaps):
            index = bisect_right(set_times, time) - 1
            if index >= 0:
                terms = known[index][3]
                state = InForce(terms, terms.trial_ends_at is None or terms.trial_ends_at <= time)
        if state != previous:
            timeline.append((time, state))
            previous = state
    return timeline


def state_at(timeline: Timeline, time: int) -> SubState:
    """The state of a subscription at `time`."""
    index = bisect_right(timeline, time, key=itemgetter(0)) - 1
    return timeline[index][1] if index >= 0 else None


class Steps:
    """A piecewise-constant integer function of time: `values[i]` holds on [times[i], times[i+1])."""

    __slots__ = ("times", "values")

    def __init__(self, times: list[int], values: list[int]) -> None:
        self.times = times
        self.values = values

    def at(self, time: int) -> int:
        index = bisect_right(self.times, time) - 1
        return self.values[index] if index >= 0 else 0


def account_steps(timelines: Iterable[Timeline], value: Callable[[SubState], int]) -> Steps:
    """The sum over subscriptions of `value(state)`, as steps where the sum changes."""
    changes: list[tuple[int, int]] = []
    for timeline in timelines:
        previous = 0
        for time, state in timeline:
            current = value(state)
            if current != previous:
                changes.append((time, current - previous))
                previous = current
    changes.sort(key=itemgetter(0))
    times: list[int] = []
    values: list[int] = []
    total = 0
    for time, group in groupby(changes, key=itemgetter(0)):
        total += sum(delta for _time, delta in group)
        if total != (values[-1] if values else 0):
            times.append(time)
            values.append(total)
    return Steps(times, values)


def held(steps: Steps, holds: list[tuple[int, int]]) -> Steps:
    """`steps` with the value 0 on every [start, end) of `holds`: the spans in which the
    account is delinquent (see `AccountRevenue.delinquency`)."""
    if not holds:
        return steps
    points = set(steps.times)
    for start, end in holds:
        points.add(start)
        if end < FOREVER:
            points.add(end)
    times: list[int] = []
    values: list[int] = []
    for time in sorted(points):
        value = 0 if any(start <= time < end for start, end in holds) else steps.at(time)
        if value != (values[-1] if values else 0):
            times.append(time)
            values.append(value)
    return Steps(times, values)
