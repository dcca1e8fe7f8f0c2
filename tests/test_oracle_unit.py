"""The oracle itself, on tiny hand-written event files whose answers are worked out by hand
(including the seed examples: MRR 616.67, the NPS/CSAT/CES vectors, the NRR/GRR vectors).
If these hold, a differential mismatch points at the engine or at the definitions, not at
the oracle's SQL."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from streams.contract.rfc3339 import rfc3339_ms as rfc3339
from tests.oracle import MetricKey, MetricValue, oracle_metrics

T = 1_772_323_200_000  # 2026-03-01T00:00:00Z, the evaluation time of most cases
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
RATES = {"USD": Decimal(1), "EUR": Decimal("1.1"), "GBP": Decimal("1.25")}

_ids = itertools.count(1)


def event(type_: str, at: int, account: str = "acme", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{next(_ids)}",
        "type": type_,
        "occurred_at": rfc3339(at),
        "account_id": account,
        **fields,
    }


def login(at: int, user: str = "u1", account: str = "acme") -> dict[str, Any]:
    return event("login", at, account, user_id=user)


def logout(at: int, user: str = "u1", account: str = "acme") -> dict[str, Any]:
    return event("logout", at, account, user_id=user)


def used(
    at: int, feature: str = "export", user: str = "u1", account: str = "acme"
) -> dict[str, Any]:
    return event("feature_used", at, account, user_id=user, feature=feature)


def _terms(
    type_: str,
    at: int,
    amount: Any,
    interval: str = "month",
    account: str = "acme",
    sub: str = "s1",
    **terms: Any,
) -> dict[str, Any]:
    return event(
        type_,
        at,
        account,
        subscription_id=sub,
        plan="pro",
        amount=amount,
        currency=terms.pop("currency", "USD"),
        interval=interval,
        **terms,
    )


def started(at: int, amount: Any, *args: Any, **terms: Any) -> dict[str, Any]:
    return _terms("subscription_started", at, amount, *args, **terms)


def changed(at: int, amount: Any, *args: Any, **terms: Any) -> dict[str, Any]:
    return _terms("subscription_changed", at, amount, *args, **terms)


def canceled(
    at: int, account: str = "acme", sub: str = "s1", effective: int | None = None
) -> dict[str, Any]:
    extra = {} if effective is None else {"effective_at": rfc3339(effective)}
    return event("subscription_canceled", at, account, subscription_id=sub, **extra)


def survey(at: int, kind: str, score: int, account: str = "acme") -> dict[str, Any]:
    return event("survey_response", at, account, survey=kind, score=score)


def payment(
    outcome: str, at: int, account: str, amount: Any, currency: str = "USD", sub: str = "s1"
) -> dict[str, Any]:
    """payment_failed or payment_succeeded (`outcome`) of `amount` in `currency`."""
    return event(
        f"payment_{outcome}", at, account, subscription_id=sub, amount=amount, currency=currency
    )


def raw(type_: str, **fields: Any) -> bytes:
    """A line as a producer might write it, checked by the edge (event_id x, account a, at T)."""
    base = {
        "event_id": "x",
        "type": type_,
        "occurred_at": "2026-03-01T00:00:00Z",
        "account_id": "a",
    }
    return json.dumps({**base, **fields}).encode()


def metrics(
    tmp_path: Path,
    lines: list[dict[str, Any] | str | bytes],
    as_of: int | None = T,
    rates: Any = RATES,
) -> dict[MetricKey, MetricValue]:
    path = tmp_path / "events.jsonl"
    with path.open("wb") as out:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            out.write((line.encode() if isinstance(line, str) else line) + b"\n")
    return oracle_metrics(path, as_of, rates=rates)


def value(result: dict[MetricKey, MetricValue], name: str, **labels: str) -> MetricValue:
    return result[(name, tuple(sorted(labels.items())))]


def movements(result: dict[MetricKey, MetricValue]) -> dict[str, Decimal]:
    return {
        kind: value(result, "pulse_mrr_movement", kind=kind, window="30d")
        for kind in ("new", "expansion", "contraction", "churn", "reactivation")
    }


# --- MRR -----------------------------------------------------------------------------


def test_seed_mrr_example_is_616_67(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            started(T - 90 * DAY, 1000, "year", account="c1"),
            started(T - 90 * DAY, 300, "month", account="c2"),
            started(T - 90 * DAY, 200, "quarter", account="c3"),
            started(T - 90 * DAY, 500, "month", account="c4", interval_count=3),
        ],
    )
    assert value(result, "pulse_mrr") == Decimal("616.67")
    assert value(result, "pulse_paying_accounts") == 4
    assert value(result, "pulse_arpa") == Fraction(61667, 400)


@pytest.mark.parametrize(
    ("amount", "interval", "terms", "expected"),
    [
        (1000, "year", {}, "83.33"),
        (300, "month", {}, "300.00"),
        (200, "quarter", {}, "66.67"),
        (500, "month", {"interval_count": 3}, "166.67"),
        (12, "week", {}, "52.00"),  # 12 x 52 / 12
        (1, "day", {"quantity": 3}, "91.25"),  # 3 x 365 / 12
        (100, "month", {"quantity": 4, "discount_percent": 12.5}, "350.00"),
        (100, "month", {"currency": "EUR"}, "110.00"),
        (10, "year", {"currency": "GBP", "interval_count": 2}, "0.52"),  # 12.5 / 24 = 0.5208
        (0.01, "month", {"discount_percent": 50}, "0.01"),  # 0.005 rounds half up
        (0.03, "quarter", {}, "0.01"),  # 0.01 exactly
        (0.05, "quarter", {}, "0.02"),  # 0.01667
    ],
)
def test_subscription_mrr_normalisation(
    tmp_path: Path, amount: Any, interval: str, terms: dict[str, Any], expected: str
) -> None:
    result = metrics(tmp_path, [started(T - DAY, amount, interval, **terms)])
    assert value(result, "pulse_mrr") == Decimal(expected)


def test_account_mrr_sums_rounded_subscriptions(tmp_path: Path) -> None:
    # 0.05/quarter = 0.01667 -> 0.02 each; summed after rounding: 0.04 (not 0.03).
    result = metrics(
        tmp_path,
        [started(T - DAY, 0.05, "quarter", sub="a"), started(T - DAY, 0.05, "quarter", sub="b")],
    )
    assert value(result, "pulse_mrr") == Decimal("0.04")
    assert value(result, "pulse_paying_accounts") == 1


def test_trial_then_conversion_is_a_new_movement_at_trial_end(tmp_path: Path) -> None:
    trial_end = T - 10 * DAY
    lines = [started(T - 20 * DAY, 50, trial_ends_at=rfc3339(trial_end))]
    during = metrics(tmp_path, lines, as_of=trial_end - 1)
    assert value(during, "pulse_mrr") == 0
    assert movements(during)["new"] == 0
    at_end = metrics(tmp_path, lines, as_of=trial_end)
    assert value(at_end, "pulse_mrr") == Decimal("50.00")
    assert movements(at_end) == {
        "new": Decimal("50.00"),
        "expansion": 0,
        "contraction": 0,
        "churn": 0,
        "reactivation": 0,
    }


def test_cancel_during_trial_never_pays_and_never_churns(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            started(T - 20 * DAY, 50, trial_ends_at=rfc3339(T - 5 * DAY)),
            canceled(T - 10 * DAY),
        ],
    )
    assert value(result, "pulse_mrr") == 0
    assert set(movements(result).values()) == {0}


def test_cancel_effective_in_the_future_keeps_mrr_until_then(tmp_path: Path) -> None:
    lines = [started(T - 60 * DAY, 80), canceled(T - 10 * DAY, effective=T + 5 * DAY)]
    before = metrics(tmp_path, lines, as_of=T)
    assert value(before, "pulse_mrr") == Decimal("80.00")
    assert movements(before)["churn"] == 0
    after = metrics(tmp_path, lines, as_of=T + 5 * DAY)
    assert value(after, "pulse_mrr") == 0
    assert movements(after)["churn"] == Decimal("80.00")
    assert value(after, "pulse_customer_churn_ratio", window="30d") == 1


def test_change_before_a_pending_cancel_does_not_undo_it_but_a_restart_after_does(
    tmp_path: Path,
) -> None:
    lines = [
        started(T - 60 * DAY, 80),
        canceled(T - 20 * DAY, effective=T - 10 * DAY),
        changed(T - 15 * DAY, 90),  # before the effective time: the cancel still ends it
        started(T - 5 * DAY, 40),  # after it: a restart
    ]
    assert value(metrics(tmp_path, lines, as_of=T - 6 * DAY), "pulse_mrr") == 0
    result = metrics(tmp_path, lines)
    assert value(result, "pulse_mrr") == Decimal("40.00")
    # T-15d: 80 -> 90 expansion; T-10d: 90 -> 0 churn; T-5d: 0 -> 40 reactivation
    assert movements(result) == {
        "new": 0,
        "expansion": Decimal("10.00"),
        "contraction": 0,
        "churn": Decimal("90.00"),
        "reactivation": Decimal("40.00"),
    }


def test_same_day_upgrade_then_downgrade_are_two_movements(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            started(T - 60 * DAY, 100),
            changed(T - 3 * DAY, 250),
            changed(T - 3 * DAY + 4 * HOUR, 120),
        ],
    )
    assert value(result, "pulse_mrr") == Decimal("120.00")
    assert movements(result) == {
        "new": 0,
        "expansion": Decimal("150.00"),
        "contraction": Decimal("130.00"),
        "churn": 0,
        "reactivation": 0,
    }
    assert value(result, "pulse_mrr_movement_accounts", kind="expansion", window="30d") == 1
    assert value(result, "pulse_mrr_movement_accounts", kind="contraction", window="30d") == 1
    assert value(result, "pulse_mrr_quick_ratio", window="30d") == Fraction(150, 130)


def test_equal_times_change_beats_start_and_the_larger_event_id_wins(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            changed(T - DAY, 150, event_id="b"),
            changed(T - DAY, 120, event_id="a"),
            started(T - DAY, 100, event_id="z"),
        ],
    )
    assert value(result, "pulse_mrr") == Decimal("150.00")
    assert movements(result)["new"] == Decimal("150.00")


def test_cancel_effective_at_the_instant_of_a_change_holds_it(tmp_path: Path) -> None:
    result = metrics(
        tmp_path, [started(T - 9 * DAY, 100), changed(T - 5 * DAY, 200), canceled(T - 5 * DAY)]
    )
    assert value(result, "pulse_mrr") == 0
    assert movements(result) == {
        "new": Decimal("100.00"),
        "expansion": 0,
        "contraction": 0,
        "churn": Decimal("100.00"),
        "reactivation": 0,
    }


def test_backdated_cancel_counts_from_the_moment_it_occurs(tmp_path: Path) -> None:
    lines = [started(T - 60 * DAY, 100), canceled(T - 5 * DAY, effective=T - 20 * DAY)]
    before = metrics(tmp_path, lines, as_of=T - 10 * DAY)
    assert value(before, "pulse_mrr") == Decimal("100.00")
    assert movements(before)["churn"] == 0
    after = metrics(tmp_path, lines)
    assert value(after, "pulse_mrr") == 0
    assert movements(after)["churn"] == Decimal("100.00")


def test_movement_window_excludes_t_minus_30d_and_includes_t(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            started(T - 30 * DAY, 10, account="edge_out"),
            started(T, 20, account="edge_in"),
        ],
    )
    assert movements(result)["new"] == Decimal("20.00")
    assert value(result, "pulse_mrr") == Decimal("30.00")


def test_billing_arrival_order_does_not_matter(tmp_path: Path) -> None:
    lines = [
        started(T - 60 * DAY, 100),
        changed(T - 20 * DAY, 70),
        canceled(T - 10 * DAY, effective=T - 2 * DAY),
    ]
    expected = metrics(tmp_path, lines)
    for permutation in itertools.permutations(lines):
        assert metrics(tmp_path, list(permutation)) == expected


# --- retention: the seed vectors -----------------------------------------------------


@pytest.mark.parametrize(
    ("base", "now", "nrr", "grr"),
    [
        # start 10,000; expansion 2,000; contraction 500; churn 1,000 -> NRR 105 %, GRR 85 %
        ((5000, 3000, 1000, 1000), (7000, 2500, 0, 1000), Fraction(105, 100), Fraction(85, 100)),
        # start 100,000; expansion 15,000; contraction 5,000; churn 8,000 -> NRR 102 %, GRR 87 %
        (
            (60000, 20000, 8000, 12000),
            (75000, 15000, 0, 12000),
            Fraction(102, 100),
            Fraction(87, 100),
        ),
    ],
)
def test_nrr_grr_and_customer_churn_vectors(
    tmp_path: Path, base: tuple[int, ...], now: tuple[int, ...], nrr: Fraction, grr: Fraction
) -> None:
    lines: list[dict[str, Any]] = []
    for index, (before, after) in enumerate(zip(base, now, strict=True)):
        account = f"a{index}"
        lines.append(started(T - 90 * DAY, before, account=account))
        if after == 0:
            lines.append(canceled(T - 10 * DAY, account=account))
        elif after != before:
            lines.append(changed(T - 10 * DAY, after, account=account))
    lines.append(started(T - 5 * DAY, 999, account="newcomer"))  # not in the cohort
    result = metrics(tmp_path, lines)
    assert value(result, "pulse_net_revenue_retention_ratio", window="30d") == nrr
    assert value(result, "pulse_gross_revenue_retention_ratio", window="30d") == grr
    assert value(result, "pulse_customer_churn_ratio", window="30d") == Fraction(1, 4)
    assert value(result, "pulse_retention_base_mrr", window="30d") == sum(base)
    assert value(result, "pulse_retention_current_mrr", window="30d") == sum(now)
    assert value(result, "pulse_retention_capped_mrr", window="30d") == sum(map(min, base, now))
    assert value(result, "pulse_retention_base_accounts", window="30d") == 4
    assert value(result, "pulse_retention_churned_accounts", window="30d") == 1


def test_trialing_and_past_due_accounts(tmp_path: Path) -> None:
    trial = {"trial_ends_at": rfc3339(T + DAY)}
    result = metrics(
        tmp_path,
        [
            started(T - DAY, 50, account="trialing", **trial),
            started(T - DAY, 50, account="paying_with_addon_trial", sub="main"),
            started(T - DAY, 50, account="paying_with_addon_trial", sub="addon", **trial),
            started(T - DAY, 50, account="canceled_trial", **trial),
            canceled(T - HOUR, account="canceled_trial"),
            started(T - 60 * DAY, 10, account="recovered"),
            payment("failed", T - 2 * DAY, "recovered", 10, "EUR"),
            payment("succeeded", T - DAY, "recovered", 0.333, "GBP"),
            started(T - 60 * DAY, 10, account="past_due"),
            payment("failed", T - DAY, "past_due", 19.99),
            started(T - 60 * DAY, 10, account="tie"),
            payment("succeeded", T - DAY, "tie", 1),
            payment("failed", T - DAY, "tie", 1),
            payment("failed", T - 7 * DAY, "not_paying", 5, sub="x"),
        ],
    )
    assert value(result, "pulse_trialing_accounts") == 1
    assert value(result, "pulse_past_due_accounts") == 1
    assert value(result, "pulse_payments_failed", window="7d") == 3  # the one at T - 7d is out
    assert value(result, "pulse_payments_failed_amount", window="7d") == Decimal(
        "31.99"
    )  # 11.00 + 19.99 + 1.00
    assert value(result, "pulse_payments_succeeded", window="7d") == 2
    assert value(result, "pulse_payments_succeeded_amount", window="7d") == Decimal(
        "1.42"
    )  # 0.41625 -> 0.42


def test_empty_input_gives_zeros(tmp_path: Path) -> None:
    result = metrics(tmp_path, [])
    assert value(result, "pulse_mrr") == 0
    assert value(result, "pulse_arpa") == 0
    assert value(result, "pulse_net_revenue_retention_ratio", window="30d") == 0
    assert value(result, "pulse_stickiness_ratio") == 0
    assert value(result, "pulse_nps_score", window="90d") == 0
    assert value(result, "pulse_active_users", window="30d") == 0


# --- satisfaction: the seed vectors --------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "nps"),
    [
        ([10, 9, 9, 10, 9, 8, 7, 7, 3, 6], 30),
        ([10, 9, 9, 8, 7, 6, 5, 10, 3, 9], 20),
        ([0, 6], -100),
        ([9, 10], 100),
    ],
)
def test_nps_vectors(tmp_path: Path, scores: list[int], nps: int) -> None:
    result = metrics(tmp_path, [survey(T - DAY, "nps", score) for score in scores])
    assert value(result, "pulse_nps_score", window="90d") == nps
    promoters, detractors = (
        value(result, "pulse_nps_promoters", window="90d"),
        value(result, "pulse_nps_detractors", window="90d"),
    )
    assert 100 * (promoters - detractors) == nps * len(scores)
    assert value(result, "pulse_survey_responses", survey="nps", window="90d") == len(scores)


def test_csat_vector_mixes_ticket_ratings_and_csat_surveys(tmp_path: Path) -> None:
    scores = [5, 4, 3, 2, 5, 1, 4, 4]  # 5 of 8 are 4-5 -> 62.5 %
    lines = [
        event("ticket_rated", T - DAY, ticket_id=f"t{i}", rating=s)
        for i, s in enumerate(scores[:4])
    ]
    lines += [survey(T - DAY, "csat", s) for s in scores[4:]]
    result = metrics(tmp_path, lines)
    assert value(result, "pulse_csat_ratio", window="90d") == Fraction(5, 8)
    assert value(result, "pulse_csat_ratings", window="90d") == 8
    assert value(result, "pulse_csat_satisfied_ratings", window="90d") == 5
    assert value(result, "pulse_survey_responses", survey="csat", window="90d") == 4


def test_ces_vector_is_the_mean(tmp_path: Path) -> None:
    result = metrics(tmp_path, [survey(T - DAY, "ces", s) for s in [7, 6, 5, 4, 5]])
    assert value(result, "pulse_ces_score", window="90d") == Fraction(27, 5)
    assert value(result, "pulse_ces_score_sum_points", window="90d") == 27


def test_lifecycle_counts(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            event("signup", T - 30 * DAY, user_id="out"),
            event("signup", T - 30 * DAY + 1, user_id="in"),
            event("onboarding_step_completed", T - DAY, user_id="in", step="profile"),
            event("onboarding_completed", T - HOUR),
        ],
    )
    assert value(result, "pulse_signups", window="30d") == 1
    assert value(result, "pulse_onboarding_steps_completed", window="30d") == 1
    assert value(result, "pulse_onboarding_completed", window="30d") == 1


def test_survey_window_is_90_days(tmp_path: Path) -> None:
    result = metrics(
        tmp_path, [survey(T - 90 * DAY, "nps", 0), survey(T - 90 * DAY + 1, "nps", 10)]
    )
    assert value(result, "pulse_nps_score", window="90d") == 100


# --- activity and adoption -----------------------------------------------------------


def test_window_boundaries_t_minus_w_is_out_and_t_is_in(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            login(T - DAY, user="out_1d"),
            login(T - DAY + 1, user="in_1d"),
            used(T, user="at_t"),
            login(T - 30 * DAY, user="out_30d"),
            login(T + 1, user="after_t"),  # within the future tolerance: accepted, not applied
        ],
    )
    assert value(result, "pulse_active_users", window="1d") == 2
    assert value(result, "pulse_active_users", window="7d") == 3
    assert value(result, "pulse_active_users", window="30d") == 3
    assert value(result, "pulse_stickiness_ratio") == Fraction(2, 3)
    assert value(result, "pulse_logins", window="1d") == 1
    assert (
        value(result, "pulse_events_total", type="login") == 3
    )  # after_t is admitted, not applied


def test_a_user_is_the_pair_account_and_user(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [login(T - HOUR, "u1", "a"), login(T - HOUR, "u1", "b"), login(T - MINUTE, "u1", "a")],
    )
    assert value(result, "pulse_active_users", window="1d") == 2
    assert value(result, "pulse_logins", window="1d") == 3


def test_feature_users_and_adoption(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            login(T - DAY, "u1"),
            login(T - DAY, "u2"),
            login(T - DAY, "u3"),
            login(T - DAY, "u4"),
            used(T - HOUR, "export", "u1"),
            used(T - HOUR, "export", "u1"),
            used(T - HOUR, "export", "u2"),
            used(T - 2 * HOUR, "search", "u3"),
            used(T - 31 * DAY, "search", "u4"),  # outside 30d
        ],
    )
    assert value(result, "pulse_feature_users", feature="export", window="30d") == 2
    assert value(result, "pulse_feature_users", feature="search", window="30d") == 1
    assert value(
        result, "pulse_feature_adoption_ratio", feature="export", window="30d"
    ) == Fraction(2, 4)
    assert value(
        result, "pulse_feature_adoption_ratio", feature="search", window="30d"
    ) == Fraction(1, 4)


# --- sessions ------------------------------------------------------------------------


def sessions(result: dict[MetricKey, MetricValue]) -> tuple[MetricValue, MetricValue]:
    return value(result, "pulse_sessions", window="7d"), value(
        result, "pulse_session_duration_sum_seconds", window="7d"
    )


def zero_length(result: dict[MetricKey, MetricValue]) -> MetricValue:
    return value(result, "pulse_sessions_zero_length", window="7d")


START = T - DAY
BRIDGE = used(START + 25 * MINUTE)
IN_ORDER = [login(START), used(START + 50 * MINUTE)]

# (events, (sessions, duration sum in seconds) over 7d, zero-length sessions or None when
# the case does not check them). Every case is hand-derived.
SESSION_CASES = {
    "a gap of exactly 30 minutes joins": (
        [login(START), used(START + 30 * MINUTE)],
        (1, 30 * 60),
        None,
    ),
    "a gap of 30 minutes and one ms splits": (
        [login(START), used(START + 30 * MINUTE + 1)],
        (2, 0),
        None,
    ),
    "a logout ends its session": (
        [
            login(START),
            logout(START + 5 * MINUTE),
            login(START + 6 * MINUTE),
            used(START + 8 * MINUTE),
        ],
        (2, 5 * 60 + 2 * 60),
        None,
    ),
    "two sessions in order": (IN_ORDER, (2, 0), None),
    "a late event merges two sessions": ([*IN_ORDER, BRIDGE], (1, 50 * 60), None),
    "an early-delivered event merges two sessions": ([BRIDGE, *IN_ORDER], (1, 50 * 60), None),
    "activity at the logout's millisecond belongs to the session it ends": (
        [logout(START + 10 * MINUTE), used(START + 10 * MINUTE), login(START)],
        (1, 600),
        None,
    ),
    "a logout without activity within the gap is a session of its own": (
        [login(START), used(START + MINUTE), logout(START + 40 * MINUTE)],
        (2, 60),
        None,
    ),
    # laptop session "lap" 0-40 min, phone session "ph" 10-25 min. Untagged feature uses
    # belong to the latest open tagged login; the phone's logout ends only the phone's session.
    "two devices keep their own sessions": (
        [
            event("login", START, user_id="u1", session_id="lap"),
            used(START + 5 * MINUTE),
            event("login", START + 10 * MINUTE, user_id="u1", session_id="ph"),
            used(START + 20 * MINUTE),
            event("logout", START + 25 * MINUTE, user_id="u1", session_id="ph"),
            used(START + 30 * MINUTE),
            event("logout", START + 40 * MINUTE, user_id="u1", session_id="lap"),
        ],
        (2, 40 * 60 + 15 * 60),
        0,
    ),
    "an untagged logout ends the latest open tagged session": (
        [
            event("login", START, user_id="u1", session_id="a"),
            event("login", START + MINUTE, user_id="u1", session_id="b"),
            logout(START + 3 * MINUTE),
            used(START + 4 * MINUTE),
            logout(START + 6 * MINUTE),
        ],
        (2, 2 * 60 + 6 * 60),
        None,
    ),
    "lone logins and logouts are zero-length sessions": (
        [
            login(START),
            used(START + 10 * MINUTE),
            login(START + 60 * MINUTE),
            event("logout", START + 120 * MINUTE, user_id="u1", session_id="x"),
        ],
        (3, 600),
        2,
    ),
    "a late logout splits a session": (
        [login(START), used(START + 20 * MINUTE), logout(START + 10 * MINUTE)],
        (2, 10 * 60),
        None,
    ),
    "a session idle exactly 30 minutes at T is still open": (
        [login(T - 40 * MINUTE), used(T - 30 * MINUTE)],
        (0, 0),
        None,
    ),
    "a session idle more than 30 minutes at T is closed": (
        [login(T - 40 * MINUTE), used(T - 30 * MINUTE - 1)],
        (1, Fraction(10 * 60 * 1000 - 1, 1000)),
        None,
    ),
    "a session logged out at T is closed": (
        [login(T - 2 * MINUTE), logout(T)],
        (1, 120),
        None,
    ),
}


@pytest.mark.parametrize(
    ("events", "expected", "zero_length_sessions"),
    SESSION_CASES.values(),
    ids=[name.replace(" ", "-") for name in SESSION_CASES],
)
def test_sessions(
    tmp_path: Path,
    events: list[dict[str, Any]],
    expected: tuple[MetricValue, MetricValue],
    zero_length_sessions: int | None,
) -> None:
    result = metrics(tmp_path, events)
    assert sessions(result) == expected
    if zero_length_sessions is not None:
        assert zero_length(result) == zero_length_sessions


def test_session_counts_in_the_window_where_it_ended(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            login(T - 7 * DAY - 20 * MINUTE),
            logout(T - 7 * DAY),  # ended exactly at T - 7d: out
            login(T - 7 * DAY - 20 * MINUTE, user="u2"),
            logout(T - 7 * DAY + 1, user="u2"),  # in
        ],
    )
    assert sessions(result) == (1, Fraction(20 * 60 * 1000 + 1, 1000))


# --- support -------------------------------------------------------------------------


def ticket(type_: str, at: int, ticket_id: str = "t1", **fields: Any) -> dict[str, Any]:
    return event(type_, at, ticket_id=ticket_id, **fields)


def test_ticket_states_and_openings(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            ticket("ticket_opened", T - 3 * DAY, "t1"),
            ticket("ticket_resolved", T - 2 * DAY, "t1"),
            ticket("ticket_reopened", T - DAY, "t1"),  # open again
            ticket("ticket_opened", T - 10 * HOUR, "t2"),
            ticket("ticket_resolved", T - 5 * HOUR, "t2"),  # closed
            ticket("ticket_opened", T - 8 * DAY, "t3"),  # open, outside 7d
            ticket("ticket_opened", T - DAY, "t4"),  # exactly T - 1d: out of 1d
        ],
    )
    assert value(result, "pulse_tickets_open") == 3
    assert value(result, "pulse_tickets_opened", window="1d") == 1
    assert value(result, "pulse_tickets_opened", window="7d") == 3


def test_first_response_counts_the_first_agent_reply_only(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            ticket("ticket_opened", T - 10 * HOUR, "t1"),
            ticket("ticket_replied", T - 9 * HOUR, "t1", author="customer"),
            ticket("ticket_replied", T - 8 * HOUR, "t1", author="agent"),  # 2 h
            ticket("ticket_replied", T - 7 * HOUR, "t1", author="agent"),
            ticket("ticket_opened", T - 8 * DAY, "t2"),
            ticket("ticket_replied", T - 8 * DAY + HOUR, "t2", author="agent"),  # reply outside 7d
            ticket("ticket_resolved", T - 6 * DAY, "t2"),  # 2 days, inside 7d
            ticket("ticket_resolved", T - 5 * DAY, "t2"),  # not the first resolution
            ticket("ticket_replied", T - HOUR, "t3", author="agent"),  # never opened: not counted
        ],
    )
    assert value(result, "pulse_ticket_first_responses", window="7d") == 1
    assert (
        value(result, "pulse_ticket_first_response_duration_sum_seconds", window="7d") == 2 * 3600
    )
    assert value(result, "pulse_ticket_resolutions", window="7d") == 1
    assert value(result, "pulse_ticket_resolution_duration_sum_seconds", window="7d") == 2 * 86400
    assert value(result, "pulse_tickets_resolved", window="7d") == 2


def test_tickets_count_only_once_their_opening_is_known(tmp_path: Path) -> None:
    lines = [
        ticket("ticket_reopened", T - 3 * HOUR, "t1"),
        ticket("ticket_replied", T - 2 * HOUR, "t1", author="agent"),
        ticket("ticket_opened", T - HOUR, "t1"),  # after the reply: clock skew, time 0
    ]
    unknown = metrics(tmp_path, lines, as_of=T - 90 * MINUTE)
    assert value(unknown, "pulse_tickets_open") == 0
    assert value(unknown, "pulse_tickets_reopened", window="7d") == 0
    assert value(unknown, "pulse_ticket_first_responses", window="7d") == 0
    known = metrics(tmp_path, lines)
    assert value(known, "pulse_tickets_open") == 1  # opened is its latest state change
    assert value(known, "pulse_tickets_reopened", window="7d") == 1
    assert value(known, "pulse_ticket_first_responses", window="7d") == 1
    assert value(known, "pulse_ticket_first_response_duration_sum_seconds", window="7d") == 0


def test_ticket_state_ties_order_opened_resolved_reopened(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            ticket("ticket_reopened", T - HOUR, "t1"),
            ticket("ticket_resolved", T - HOUR, "t1"),
            ticket("ticket_opened", T - 2 * HOUR, "t1"),
            ticket("ticket_resolved", T - HOUR, "t2"),
            ticket("ticket_opened", T - HOUR, "t2"),
        ],
    )
    assert value(result, "pulse_tickets_open") == 1  # t1 reopened; t2 resolved


# --- admission and counters ----------------------------------------------------------


def test_duplicates_are_counted_once_and_never_applied_twice(tmp_path: Path) -> None:
    first = survey(T - DAY, "nps", 10)
    result = metrics(tmp_path, [first, survey(T - DAY, "nps", 0), first, first])
    assert value(result, "pulse_events_duplicate_total") == 2
    assert value(result, "pulse_nps_score", window="90d") == 0
    assert value(result, "pulse_events_total", type="survey_response") == 2


def test_lateness_is_measured_against_the_accounts_stream_time_on_the_topic(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            login(T, account="a"),
            login(T - 35 * DAY, user="exactly_35d", account="a"),  # accepted
            logout(T - 35 * DAY - 1, user="late", account="a"),  # too_late: pulse.logins is at T
            used(T - 35 * DAY - 1, account="a"),  # accepted: nothing on pulse.feature-use yet
            login(T - 35 * DAY - 1, user="other_account", account="b"),  # b has no stream time yet
            survey(T, "ces", 5, account="a"),
            survey(T - 95 * DAY, "nps", 10, account="a"),  # accepted
            survey(T - 95 * DAY - 1, "nps", 10, account="a"),  # too_late
            ticket("ticket_opened", T - 300 * DAY),  # never late
        ],
        as_of=None,
    )
    assert value(result, "pulse_events_rejected_total", reason="too_late") == 2
    assert value(result, "pulse_events_total", type="login") == 3
    assert value(result, "pulse_events_total", type="feature_used") == 1
    assert value(result, "pulse_events_total", type="survey_response") == 2
    assert value(result, "pulse_events_total", type="ticket_opened") == 1


def test_duplicates_are_scoped_to_the_account_and_topic(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            event("login", T - HOUR, "a", event_id="same", user_id="u1"),
            event("logout", T - HOUR, "a", event_id="same", user_id="u1"),  # same topic: duplicate
            event(
                "feature_used", T - HOUR, "a", event_id="same", user_id="u1", feature="x"
            ),  # other topic
            event("login", T - HOUR, "b", event_id="same", user_id="u1"),  # other account
        ],
    )
    assert value(result, "pulse_events_duplicate_total") == 1
    assert value(result, "pulse_events_total", type="login") == 2
    assert value(result, "pulse_events_total", type="feature_used") == 1


def test_a_copy_of_a_rejected_event_is_not_a_duplicate(tmp_path: Path) -> None:
    late = login(T - 40 * DAY)
    result = metrics(tmp_path, [login(T), late, late], as_of=None)
    assert value(result, "pulse_events_rejected_total", reason="too_late") == 2
    assert ("pulse_events_duplicate_total", ()) in result
    assert value(result, "pulse_events_duplicate_total") == 0


def test_events_after_as_of_are_not_rejected_and_do_not_move_stream_time(tmp_path: Path) -> None:
    result = metrics(
        tmp_path,
        [
            login(
                T + 5 * MINUTE, user="at_tolerance"
            ),  # after the as-of: neither judged nor applied
            login(T + 5 * MINUTE + 1, user="future"),  # the same, however far ahead
            login(T + 100 * DAY, user="far_future"),  # must not make the next one too late
            login(T - 20 * DAY, user="on_time"),
        ],
    )
    assert not [key for key in result if key[0] == "pulse_events_rejected_total"]
    assert value(result, "pulse_events_total", type="login") == 1
    assert value(result, "pulse_active_users", window="30d") == 1


def test_default_as_of_is_the_latest_accepted_event_with_no_future_check(tmp_path: Path) -> None:
    result = metrics(tmp_path, [login(T - HOUR), login(T + 100 * DAY, user="u2")], as_of=None)
    assert value(result, "pulse_evaluation_timestamp_seconds") == (T + 100 * DAY) // 1000
    assert value(result, "pulse_active_users", window="1d") == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (
            b'{"event_id": "x", "occurred_at": "2026-03-01T00:00:00Z", "account_id": "a"}',
            "missing_field:type",
        ),
        (raw("teleport"), "unknown_type"),
        (raw("login"), "missing_field:user_id"),
        (raw("login", occurred_at="2026-03-01 00:00:00", user_id="u"), "invalid_field:occurred_at"),
        (
            raw("login", occurred_at="2026-02-30T00:00:00Z", user_id="u"),
            "invalid_field:occurred_at",
        ),
        (raw("survey_response", survey="csat", score=0), "invalid_field:score"),
        (
            raw("payment_failed", subscription_id="s", amount=-1, currency="USD"),
            "invalid_field:amount",
        ),
        (
            raw("payment_failed", subscription_id="s", amount=1, currency="XXX"),
            "no_exchange_rate",
        ),  # ISO, but no rate
        (
            raw("payment_failed", subscription_id="s", amount=1, currency="ZZZ"),
            "unknown_currency",
        ),  # not ISO 4217
        (raw("login", user_id="u", pad="x" * 65536), "too_large"),
    ],
)
def test_edge_rejections_carry_the_contract_reason(
    tmp_path: Path, line: bytes, reason: str
) -> None:
    result = metrics(tmp_path, [line, login(T - HOUR)])
    rejected = {
        labels: count
        for (name, labels), count in result.items()
        if name == "pulse_events_rejected_total"
    }
    assert rejected == {(("reason", reason),): 1}
    assert value(result, "pulse_events_total", type="login") == 1


# --- the comparison the differential tests rely on -----------------------------------


def test_compare_sums_segment_labels_and_reports_each_disagreement() -> None:
    from tests.oracle.compare import compare, parse_exposition

    oracle = {
        ("pulse_mrr", ()): Decimal("300.10"),
        ("pulse_active_users", (("window", "1d"),)): 3,
        ("pulse_nps_score", (("window", "90d"),)): Fraction(100, 3),
        ("pulse_events_rejected_total", (("reason", "too_late"),)): 0,
    }
    text = "\n".join(
        [
            "# TYPE pulse_mrr gauge",
            'pulse_mrr{plan="pro"} 100.1',
            'pulse_mrr{plan="team"} 200.0',
            "# TYPE pulse_active_users gauge",
            'pulse_active_users{window="1d"} 3.0',
            "# TYPE pulse_nps_score gauge",
            'pulse_nps_score{window="90d"} 33.333333333333336',
            "# TYPE pulse_events_rejected_total counter",
            'pulse_events_rejected_total{reason="invalid_json"} 0.0',
            "",
        ]
    )
    assert compare(oracle, parse_exposition(text)) == []

    off_by_a_cent = text.replace('plan="team"} 200.0', 'plan="team"} 200.01')
    [mismatch] = compare(oracle, parse_exposition(off_by_a_cent))
    assert str(mismatch) == "pulse_mrr{}: engine=300.11 oracle=300.10 (sum of 2 segment series)"

    wrong_ratio = text.replace("33.333333333333336", "33.3333")
    assert [str(m) for m in compare(oracle, parse_exposition(wrong_ratio))] == [
        'pulse_nps_score{window="90d"}: engine=33.3333 oracle=100/3'
    ]

    segmented_ratio = text.replace(
        'pulse_nps_score{window="90d"}', 'pulse_nps_score{plan="pro",window="90d"}'
    )
    assert any("extra labels" in str(m) for m in compare(oracle, parse_exposition(segmented_ratio)))

    missing = text.replace(
        'pulse_active_users{window="1d"} 3.0', 'pulse_active_users{window="7d"} 3.0'
    )
    assert {str(m) for m in compare(oracle, parse_exposition(missing))} == {
        'pulse_active_users{window="1d"}: engine=absent oracle=3',
        'pulse_active_users{window="7d"}: engine=3 oracle=0',
    }


# --- dated exchange rates --------------------------------------------------------------

DATED = [
    (-(1 << 62), "USD", Decimal(1)),
    (T - 40 * DAY, "EUR", Decimal("1.00")),
    (T - 10 * DAY, "EUR", Decimal("1.20")),
]


def test_dated_rates_apply_at_the_event_nearest_earlier_date(tmp_path: Path) -> None:
    """Hand-derived: EUR is 1.00 from T - 40d and 1.20 from T - 10d. Terms set at T - 20d
    keep 1.00 (100.00); a change at T - 5d takes 1.20 (+20.00 expansion); payments convert
    at their own date; an event before the first EUR date has no rate."""
    result = metrics(
        tmp_path,
        [
            started(T - 20 * DAY, 100, currency="EUR"),
            started(T - 20 * DAY, 50, currency="EUR", sub="s2"),
            changed(T - 5 * DAY, 100, currency="EUR", sub="s2"),
            payment("succeeded", T - 6 * DAY, "acme", 10, "EUR"),
            payment("succeeded", T - 41 * DAY, "acme", 10, "EUR"),
            started(T - 41 * DAY, 70, currency="EUR", sub="s3", account="early"),
        ],
        rates=DATED,
    )
    assert value(result, "pulse_mrr") == Decimal("220.00")  # 100 x 1.00 + 100 x 1.20
    assert value(result, "pulse_mrr_movement", kind="expansion", window="30d") == Decimal("70.00")
    assert value(result, "pulse_payments_succeeded_amount", window="7d") == Decimal("12.00")
    rejected = {
        labels: count
        for (name, labels), count in result.items()
        if name == "pulse_events_rejected_total"
    }
    assert rejected == {(("reason", "no_exchange_rate"),): 2}


# --- the contract's own examples -----------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "examples"
EXAMPLE_CURRENCIES = [
    (-(1 << 62), code, 1) for code in ("USD", "EUR", "GBP", "JPY")
]  # the examples' currencies


def example_lines(name: str) -> list[bytes]:
    return [line for line in (EXAMPLES / name).read_bytes().split(b"\n") if line.strip()]


def test_every_valid_example_passes_the_edge() -> None:
    from tests.oracle.edge import rejection_reason

    lines = example_lines("valid.jsonl")
    assert lines
    assert {line: rejection_reason(line, EXAMPLE_CURRENCIES) for line in lines} == dict.fromkeys(
        lines
    )


def test_every_invalid_example_gets_its_documented_reason() -> None:
    from tests.oracle.edge import rejection_reason

    lines = example_lines("invalid.jsonl")
    assert lines
    expected = {line: json.loads(line)["_expect"] for line in lines}
    assert {line: rejection_reason(line, EXAMPLE_CURRENCIES) for line in lines} == expected
