"""Engine: typed events in, "the metrics as of T" out.

The engine keeps one `AccountState` per account_id behind `AccountStore`
(streams/engine/store.py), the narrow mapping interface a dict implements (replay, tests)
and the worker's partition cache implements. `apply` is the only write; `snapshot(as_of)` reads every account and returns the
samples of every metric family, additive figures summed over accounts and ratios computed
once from those sums (an empty denominator gives 0).

Evaluation time: a snapshot at T uses only events with occurred_at <= T, so T may lie in
the past. It is exact for any T no further behind an account's stream time (its latest
event) than the late policy's horizon (35 days for activity, 95 for surveys); state older
than that ages out (`prune`, and automatically for the users an event touches).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from streams.contract.model import Event
from streams.engine import activity, adoption, lifecycle, sessions, support, surveys
from streams.engine.account import AccountState
from streams.engine.engine_config import EngineConfig
from streams.engine.revenue import REVENUE_METRICS, RevenueConfig
from streams.engine.revenue import metrics as revenue
from streams.engine.samples import Sample
from streams.engine.store import AccountStore
from streams.engine.timeline import SECOND_MS

EVALUATION_HELP = "The evaluation time T of this snapshot, in seconds since the epoch (UTC)."

METRIC_HELP: dict[str, str] = {
    "pulse_evaluation_timestamp_seconds": EVALUATION_HELP,
    **activity.HELP,
    **adoption.HELP,
    **sessions.HELP,
    **support.HELP,
    **surveys.HELP,
    **lifecycle.HELP,
    **REVENUE_METRICS,
}
"""Metric name -> its one-line definition, the HELP text of the exposition."""

GLOBAL_RATIOS: frozenset[str] = frozenset(
    {
        "pulse_stickiness_ratio",
        "pulse_average_stickiness_ratio",
        "pulse_feature_adoption_ratio",
        "pulse_csat_ratio",
        "pulse_nps_score",
        "pulse_ces_score",
        "pulse_net_revenue_retention_ratio",
        "pulse_gross_revenue_retention_ratio",
        "pulse_customer_churn_ratio",
        "pulse_arpa",
        "pulse_mrr_quick_ratio",
        "pulse_gross_mrr_churn_ratio",
        "pulse_net_mrr_churn_ratio",
    }
)
"""The ratio and score gauges of a snapshot: exact only over every account, since a ratio
of one worker's partitions cannot be combined with another's. The worker exports their
additive numerators and denominators only and ops/prometheus/rules/recording.yml divides
the sums; `pulse replay`, which sees every account, may print them."""


T = TypeVar("T")
Steps = Generator[None, None, T]
"""Work cut in steps: a generator that yields between steps and returns the result."""


def run_steps(steps: Steps[T]) -> T:
    """The result of `steps`, all of them run at once."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result


@dataclass(slots=True)
class Totals:
    """The running sums of one snapshot."""

    activity: activity.ActivityTotals = field(default_factory=activity.ActivityTotals)
    adoption: adoption.AdoptionTotals = field(default_factory=adoption.AdoptionTotals)
    sessions: sessions.SessionTotals = field(default_factory=sessions.SessionTotals)
    support: support.SupportTotals = field(default_factory=support.SupportTotals)
    surveys: surveys.SurveyTotals = field(default_factory=surveys.SurveyTotals)
    lifecycle: lifecycle.LifecycleTotals = field(default_factory=lifecycle.LifecycleTotals)
    revenue: revenue.RevenueTotals = field(default_factory=revenue.RevenueTotals)


class Engine:
    def __init__(
        self,
        config: EngineConfig | None = None,
        revenue_config: RevenueConfig | None = None,
        store: AccountStore[AccountState] | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.revenue_config = revenue_config or RevenueConfig()
        self.store: AccountStore[AccountState] = {} if store is None else store

    def apply(self, event: Event) -> None:
        """Apply one admitted (decoded, de-duplicated, not too late) event."""
        store = self.store
        account_id = event.account_id
        state = store.get(account_id)
        if state is None:
            state = AccountState()
        state.apply(event, self.config)
        store[account_id] = state  # write back: a table row is a value, not a reference

    def apply_batch(self, events: Iterable[Event]) -> None:
        """Apply admitted events in order, writing each touched account to the store once
        (one changelog write per account per batch instead of one per event)."""
        store = self.store
        config = self.config
        touched: dict[str, AccountState] = {}
        for event in events:
            account_id = event.account_id
            state = touched.get(account_id)
            if state is None:
                state = store.get(account_id)
                if state is None:
                    state = AccountState()
                touched[account_id] = state
            state.apply(event, config)
        for account_id, state in touched.items():
            store[account_id] = state

    def accounts(self) -> Iterator[AccountState]:
        return iter(self.store.values())

    def prune(self, account_ids: Iterable[str] | None = None, *, step_ms: int = 0) -> list[str]:
        """Age out old state (relative to each account's own clocks) in `account_ids`
        (default: every account), skipping accounts pruned less than `step_ms` of stream
        time ago. A pruned account is written back; an account left empty is deleted.
        Returns the deleted account ids. No snapshot within the late horizon changes."""
        store = self.store
        deleted = []
        for account_id in list(store.keys() if account_ids is None else account_ids):
            state = store.get(account_id)
            if state is None or (step_ms and not state.prune_due(step_ms)):
                continue
            state.prune(self.config)
            if state.is_empty():
                del store[account_id]
                deleted.append(account_id)
            else:
                store[account_id] = state
        return deleted

    def snapshot(self, as_of: int, *, keep_evaluations: bool = True) -> list[Sample]:
        """Every metric as of `as_of` (epoch ms), from the events at or before it
        (`keep_evaluations`: see `tally_steps`)."""
        return run_steps(self.snapshot_steps(as_of, 0, keep_evaluations=keep_evaluations))

    def snapshot_steps(
        self, as_of: int, accounts_per_step: int, *, keep_evaluations: bool = True
    ) -> Steps[list[Sample]]:
        """`snapshot` as steps: yields after every `accounts_per_step` accounts tallied (0:
        never) and returns the samples. A caller on an event loop serves other work between
        two steps; the store must not change meanwhile (the accounts are listed once, at
        the start, and the sums would mix two states)."""
        totals = yield from self.tally_steps(
            as_of, accounts_per_step, keep_evaluations=keep_evaluations
        )
        return self.samples(totals, as_of)

    def tally_steps(
        self, as_of: int, accounts_per_step: int, *, keep_evaluations: bool = True
    ) -> Steps[Totals]:
        """Every account's share of the snapshot at `as_of`, summed (the step rule of
        `snapshot_steps`). Every field is an integer sum, so the totals of disjoint sets
        of accounts add up to the totals of their union (`sum_totals`).
        `keep_evaluations=False`: each account's revenue evaluation is dropped once
        tallied, for a caller that evaluates once (a replay), not on every scrape."""
        config = self.config
        totals = Totals()
        listed = frozenset(config.features) if config.features else None
        days = activity.calendar_bounds(as_of, config)
        states = list(self.store.values())
        step = accounts_per_step or len(states) + 1
        for index, state in enumerate(states, 1):
            _tally_account(state, as_of, config, days, totals, listed)
            if state.revenue is not None:
                revenue.tally(state.revenue, as_of, self.revenue_config, totals.revenue)
                if not keep_evaluations:
                    state.revenue.forget_evaluation()
            if index % step == 0:
                yield
        return totals

    def window_feature_sets(self, as_of: int) -> dict[frozenset[str], int]:
        """How many users used each set of features in the adoption window (users who used
        none left out): what the unlabelled `other` count needs from accounts that another
        process holds (`adoption.users_outside`)."""
        feature_sets: dict[frozenset[str], int] = {}
        for state in self.store.values():
            for user in state.users.values():
                if user.feature_names and (used := adoption.window_features(user, as_of)):
                    feature_sets[used] = feature_sets.get(used, 0) + 1
        return feature_sets

    def samples(
        self,
        totals: Totals,
        as_of: int,
        feature_sets: Mapping[frozenset[str], int] | None = None,
    ) -> list[Sample]:
        """The samples of every family from the sums over every account at `as_of` (the
        full snapshot's, or the ones an incremental snapshot keeps). `feature_sets`: every
        account's `window_feature_sets`, summed, when the store does not hold them all."""
        config = self.config
        listed = frozenset(config.features) if config.features else None
        labelled = adoption.labelled_features(totals.adoption, config)
        if listed is not None:
            other_users, emit_other = totals.adoption.other_users, True
        elif len(totals.adoption.users_by_feature) > len(labelled):
            if feature_sets is None:
                feature_sets = self.window_feature_sets(as_of)
            other_users, emit_other = adoption.users_outside(feature_sets, labelled), True
        else:
            other_users, emit_other = 0, False
        out = [Sample("pulse_evaluation_timestamp_seconds", (), as_of / SECOND_MS)]
        out += activity.samples(totals.activity)
        out += adoption.samples(
            totals.adoption,
            labelled,
            other_users,
            emit_other,
            totals.activity.active[activity.ACTIVE_30D],
        )
        out += sessions.samples(totals.sessions)
        out += support.samples(totals.support)
        out += surveys.samples(totals.surveys)
        out += lifecycle.samples(totals.lifecycle)
        out += revenue.samples(totals.revenue, self.revenue_config)
        return out


def _tally_account(
    state: AccountState,
    as_of: int,
    config: EngineConfig,
    days: tuple[int, ...],
    totals: Totals,
    listed: frozenset[str] | None,
) -> None:
    gap = config.session_gap_ms
    activity_totals = totals.activity
    adoption_totals = totals.adoption
    session_totals = totals.sessions
    for user in state.users.values():
        activity.tally_user(user, as_of, days, config, activity_totals)
        if sessions.has_entries(user):
            sessions.tally(user, as_of, gap, session_totals)
        if user.feature_names:
            adoption.tally(user, as_of, adoption_totals, listed)
    if state.tickets:
        support.tally(state.tickets, as_of, totals.support)
    if state.responses:
        surveys.tally(state.responses, as_of, totals.surveys)
    if state.milestones:
        lifecycle.tally(state.milestones, as_of, totals.lifecycle)
