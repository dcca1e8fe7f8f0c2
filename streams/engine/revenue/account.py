"""AccountRevenue: the billing state of one account, and its revenue figures at any time T.

State: per subscription, its started/changed and canceled records; the account's payment
records; and, once compacted, a floor with a two-fact summary of the history before it.
`apply` only inserts a record at its sorted place, so the state (and every answer) is the
same whatever the arrival order. Answers at T use the records with occurred_at <= T only.

Compaction (`prune(before)`) keeps every answer at T >= before + 365 days exact; that is
all any query at such a T reads (windows reach back 365 days at most). Figures whose
window is W (movements 30 days, retention 30, 90 or 365) are already exact from before + W. It keeps:
- per subscription, every record with occurred_at >= before; of the older started/changed
  records the latest one (the terms in force at `before`; it also tells an older cancel
  arriving later whether new terms ended its gap before `before`); the older cancels whose
  gap reaches `before`;
- the payments with occurred_at >= before, and the older ones from the last success before
  it (a run of failures that began before `before` still tells when its dunning ends);
- `History` per cancellation mode (`steps.MODES`): whether the account had paid before `before`,
  and its last churn at or before it, for telling `new` from `reactivation` later. It is
  summarised from the records with occurred_at < before, with "paid" meaning a priced
  subscription out of trial and not canceled (see `money.is_priced`).
A billing event older than the floor that arrives after compaction is still applied
exactly to MRR at every T >= floor; only the summary of the past (new vs reactivation)
does not see it.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any

from streams.contract.model import Event, Payment, SubscriptionCanceled, SubscriptionSet
from streams.engine.revenue.money import MONTHLY_FACTOR, Terms, is_priced, monthly_cents
from streams.engine.revenue.movements import NO_HISTORY, History, Movement, classify
from streams.engine.revenue.revenue_config import MODES, RevenueConfig
from streams.engine.revenue.steps import (
    CHANGED,
    FOREVER,
    STARTED,
    CancelRecord,
    SetRecord,
    Steps,
    SubState,
    Timeline,
    account_steps,
    cancel_gap,
    held,
    sub_timeline,
)
from streams.engine.timeline import DAY_MS

FAILED = 0
SUCCEEDED = 1
PaymentRecord = tuple[int, int, Decimal, str]
"""(occurred_at, FAILED | SUCCEEDED, amount, currency)."""

_SET_RANK = {"subscription_started": STARTED, "subscription_changed": CHANGED}
_PAYMENT_RANK = {"payment_failed": FAILED, "payment_succeeded": SUCCEEDED}
_record_key = itemgetter(0, 1, 2)
_NO_HISTORIES = (NO_HISTORY,) * len(MODES)
"""Every account's history before a floor until it has one (one tuple for all)."""


class _Subscription:
    __slots__ = ("sets", "cancels")

    def __init__(self) -> None:
        self.sets: list[SetRecord] = []
        self.cancels: list[CancelRecord] = []

    def timeline(self, known_until: int, mode: int) -> Timeline:
        return sub_timeline(self.sets, self.cancels, known_until, mode)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """An account's MRR over time and its movements, as known at some T, under one config."""

    timelines: list[Timeline]
    steps: Steps
    movements: list[Movement]
    customers: Steps
    """> 0 while the account is a customer: MRR > 0, or with `free_subscriptions = "active"`
    a subscription in force out of trial, free or not."""
    plan_labels: frozenset[str]
    """The `plan` labels of every started/changed record taken into account."""


def _paying_cents(config: RevenueConfig) -> Callable[[SubState], int]:
    def value(state: SubState) -> int:
        return monthly_cents(state.terms, config) if state is not None and state.paying else 0

    return value


def _in_force(state: SubState) -> int:
    return 1 if state is not None and state.paying else 0


def _priced(state: SubState) -> int:
    return 1 if state is not None and state.paying and is_priced(state.terms) else 0


class AccountRevenue:
    """The revenue state of one account (see the module docstring)."""

    __slots__ = (
        "_subs",
        "_payments",
        "_payment_times",
        "_floor",
        "_history",
        "_max_occurred",
        "_cache",
    )

    def __init__(self) -> None:
        self._subs: dict[str, _Subscription] = {}
        self._payments: list[PaymentRecord] = []
        self._payment_times: list[int] = []  # occurred_at of each payment record, same order
        self._floor: int | None = None
        # History before the floor, per cancellation mode (steps.MODES).
        self._history: tuple[History, ...] = _NO_HISTORIES
        self._max_occurred = -FOREVER
        self._cache: tuple[RevenueConfig, Evaluation] | None = None

    # --- events -------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Record a billing event; every other type is ignored. Raises ValueError for a
        billing event the schema should have rejected (unknown interval, count < 1)."""
        if isinstance(event, SubscriptionSet) and event.type in _SET_RANK:
            self._apply_set(event)
        elif isinstance(event, SubscriptionCanceled):
            self._apply_cancel(event)
        elif isinstance(event, Payment) and event.type in _PAYMENT_RANK:
            record = (
                event.occurred_at,
                _PAYMENT_RANK[event.type],
                event.amount,
                sys.intern(event.currency),
            )
            index = bisect_right(self._payments, record)
            self._payments.insert(index, record)
            self._payment_times.insert(index, event.occurred_at)
            self._touched(event.occurred_at)  # a payment can end or open a delinquency

    def _apply_set(self, event: SubscriptionSet) -> None:
        if event.interval not in MONTHLY_FACTOR or event.interval_count < 1:
            raise ValueError(
                f"invalid billing interval {event.interval_count} x {event.interval!r}"
            )
        terms = Terms(
            sys.intern(event.plan),
            event.amount,
            sys.intern(event.currency),
            sys.intern(event.interval),
            event.interval_count,
            event.quantity,
            event.discount_percent,
            event.trial_ends_at,
            event.occurred_at,
        )
        record: SetRecord = (event.occurred_at, _SET_RANK[event.type], event.event_id, terms)
        sub = self._subs.setdefault(event.subscription_id, _Subscription())
        if _insert_once(sub.sets, record, _record_key):
            self._touched(event.occurred_at)
            if self._floor is not None and event.occurred_at < self._floor:
                sub.sets = _compact_sets(sub.sets, self._floor)

    def _apply_cancel(self, event: SubscriptionCanceled) -> None:
        record: CancelRecord = (event.occurred_at, event.event_id, event.effective_at)
        sub = self._subs.setdefault(event.subscription_id, _Subscription())
        if _insert_once(sub.cancels, record, itemgetter(0, 1)):
            self._touched(event.occurred_at)

    def _touched(self, occurred_at: int) -> None:
        self._cache = None
        self._max_occurred = max(self._max_occurred, occurred_at)

    # --- answers ------------------------------------------------------------------------

    def evaluation(self, as_of: int, config: RevenueConfig) -> Evaluation:
        """MRR over time and the movements as known at `as_of` (cached while nothing changes)."""
        complete = as_of >= self._max_occurred
        cached = self._cache
        if complete and cached is not None and (cached[0] is config or cached[0] == config):
            return cached[1]
        mode = config.cancellation_mode
        known_until = FOREVER if complete else as_of
        timelines = [sub.timeline(known_until, mode) for sub in self._subs.values()]
        holds = self.delinquency(known_until, config)
        steps = held(account_steps(timelines, _paying_cents(config)), holds)
        window = (
            None
            if config.reactivation_window_days is None
            else config.reactivation_window_days * DAY_MS
        )
        customers = (
            held(account_steps(timelines, _in_force), holds)
            if config.free_subscriptions == "active"
            else steps
        )
        free_customers = customers if config.free_subscriptions == "active" else None
        movements = classify(
            steps,
            self._floor,
            self._history[mode],
            window,
            free_customers,
            frozenset(start for start, _end in holds),
        )
        plan_labels = frozenset(
            config.plan_label(record[3].plan)
            for sub in self._subs.values()
            for record in sub.sets
            if record[0] <= known_until
        )
        evaluation = Evaluation(timelines, steps, movements, customers, plan_labels)
        if complete:
            self._cache = (config, evaluation)
        return evaluation

    def forget_evaluation(self) -> None:
        """Drop the kept evaluation (about 1.6 KB on the benchmark's accounts): a reader
        that evaluates every account once, at one time, need not hold one per account."""
        self._cache = None

    def delinquency(self, known_until: int, config: RevenueConfig) -> list[tuple[int, int]]:
        """[start, end) spans in which the account is delinquent, from the payments with
        occurred_at <= known_until: a run of failed payments that starts at f (the first
        failure after a success, or ever) with no success in (f, f + window] is delinquent
        from f + window until its next success (a success at f itself sorts after the
        failure and ends the run). None with `dunning_window_days = "off"`."""
        if config.dunning_window_days is None:
            return []
        window = config.dunning_window_days * DAY_MS
        spans: list[tuple[int, int]] = []
        run_start: int | None = None
        for occurred_at, outcome, _amount, _currency in self._payments:
            if occurred_at > known_until:
                break
            if outcome == FAILED:
                if run_start is None:
                    run_start = occurred_at
            elif run_start is not None:
                if occurred_at > run_start + window:
                    spans.append((run_start + window, occurred_at))
                run_start = None
        if run_start is not None:
            spans.append((run_start + window, FOREVER))
        return spans

    def mrr_cents_at(self, t: int, config: RevenueConfig) -> int:
        """Account MRR at `t` in reporting cents, from the events with occurred_at <= t."""
        return self.evaluation(t, config).steps.at(t)

    def has_paid_by(self, as_of: int, config: RevenueConfig) -> bool:
        """Has the account had MRR > 0 at some time at or before `as_of` (compacted history
        included)? The lifecycle stage `churned` needs it."""
        steps = self.evaluation(as_of, config).steps
        end = bisect_right(steps.times, as_of)
        if any(value > 0 for value in steps.values[:end]):
            return True
        at_occurrence = config.churn_recognition == "occurred_at"
        return (
            self._floor is not None and self._floor <= as_of and self._history[at_occurrence].paid
        )

    def complete_at(self, as_of: int) -> bool:
        """Is every applied event at or before `as_of` (the evaluation at it is then the
        one kept for every later time, until the next event)?"""
        return as_of >= self._max_occurred

    def payment_times(self) -> list[int]:
        """The occurred_at of the kept payments, ascending."""
        return self._payment_times

    def payments_in(self, low_exclusive: int, high_inclusive: int) -> list[PaymentRecord]:
        """The payment records with occurred_at in (low_exclusive, high_inclusive]."""
        times = self._payment_times
        return self._payments[
            bisect_right(times, low_exclusive) : bisect_right(times, high_inclusive)
        ]

    def last_payment_failed(self, t: int) -> bool:
        """Whether the latest payment with occurred_at <= t failed (a success at the same
        millisecond sorts after a failure)."""
        index = bisect_right(self._payment_times, t) - 1
        return index >= 0 and self._payments[index][1] == FAILED

    # --- compaction ---------------------------------------------------------------------

    def prune(self, before: int) -> None:
        """Drop history no query at T >= before + 365d can need (see the module docstring)."""
        if self._floor is not None and before <= self._floor:
            return
        self._history = tuple(self._summarise(before, mode) for mode in MODES)
        for sub in self._subs.values():
            sub.cancels = [cancel for cancel in sub.cancels if _reaches(cancel, sub.sets, before)]
            sub.sets = _compact_sets(sub.sets, before)
        # keep the payments from the last success before the floor on: a run of failures
        # that began before the floor still tells when its dunning window ends
        older = bisect_left(self._payment_times, before)
        keep_from = next(
            (index for index in range(older - 1, -1, -1) if self._payments[index][1] == SUCCEEDED),
            0,
        )
        if keep_from > 0:
            del self._payments[:keep_from]
            del self._payment_times[:keep_from]
        self._floor = before
        self._cache = None

    def _summarise(self, before: int, mode: int) -> History:
        """The history before `before`, from the records with occurred_at < before."""
        timelines = [sub.timeline(before - 1, mode) for sub in self._subs.values()]
        steps = account_steps(timelines, _priced)
        paid, last_churn = self._history[mode]
        start = 0 if self._floor is None else bisect_right(steps.times, self._floor)
        previous = steps.values[start - 1] if start > 0 else 0
        paid = paid or previous > 0
        for time, current in zip(steps.times[start:], steps.values[start:], strict=True):
            if time > before:
                break
            if time < before and current > 0:
                paid = True
            if previous > 0 and current == 0:
                last_churn = time
            previous = current
        return History(paid, last_churn)

    # The byte form of this state: streams/engine/state_codec.py (revenue_to_bytes).


def _insert_once(records: list[tuple[Any, ...]], record: tuple[Any, ...], key: Any) -> bool:
    """Insert `record` at its sorted place unless a record with the same key is there."""
    record_key = key(record)
    index = bisect_left(records, record_key, key=key)
    if index < len(records) and key(records[index]) == record_key:
        return False
    records.insert(index, record)
    return True


def _compact_sets(sets: list[SetRecord], before: int) -> list[SetRecord]:
    """Of the records older than `before`, keep only the latest one."""
    older = bisect_left(sets, (before,))
    return sets if older <= 1 else sets[older - 1 :]


def _reaches(cancel: CancelRecord, sets: list[SetRecord], before: int) -> bool:
    """Whether the cancel's gap can hold the subscription at 0 at or after `before`, under
    any cancellation mode (recorded at or after `before` counts as reaching)."""
    if cancel[0] >= before:
        return True
    set_times = [record[0] for record in sets]
    return any(
        end > before and end > start
        for start, end in (cancel_gap(cancel, set_times, mode) for mode in MODES)
    )
