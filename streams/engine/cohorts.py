"""Onboarding cohorts: activation, time to value, completion, trial conversion, stuck accounts.

Definitions at T (days are 24 h; windows (T - W, T]; an account's signup is its earliest
`signup`, see `journey`). With A = activation_days, C = completion_days, W = cohort_days:
- Activation time: the first `onboarding_completed` (activation = "onboarding_completed",
  the default) or the first `feature_used` of one of `core_features` (activation =
  "core_feature"), at or before T. Time to value (TTV) = activation time - signup, 0 when
  the activation came first.
- Activation cohort: accounts whose signup lies in (T - A - W, T - A], so every member
  has had its full A days. Activated: its activation time is at most A days after its
  signup. Activation rate = activated / cohort. TTV median and p90 (nearest rank: the
  smallest value with at least p % of the values at or below it) over the activated members.
- Completion cohort: signup in (T - C - W, T - C]; completed: an `onboarding_completed`
  at most C days after the signup. Completion rate = completed / cohort; average
  completion time = the sum of (completion - signup) over the completed members / their
  number (the seed's "250 days over 10 customers = 25 days", over those who completed,
  as seed 000 advises, so the unfinished do not bias it).
- Trial conversion: trials (a subscription's `trial_ends_at`) that ended in
  (T - trial_window_days, T], from the billing records known at T; converted: the
  subscription pays at its trial's end. Rate = converted / ended.
- Progress: the configured `steps` completed by T / their number (None without a
  signup at T or without configured steps); days_since_step: whole days since the
  latest of those steps (or the signup) while the account is onboarding.
- Stuck in onboarding: signed up at most `max_onboarding_days` ago, not completed by T,
  and no onboarding step (nor the signup) in the last `stuck_days` days.
Every count is per account and additive: the global figure is the sum over accounts
(`totals`), ratios are computed once from the sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.engine.accounts_config import OnboardingConfig
from streams.engine.journey import Journey
from streams.engine.revenue.money import monthly_cents
from streams.engine.revenue.revenue_config import RevenueConfig
from streams.engine.revenue.steps import Timeline, state_at
from streams.engine.timeline import DAY_MS

ADDITIVE: tuple[str, ...] = (
    "activation_cohort",
    "activated",
    "ttv_days_sum",
    "completion_cohort",
    "completed",
    "completion_days_sum",
    "trials_ended",
    "trials_converted",
    "stuck",
)
"""The additive fields of an account's `onboarding` block (and of the global totals)."""


def activation_time(journey: Journey, config: OnboardingConfig, as_of: int) -> int | None:
    if config.activation == "core_feature":
        return journey.first_use_of(config.core_features, as_of)
    return Journey.at(journey.completed, as_of)


def account_onboarding(
    journey: Journey,
    timelines: list[Timeline],
    as_of: int,
    config: OnboardingConfig,
    revenue_config: RevenueConfig,
) -> dict[str, Any]:
    """The onboarding block of one account's record at T."""
    signup = Journey.at(journey.signup, as_of)
    completed = Journey.at(journey.completed, as_of)
    activated_at = activation_time(journey, config, as_of)
    steps_done, last_step = journey.steps_done(as_of, config.steps)
    out: dict[str, Any] = {
        "signup_at": signup,
        "steps_done": steps_done,
        "steps_total": len(config.steps) if config.steps else None,
        "progress": steps_done / len(config.steps) if config.steps and signup is not None else None,
        "last_step_at": last_step,
        "completed_at": completed,
        "activated_at": activated_at,
        "time_to_value_days": None,
        "completion_time_days": None,
        "days_since_step": None,
        **dict.fromkeys(ADDITIVE, 0),
    }
    if signup is not None:
        if activated_at is not None:
            out["time_to_value_days"] = max(0, activated_at - signup) / DAY_MS
        if completed is not None:
            out["completion_time_days"] = max(0, completed - signup) / DAY_MS
        activation_ms, completion_ms, cohort_ms = (
            config.ms("activation_days"),
            config.ms("completion_days"),
            config.ms("cohort_days"),
        )
        if as_of - activation_ms - cohort_ms < signup <= as_of - activation_ms:
            out["activation_cohort"] = 1
            if activated_at is not None and activated_at - signup <= activation_ms:
                out["activated"] = 1
                out["ttv_days_sum"] = out["time_to_value_days"]
        if as_of - completion_ms - cohort_ms < signup <= as_of - completion_ms:
            out["completion_cohort"] = 1
            if completed is not None and completed - signup <= completion_ms:
                out["completed"] = 1
                out["completion_days_sum"] = out["completion_time_days"]
        if completed is None and as_of - signup <= config.ms("max_onboarding_days"):
            latest = max(signup, last_step) if last_step is not None else signup
            out["days_since_step"] = (as_of - latest) // DAY_MS
            if as_of - latest > config.ms("stuck_days"):
                out["stuck"] = 1
    ended, converted = trials(timelines, as_of, config.ms("trial_window_days"), revenue_config)
    out["trials_ended"], out["trials_converted"] = ended, converted
    return out


def trials(
    timelines: Iterable[Timeline], as_of: int, window_ms: int, config: RevenueConfig
) -> tuple[int, int]:
    """(trials that ended in (T - W, T], those whose subscription pays at the trial's end)."""
    ended = converted = 0
    for timeline in timelines:
        ends = {
            state.terms.trial_ends_at
            for _time, state in timeline
            if state is not None and not state.paying and state.terms.trial_ends_at is not None
        }
        for end in ends:
            if end is None:  # excluded above; the check narrows the type
                continue
            if as_of - window_ms < end <= as_of:
                ended += 1
                state = state_at(timeline, end)
                if state is not None and state.paying and monthly_cents(state.terms, config) > 0:
                    converted += 1
    return ended, converted


@dataclass(slots=True)
class OnboardingTotals:
    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ADDITIVE, 0))
    ttv_days: list[float] = field(default_factory=list)

    def add(self, block: dict[str, Any]) -> None:
        for key in ADDITIVE:
            self.counts[key] += block[key]
        if block["activated"]:
            self.ttv_days.append(block["time_to_value_days"])

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        return {
            **counts,
            "activation_rate": _rate(counts["activated"], counts["activation_cohort"]),
            "ttv_median_days": nearest_rank(self.ttv_days, 50),
            "ttv_p90_days": nearest_rank(self.ttv_days, 90),
            "completion_rate": _rate(counts["completed"], counts["completion_cohort"]),
            "average_completion_days": _rate(counts["completion_days_sum"], counts["completed"]),
            "trial_conversion_rate": _rate(counts["trials_converted"], counts["trials_ended"]),
        }


def totals(blocks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The global onboarding figures: sums of the accounts' additive fields, and the rates."""
    running = OnboardingTotals()
    for block in blocks:
        running.add(block)
    return running.summary()


def nearest_rank(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def _rate(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None
