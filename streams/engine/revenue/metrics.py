"""revenue_samples: the revenue family's figures at T, summed over accounts.

Definitions (all money in the reporting currency; windows are (T - W, T]):
- `pulse_mrr{plan}`: account MRR at T, split by the plan of each paying subscription
  (the sum over plans is the total). `pulse_paying_accounts{plan}`: accounts with MRR > 0,
  each under the plan of its largest subscription (ties: the lexicographically smallest
  plan), so the sum over plans is the global count. Every plan seen in the state has a
  series (0 when nothing on it pays).
- `pulse_mrr_movement{kind, window="30d"}`: sum of the movements' amounts;
  `pulse_mrr_movement_accounts{kind, window="30d"}`: accounts with at least one movement of
  that kind. Net new MRR = new + expansion + reactivation - contraction - churn
  = MRR(T) - MRR(T - 30d).
- Retention over W = 30d, 90d and 365d (label `window`), cohort = the customers at T - W
  (accounts with MRR > 0, and with `free_subscriptions = "active"` also those with a free
  subscription in force out of trial, whose base MRR is 0); churned = not a customer at T:
  `pulse_retention_base_mrr` = their MRR at T - W, `pulse_retention_current_mrr` = their
  MRR at T, `pulse_retention_capped_mrr` = sum of min(MRR at T, MRR at T - W),
  `pulse_retention_base_accounts` = their number, `pulse_retention_churned_accounts` = those
  that are no longer customers at T. NRR = current / base, GRR = capped / base, customer churn ratio =
  churned / base accounts (0 when the cohort is empty).
- `pulse_arpa` = MRR / paying accounts (0 with none), in the reporting currency; a ratio of
  the two exact sums, not rounded (it is derived, like NRR).
- `pulse_mrr_quick_ratio{window="30d"}` = (new + expansion + reactivation) /
  (contraction + churn), 0 when nothing was lost.
- The churn family (ChartMogul's "standard" formulas; every account's movements over the
  MRR of all accounts at T - 30d, which is `pulse_retention_base_mrr`):
  `pulse_gross_mrr_churn_ratio{window="30d"}` = (churn + contraction) / MRR(T - 30d);
  `pulse_net_mrr_churn_ratio{window="30d"}` = (churn + contraction - expansion -
  reactivation) / MRR(T - 30d), negative when gains outweigh losses; 0 with no MRR at the
  start. `pulse_customer_churn_ratio` is the account (logo) churn of the start cohort.
- `pulse_trialing_accounts`: accounts with MRR 0 at T and at least one subscription in
  trial (in force, not canceled, trial_ends_at > T).
- `pulse_past_due_accounts`: accounts with MRR > 0 whose latest payment at or before T
  failed (in their dunning window: once it ends unpaid the MRR is 0);
  `pulse_past_due_mrr`: their MRR.
- `pulse_mrr_churn_involuntary{window="30d"}`: the part of the churn movements caused by a
  dunning window that ended unpaid; `..._accounts`: accounts with such a churn. Voluntary
  churn = churn - involuntary.
- `pulse_payments_failed{window="7d"}`, `pulse_payments_succeeded{window="7d"}`: payment
  events in the window; `..._amount` the sum of their amounts, each converted and rounded
  half-up to a cent.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from streams.engine.revenue.account import FAILED, SUCCEEDED, AccountRevenue
from streams.engine.revenue.money import amount_cents, monthly_cents
from streams.engine.revenue.movements import (
    CHURN,
    CONTRACTION,
    EXPANSION,
    GAINS,
    KINDS,
    REACTIVATION,
    in_window,
)
from streams.engine.revenue.revenue_config import OTHER_PLAN, RevenueConfig
from streams.engine.revenue.steps import FOREVER as NEVER
from streams.engine.revenue.steps import SubState, state_at
from streams.engine.samples import Labels, Sample, ratio_sample
from streams.engine.timeline import DAY_MS

MOVEMENT_WINDOW_MS = 30 * DAY_MS
RETENTION_WINDOWS: tuple[tuple[str, int], ...] = (
    ("30d", 30 * DAY_MS),
    ("90d", 90 * DAY_MS),
    ("365d", 365 * DAY_MS),
)
"""The retention windows: 30 days for a live board, 90 and 365 for the quarterly and annual
figures benchmarks quote (docs/metrics-revenue.md says how they relate)."""
LONGEST_WINDOW_MS = max(width for _, width in RETENTION_WINDOWS)
"""How far back any revenue answer at T reads (AccountRevenue.prune keeps this much)."""
PAYMENT_WINDOW_MS = 7 * DAY_MS
_W30: Labels = (("window", "30d"),)
_W7: Labels = (("window", "7d"),)

REVENUE_METRICS: dict[str, str] = {
    "pulse_mrr": "Monthly recurring revenue at T in the reporting currency, by plan of each subscription.",
    "pulse_paying_accounts": "Accounts with MRR > 0 at T, by plan of their largest subscription.",
    "pulse_mrr_movement": "Sum of MRR movements of each kind in the window, in the reporting currency.",
    "pulse_mrr_movement_accounts": "Accounts with at least one MRR movement of each kind in the window.",
    "pulse_net_revenue_retention_ratio": "MRR at T of the customers at T - W over their MRR at T - W.",
    "pulse_gross_revenue_retention_ratio": "As NRR, with each account's MRR at T capped at its MRR at T - W.",
    "pulse_customer_churn_ratio": "Share of the customers at T - W that are no longer customers at T.",
    "pulse_retention_base_mrr": "MRR at T - W of the customers at T - W (NRR and GRR denominator).",
    "pulse_retention_current_mrr": "MRR at T of the customers at T - W (NRR numerator).",
    "pulse_retention_capped_mrr": (
        "Sum of min(MRR at T, MRR at T - W) over the customers at T - W (GRR numerator)."
    ),
    "pulse_retention_base_accounts": "Customers at T - W (customer churn denominator).",
    "pulse_retention_churned_accounts": (
        "Customers at T - W that are no longer customers at T (customer churn numerator)."
    ),
    "pulse_arpa": "Average MRR per paying account at T, in the reporting currency.",
    "pulse_mrr_quick_ratio": "(new + expansion + reactivation) / (contraction + churn) MRR in the window.",
    "pulse_gross_mrr_churn_ratio": "(churn + contraction) MRR in the window over MRR at the window's start.",
    "pulse_net_mrr_churn_ratio": (
        "(churn + contraction - expansion - reactivation) MRR in the window over MRR at the window's start."
    ),
    "pulse_trialing_accounts": "Accounts with MRR 0 at T and a subscription in trial.",
    "pulse_past_due_accounts": "Paying accounts whose latest payment at or before T failed.",
    "pulse_past_due_mrr": "MRR of the paying accounts whose latest payment at or before T failed.",
    "pulse_mrr_churn_involuntary": "Churned MRR in the window whose cause is a dunning window that ended unpaid.",
    "pulse_mrr_churn_involuntary_accounts": "Accounts with an involuntary churn (dunning ended unpaid) in the window.",
    "pulse_payments_failed": "Failed payments in the window.",
    "pulse_payments_succeeded": "Succeeded payments in the window.",
    "pulse_payments_failed_amount": "Amount of the failed payments in the window, in the reporting currency.",
    "pulse_payments_succeeded_amount": "Amount of the succeeded payments in the window, in the reporting currency.",
}
"""Every metric name the revenue family emits, with a one-line help text."""


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def largest_plan(states: Iterable[SubState], config: RevenueConfig) -> str | None:
    """The plan of an account's largest paying subscription (ties: the lexicographically
    smallest plan), None when nothing pays: the plan an account is counted under."""
    largest: tuple[int, str] | None = None
    for state in states:
        if state is not None and state.paying:
            cents = monthly_cents(state.terms, config)
            if cents > 0 and (largest is None or (-cents, state.terms.plan) < largest):
                largest = (-cents, state.terms.plan)
    return None if largest is None else largest[1]


@dataclass(slots=True)
class RevenueTotals:
    """The running sums of the revenue family over accounts (one account's share: `tally`)."""

    plans: dict[str, int] = field(default_factory=dict)
    """Plan label -> accounts whose records name it (the labels seen in the state)."""
    mrr_by_plan: dict[str, int] = field(default_factory=dict)
    paying_by_plan: dict[str, int] = field(default_factory=dict)
    movement_cents: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    movement_accounts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    retention: dict[str, list[int]] = field(
        default_factory=lambda: {window: [0, 0, 0, 0, 0] for window, _ in RETENTION_WINDOWS}
    )
    """Per retention window: [base MRR, current MRR, capped MRR, base accounts, churned
    accounts]."""
    trialing: int = 0
    past_due: int = 0
    past_due_cents: int = 0
    involuntary_cents: int = 0
    involuntary_accounts: int = 0
    payment_count: list[int] = field(default_factory=lambda: [0, 0])  # by FAILED / SUCCEEDED
    payment_cents: list[int] = field(default_factory=lambda: [0, 0])


def revenue_samples(
    accounts: Iterable[AccountRevenue], as_of: int, config: RevenueConfig
) -> list[Sample]:
    """The revenue family's samples at `as_of` (see the module docstring)."""
    totals = RevenueTotals()
    for account in accounts:
        tally(account, as_of, config, totals)
    return samples(totals, config)


def tally(
    account: AccountRevenue, as_of: int, config: RevenueConfig, totals: RevenueTotals
) -> None:
    """Add one account's share of every revenue figure at `as_of` to `totals`."""
    mrr_by_plan, paying_by_plan = totals.mrr_by_plan, totals.paying_by_plan
    movement_cents, retention = totals.movement_cents, totals.retention
    drop_spells = config.same_window_new_and_churn == "ignore"
    evaluation = account.evaluation(as_of, config)
    mrr = evaluation.steps.at(as_of)
    for label in evaluation.plan_labels:
        totals.plans[label] = totals.plans.get(label, 0) + 1
    states = [state_at(timeline, as_of) for timeline in evaluation.timelines]
    if mrr > 0:
        for state in states:
            if state is not None and state.paying:
                label = config.plan_label(state.terms.plan)
                mrr_by_plan[label] = mrr_by_plan.get(label, 0) + monthly_cents(state.terms, config)
        plan = largest_plan(states, config)
        if plan is None:  # mrr > 0 needs a subscription with cents > 0
            raise RuntimeError("an account has MRR but no paying plan")
        label = config.plan_label(plan)
        paying_by_plan[label] = paying_by_plan.get(label, 0) + 1
        if account.last_payment_failed(as_of):
            totals.past_due += 1
            totals.past_due_cents += mrr
    elif any(state is not None and not state.paying for state in states):
        totals.trialing += 1

    customer_now = evaluation.customers.at(as_of) > 0
    for window, width in RETENTION_WINDOWS:
        if evaluation.customers.at(as_of - width) > 0:
            base = evaluation.steps.at(as_of - width)
            parts = retention[window]
            parts[0] += base
            parts[1] += mrr
            parts[2] += min(mrr, base)
            parts[3] += 1
            parts[4] += not customer_now

    kinds_seen: set[str] = set()
    involuntary = False
    for movement in in_window(evaluation.movements, as_of - MOVEMENT_WINDOW_MS, as_of, drop_spells):
        movement_cents[movement.kind] += movement.cents
        kinds_seen.add(movement.kind)
        if movement.involuntary:
            totals.involuntary_cents += movement.cents
            involuntary = True
    totals.involuntary_accounts += involuntary
    for kind in kinds_seen:
        totals.movement_accounts[kind] += 1

    payments = account.payments_in(as_of - PAYMENT_WINDOW_MS, as_of)
    for occurred_at, outcome, amount, currency in payments:
        totals.payment_count[outcome] += 1
        totals.payment_cents[outcome] += amount_cents(amount, currency, occurred_at, config)


_CHANGE_OFFSETS = tuple(
    sorted({0, PAYMENT_WINDOW_MS, MOVEMENT_WINDOW_MS, *(width for _, width in RETENTION_WINDOWS)})
)


def next_change(account: AccountRevenue, as_of: int, config: RevenueConfig) -> int:
    """The earliest time after T at which `tally` of this account can give other figures
    without a new event; early is allowed, late is not. `tally` reads T only through
    comparisons of T, T - 7d, T - 30d, T - 90d and T - 365d with the times of the
    evaluation (MRR and customer steps, subscription states, movements) and of the
    payments, so the next of those times plus an offset after T bounds it. An account
    with events after T (an evaluation that is not complete) is recounted at T + 1."""
    if not account.complete_at(as_of):
        return as_of + 1
    evaluation = account.evaluation(as_of, config)
    times = sorted(
        {
            *evaluation.steps.times,
            *evaluation.customers.times,
            *(time for timeline in evaluation.timelines for time, _state in timeline),
            *(movement.time for movement in evaluation.movements),
            *account.payment_times(),
        }
    )
    change = NEVER
    for offset in _CHANGE_OFFSETS:
        index = bisect_right(times, as_of - offset)
        if index < len(times) and times[index] + offset < change:
            change = times[index] + offset
    return change


def samples(totals: RevenueTotals, config: RevenueConfig) -> list[Sample]:
    """The revenue family's samples from the sums over accounts."""
    plans: set[str] = set(config.plan_labels) | ({OTHER_PLAN} if config.plan_labels else set())
    plans.update(label for label, count in totals.plans.items() if count)
    mrr_by_plan, paying_by_plan = totals.mrr_by_plan, totals.paying_by_plan
    movement_cents, movement_accounts = totals.movement_cents, totals.movement_accounts
    retention = totals.retention
    trialing, past_due, past_due_cents = totals.trialing, totals.past_due, totals.past_due_cents
    involuntary_cents, involuntary_accounts = totals.involuntary_cents, totals.involuntary_accounts
    payment_count, payment_cents = totals.payment_count, totals.payment_cents

    total_mrr = sum(mrr_by_plan.values())
    paying = sum(paying_by_plan.values())
    out: list[Sample] = []
    for plan in sorted(plans | set(mrr_by_plan)):
        out.append(Sample("pulse_mrr", (("plan", plan),), _money(mrr_by_plan.get(plan, 0))))
    for plan in sorted(plans | set(paying_by_plan)):
        out.append(Sample("pulse_paying_accounts", (("plan", plan),), paying_by_plan.get(plan, 0)))
    for kind in KINDS:
        labels: Labels = (("kind", kind), *_W30)
        out.append(Sample("pulse_mrr_movement", labels, _money(movement_cents[kind])))
        out.append(Sample("pulse_mrr_movement_accounts", labels, movement_accounts[kind]))
    for window, _width in RETENTION_WINDOWS:
        base_mrr, current_mrr, capped_mrr, base_accounts, churned_accounts = retention[window]
        labels = (("window", window),)
        out += [
            ratio_sample("pulse_net_revenue_retention_ratio", labels, current_mrr, base_mrr),
            ratio_sample("pulse_gross_revenue_retention_ratio", labels, capped_mrr, base_mrr),
            ratio_sample("pulse_customer_churn_ratio", labels, churned_accounts, base_accounts),
            Sample("pulse_retention_base_mrr", labels, _money(base_mrr)),
            Sample("pulse_retention_current_mrr", labels, _money(current_mrr)),
            Sample("pulse_retention_capped_mrr", labels, _money(capped_mrr)),
            Sample("pulse_retention_base_accounts", labels, base_accounts),
            Sample("pulse_retention_churned_accounts", labels, churned_accounts),
        ]
    start_mrr = retention["30d"][0]  # every account's MRR at T - 30d
    out += [
        ratio_sample("pulse_arpa", (), total_mrr, 100 * paying),
        ratio_sample(
            "pulse_mrr_quick_ratio",
            _W30,
            sum(movement_cents[kind] for kind in GAINS),
            movement_cents[CONTRACTION] + movement_cents[CHURN],
        ),
        ratio_sample(
            "pulse_gross_mrr_churn_ratio",
            _W30,
            movement_cents[CONTRACTION] + movement_cents[CHURN],
            start_mrr,
        ),
        ratio_sample(
            "pulse_net_mrr_churn_ratio",
            _W30,
            movement_cents[CONTRACTION]
            + movement_cents[CHURN]
            - movement_cents[EXPANSION]
            - movement_cents[REACTIVATION],
            start_mrr,
        ),
        Sample("pulse_trialing_accounts", (), trialing),
        Sample("pulse_past_due_accounts", (), past_due),
        Sample("pulse_past_due_mrr", (), _money(past_due_cents)),
        Sample("pulse_mrr_churn_involuntary", _W30, _money(involuntary_cents)),
        Sample("pulse_mrr_churn_involuntary_accounts", _W30, involuntary_accounts),
        Sample("pulse_payments_failed", _W7, payment_count[FAILED]),
        Sample("pulse_payments_succeeded", _W7, payment_count[SUCCEEDED]),
        Sample("pulse_payments_failed_amount", _W7, _money(payment_cents[FAILED])),
        Sample("pulse_payments_succeeded_amount", _W7, _money(payment_cents[SUCCEEDED])),
    ]
    return out
