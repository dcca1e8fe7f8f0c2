"""The account record: everything a CS team reads about one account at evaluation time T.

One function, `account_records`, computes the records of every account from the engine's
state at T; `pulse accounts` calls it over a replayed file and the worker's HTTP API
calls it over its tables, so both serve identical records. The record reuses the
engine's definitions: per-account figures are the same `tally` functions the global
gauges sum (activity, sessions, adoption, support, surveys) and the revenue family's
evaluation, so wherever a global figure is additive it equals the sum of the records.

Fields at T (windows (T - W, T]; times are epoch ms, None when unknown):
- account_id; name, segment, owner, renewal_at, seats_purchased: the latest
  `account_updated` at or before T (`crm`).
- stage (checked in this order): `churned` (MRR 0 at T, no subscription in trial, and the
  account paid at some time before); `trial` (MRR 0 and a subscription in trial);
  `onboarding` (a signup, no `onboarding_completed` by T, signed up at most
  `max_onboarding_days` ago); `active` (everything else: paying, or known from activity
  alone).
- started_at (earliest signup, subscription_started, login or feature_used) and
  tenure_days (whole days from it to T).
- plan: the plan of the largest paying subscription, else of a subscription in trial
  (smallest name), else None. mrr, arr = 12 x mrr: in the reporting currency (Decimal).
- seats_paid: the quantity summed over the subscriptions with MRR > 0 at T (None when
  nothing pays);
  license_utilisation = active_users_30d / seats_paid.
- active_users_1d/7d/30d, stickiness (1d / 30d, None with nobody active), logins_7d.
- feature_adoption: for each feature the plan entitles (`[accounts.plans]`), its users
  over 30 days / active_users_30d (None with nobody active); features outside the plan
  are not listed, never 0. feature_users: the same numerators.
- sessions_7d, session_time_7d_seconds: closed sessions that ended in 7 days.
- last_activity_at: the latest event kept at T that made a user active (a `login` or
  `feature_used` by `[engine] activity_types` and `core_features`, the rule of the active
  users; exact when T is at or after it); days_since_activity: whole days since then,
  0..30, 30 meaning 30 or more (exact: the activity state answers every window of whole
  days), None when the account never had such an event by T.
- tickets_open, urgent_tickets_open, tickets_opened_30d.
- csat_90d (0..1), nps_90d (-100..100), ces_90d: None without responses; the counts
  behind them.
- payment_status: `past_due` (paying, latest payment at or before T failed), `current`
  (paying otherwise), None (not paying); past_due_since: the first failed payment after
  the latest successful one; days_past_due: whole days since then (0 when current).
- days_to_renewal: whole days from T to renewal_at (negative when it has passed).
- mrr_30d_ago and mrr_movements_30d (per kind, the revenue family's movements).
- onboarding: the block of `cohorts.account_onboarding`.
- measures: the values the health profiles read (streams.engine.health.MEASURES);
  health: profile, score, band, trend_7d, trend_30d and the explanation. The trend is
  score(T) minus the score of the same function at T - 7d (T - 30d); None when either
  is None or the account had no event yet at the earlier time. It is exact while T is
  within 5 days of the account's latest event (the earlier record then lies within the
  late horizons the state keeps).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from streams.contract.rfc3339 import rfc3339_ms
from streams.engine import activity, adoption, cohorts, crm, sessions, support, surveys
from streams.engine.account import AccountState
from streams.engine.accounts_config import AccountsConfig
from streams.engine.engine_config import EngineConfig
from streams.engine.health import Health, score
from streams.engine.journey import Journey
from streams.engine.revenue import RevenueConfig
from streams.engine.revenue.account import FAILED, PaymentRecord
from streams.engine.revenue.metrics import largest_plan
from streams.engine.revenue.money import monthly_cents
from streams.engine.revenue.movements import KINDS, in_window
from streams.engine.revenue.steps import Timeline, state_at
from streams.engine.timeline import DAY_MS, NO_TIME, SECOND_MS

MOVEMENT_WINDOW_MS = 30 * DAY_MS
TICKETS_WINDOW_MS = 30 * DAY_MS
ACTIVITY_CAP_DAYS = 30
TREND_DAYS: tuple[int, ...] = (7, 30)
SESSIONS_MEASURE = "sessions_7d_per_active_user"


def account_records(
    accounts: Iterable[tuple[str, AccountState]],
    as_of: int,
    engine_config: EngineConfig,
    revenue_config: RevenueConfig,
    accounts_config: AccountsConfig,
) -> list[dict[str, Any]]:
    """The record of every (account_id, state) at `as_of`, sorted by account_id."""
    return list(
        iter_account_records(accounts, as_of, engine_config, revenue_config, accounts_config)
    )


def iter_account_records(
    accounts: Iterable[tuple[str, AccountState]],
    as_of: int,
    engine_config: EngineConfig,
    revenue_config: RevenueConfig,
    accounts_config: AccountsConfig,
    *,
    keep_evaluations: bool = True,
) -> Iterator[dict[str, Any]]:
    """`account_records` one at a time, for a reader that keeps none of them (a replay's
    aggregates and watchlist: on 100,000 users the records of every account held at once
    were about 7 KB per account). `keep_evaluations=False`: each account's revenue
    evaluation is dropped once its record is made (a reader that makes each record once)."""
    for account_id, state in sorted(accounts, key=lambda item: item[0]):
        yield account_record(
            account_id, state, as_of, engine_config, revenue_config, accounts_config
        )
        if not keep_evaluations and state.revenue is not None:
            state.revenue.forget_evaluation()


def account_record(
    account_id: str,
    state: AccountState,
    as_of: int,
    engine_config: EngineConfig,
    revenue_config: RevenueConfig,
    accounts_config: AccountsConfig,
) -> dict[str, Any]:
    record = _record_at(account_id, state, as_of, engine_config, revenue_config, accounts_config)
    health = _health(record, accounts_config)
    trends: dict[str, float | None] = {}
    for days in TREND_DAYS:
        then = as_of - days * DAY_MS
        before = None
        if state.journey.exists_at(then):
            _, earlier = _lean_health(
                account_id, state, then, engine_config, revenue_config, accounts_config
            )
            before = earlier.score
        trends[f"trend_{days}d"] = (
            None if health.score is None or before is None else round(health.score - before, 6)
        )
    record["health"] = {
        "profile": health.profile,
        "score": health.score,
        "band": health.band,
        **trends,
        "explanation": list(health.explanation),
    }
    return record


def account_band_and_mrr(
    account_id: str,
    state: AccountState,
    as_of: int,
    engine_config: EngineConfig,
    revenue_config: RevenueConfig,
    accounts_config: AccountsConfig,
) -> tuple[str, Any]:
    """(health band, MRR) of the account's record at `as_of`: what `account_record` gives
    in `["health"]["band"]` and `["mrr"]`, without the trend's two earlier evaluations (a
    reader of band totals, such as the portfolio report's daily chart, at a third of a
    record's cost)."""
    record, health = _lean_health(
        account_id, state, as_of, engine_config, revenue_config, accounts_config
    )
    return health.band, record["mrr"]


def _lean_health(
    account_id: str,
    state: AccountState,
    as_of: int,
    engine_config: EngineConfig,
    revenue_config: RevenueConfig,
    accounts_config: AccountsConfig,
) -> tuple[dict[str, Any], Health]:
    """The record at `as_of` (without its trend) and its health. Its sessions, the
    costliest family to count, are counted only when a profile scores them (none of the
    shipped ones does): the health is the same either way."""
    record = _record_at(
        account_id,
        state,
        as_of,
        engine_config,
        revenue_config,
        accounts_config,
        with_sessions=accounts_config.health.scores(SESSIONS_MEASURE),
    )
    return record, _health(record, accounts_config)


def _health(record: dict[str, Any], config: AccountsConfig) -> Health:
    profile = config.health.profile_for(record["segment"], record["plan"], record["tenure_days"])
    return score(record["measures"], profile, config.health)


def _record_at(
    account_id: str,
    state: AccountState,
    as_of: int,
    engine_config: EngineConfig,
    revenue_config: RevenueConfig,
    accounts_config: AccountsConfig,
    with_sessions: bool = True,
) -> dict[str, Any]:
    """The record at `as_of` without its health; `with_sessions=False` leaves the session
    figures None (a record made for a health that does not score them)."""
    gap = engine_config.session_gap_ms
    active = activity.ActivityTotals()
    used = adoption.AdoptionTotals()
    closed = sessions.SessionTotals() if with_sessions else None
    latest = NO_TIME
    for user in state.users.values():
        activity.tally(user, as_of, active)
        if closed is not None and sessions.has_entries(user):
            sessions.tally(user, as_of, gap, closed)
        if user.feature_names:
            adoption.tally(user, as_of, used, None)
        latest = max(latest, activity.latest_at(user, as_of))
    tickets = support.SupportTotals()
    if state.tickets:
        support.tally(state.tickets, as_of, tickets)
    answers = surveys.SurveyTotals()
    if state.responses:
        surveys.tally(state.responses, as_of, answers)
    facts = crm.facts_at(state.facts, as_of)
    journey = state.journey

    # revenue
    mrr_cents = base_cents = 0
    plan: str | None = None
    seats_paid: int | None = None
    trialing = paid_before = False
    past_due_since: int | None = None
    movements = dict.fromkeys(KINDS, 0)
    timelines: list[Timeline] = []
    if state.revenue is not None:
        revenue = state.revenue
        evaluation = revenue.evaluation(as_of, revenue_config)
        timelines = evaluation.timelines
        mrr_cents = evaluation.steps.at(as_of)
        base_cents = evaluation.steps.at(as_of - MOVEMENT_WINDOW_MS)
        states = [state_at(timeline, as_of) for timeline in timelines]
        plan = largest_plan(states, revenue_config)
        paying = [
            s
            for s in states
            if s is not None and s.paying and monthly_cents(s.terms, revenue_config) > 0
        ]
        if mrr_cents > 0:
            seats_paid = sum(s.terms.quantity for s in paying)
        in_trial = sorted(s.terms.plan for s in states if s is not None and not s.paying)
        trialing = bool(in_trial)
        if plan is None and in_trial:
            plan = in_trial[0]
        paid_before = revenue.has_paid_by(as_of, revenue_config)
        if mrr_cents > 0 and revenue.last_payment_failed(as_of):
            past_due_since = _failure_run_start(revenue.payments_in(NO_TIME, as_of))
        for movement in in_window(
            evaluation.movements,
            as_of - MOVEMENT_WINDOW_MS,
            as_of,
            revenue_config.same_window_new_and_churn == "ignore",
        ):
            movements[movement.kind] += movement.cents

    signup = Journey.at(journey.signup, as_of)
    onboarding = cohorts.account_onboarding(
        journey, timelines, as_of, accounts_config.onboarding, revenue_config
    )
    if mrr_cents == 0 and not trialing and paid_before:
        stage = "churned"
    elif mrr_cents == 0 and trialing:
        stage = "trial"
    elif (
        signup is not None
        and onboarding["completed_at"] is None
        and as_of - signup <= accounts_config.onboarding.ms("max_onboarding_days")
    ):
        stage = "onboarding"
    else:
        stage = "active"

    starts = [t for t in (journey.started, journey.first_active) if t != NO_TIME and t <= as_of]
    started = min(starts) if starts else None
    active_1d, active_7d, active_30d = active.active
    features = accounts_config.features_of(plan)
    feature_users = {feature: used.users_by_feature.get(feature, 0) for feature in features}
    feature_adoption = {
        f: (n / active_30d if active_30d else None) for f, n in feature_users.items()
    }
    adoption_values = [v for v in feature_adoption.values() if v is not None]
    ever_active = journey.first_counted != NO_TIME and journey.first_counted <= as_of
    if latest != NO_TIME:
        days_since_activity: int | None = min(ACTIVITY_CAP_DAYS, (as_of - latest) // DAY_MS)
    else:
        days_since_activity = ACTIVITY_CAP_DAYS if ever_active else None
    nps_responses, _csat_survey, ces_responses = answers.responses
    renewal_at = facts.renewal_at if facts is not None else None
    payment_status = (
        None if mrr_cents == 0 else "past_due" if past_due_since is not None else "current"
    )
    days_past_due = (
        None
        if payment_status is None
        else 0
        if past_due_since is None
        else (as_of - past_due_since) // DAY_MS
    )
    mrr = Decimal(mrr_cents).scaleb(-2)

    record: dict[str, Any] = {
        "account_id": account_id,
        "name": facts.name if facts else None,
        "segment": facts.segment if facts else None,
        "owner": facts.owner if facts else None,
        "stage": stage,
        "started_at": started,
        "tenure_days": None if started is None else (as_of - started) // DAY_MS,
        "plan": plan,
        "mrr": mrr,
        "arr": mrr * 12,
        "seats_paid": seats_paid,
        "seats_purchased": facts.seats_purchased if facts else None,
        "active_users_1d": active_1d,
        "active_users_7d": active_7d,
        "active_users_30d": active_30d,
        "stickiness": active_1d / active_30d if active_30d else None,
        "license_utilisation": active_30d / seats_paid if seats_paid else None,
        "logins_7d": active.logins[activity.LOGINS_7D],
        "feature_users": feature_users,
        "feature_adoption": feature_adoption,
        "sessions_7d": None if closed is None else closed.closed,
        "session_time_7d_seconds": None if closed is None else closed.duration_ms / SECOND_MS,
        "last_activity_at": None if latest == NO_TIME else latest,
        "days_since_activity": days_since_activity,
        "tickets_open": sum(tickets.open_by_priority.values()),
        "urgent_tickets_open": tickets.open_by_priority["urgent"],
        "tickets_opened_30d": support.opened_in(state.tickets, as_of, TICKETS_WINDOW_MS),
        "csat_ratings_90d": answers.csat_ratings,
        "csat_90d": answers.csat_satisfied / answers.csat_ratings if answers.csat_ratings else None,
        "nps_responses_90d": nps_responses,
        "nps_90d": 100 * (answers.nps_promoters - answers.nps_detractors) / nps_responses
        if nps_responses
        else None,
        "ces_responses_90d": ces_responses,
        "ces_90d": answers.ces_score_sum / ces_responses if ces_responses else None,
        "payment_status": payment_status,
        "past_due_since": past_due_since,
        "days_past_due": days_past_due,
        "renewal_at": renewal_at,
        "days_to_renewal": None if renewal_at is None else (renewal_at - as_of) // DAY_MS,
        "mrr_30d_ago": Decimal(base_cents).scaleb(-2),
        "mrr_movements_30d": {kind: Decimal(cents).scaleb(-2) for kind, cents in movements.items()},
        "onboarding": onboarding,
    }
    record["measures"] = {
        "stickiness": record["stickiness"],
        "active_users_30d": active_30d,
        "days_since_activity": days_since_activity,
        SESSIONS_MEASURE: closed.closed / active_7d if closed is not None and active_7d else None,
        "license_utilisation": record["license_utilisation"],
        "plan_feature_adoption": sum(adoption_values) / len(adoption_values)
        if adoption_values
        else None,
        "tickets_open": record["tickets_open"],
        "urgent_tickets_open": record["urgent_tickets_open"],
        "tickets_opened_30d": record["tickets_opened_30d"],
        "csat": record["csat_90d"],
        "nps": record["nps_90d"],
        "ces": record["ces_90d"],
        "days_past_due": days_past_due,
        "mrr_change_30d_ratio": (mrr_cents - base_cents) / base_cents if base_cents else None,
        "onboarding_progress": onboarding["progress"],
        "days_since_onboarding_step": onboarding["days_since_step"],
        "activated": None if signup is None else int(onboarding["activated_at"] is not None),
    }
    return record


def _failure_run_start(payments: list[PaymentRecord]) -> int | None:
    """The first failed payment after the latest successful one (payments in time order)."""
    start = None
    for occurred_at, outcome, _amount, _currency in payments:
        if outcome == FAILED:
            if start is None:
                start = occurred_at
        else:
            start = None
    return start


# --------------------------------------------------------------------------- JSON

TIME_FIELDS = frozenset(
    {
        "started_at",
        "last_activity_at",
        "past_due_since",
        "renewal_at",
        "signup_at",
        "last_step_at",
        "completed_at",
        "activated_at",
    }
)
"""The record fields that hold a time (epoch ms): RFC 3339 strings in the record's JSON."""


def to_json_ready(value: Any, key: str = "") -> Any:
    """A record (or any part of one) as JSON-ready data, the one JSON form of an account
    record (`pulse accounts`, the worker's HTTP API): times (epoch ms) -> RFC 3339,
    Decimal money -> a number, recursively."""
    if isinstance(value, dict):
        return {k: to_json_ready(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_ready(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if key in TIME_FIELDS and isinstance(value, int):
        return rfc3339_ms(value)
    return value
