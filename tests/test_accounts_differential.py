"""Differential tests of the account layer: the engine's account records (through `pulse
accounts`' path) against the oracle's accounts.sql, written again from the docs, over
20+ small generated datasets and two evaluation times each.

Compared per account: the CRM facts, stage, tenure, plan, MRR, seats, active users,
stickiness, utilisation, days since activity, tickets, CSAT/NPS/CES, payment status and
days past due, days to renewal, onboarding (signup, completion, activation, progress,
cohort membership, stuck, trials), the health profile, score, band and trend.
Exact for integers and strings; 1e-6 for ratios and scores.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

from streams.cli.accounts import records_from_files
from streams.engine.health import DEFAULT_HEALTH_TOML
from streams.engine.timeline import DAY_MS
from streams.generator import GeneratorConfig, generate
from tests.oracle import Oracle, Policy
from tests.oracle.accounts import account_rows

RATES = {"USD": Decimal("1"), "EUR": Decimal("1.0825"), "GBP": Decimal("1.2675")}

CONFIG = """
[revenue]
reporting_currency = "USD"
rates = { USD = "1", EUR = "1.0825", GBP = "1.2675" }

[accounts.plans]
starter = ["dashboard", "search", "reports"]
growth = ["dashboard", "search", "reports", "export_csv", "alerts", "comments"]
enterprise = ["dashboard", "search", "reports", "export_csv", "alerts", "comments", "integrations", "sso_settings"]

[accounts.onboarding]
steps = ["create_workspace", "invite_teammates", "connect_data_source", "create_first_dashboard", "set_up_alerts"]
activation = "core_feature"
core_features = ["alerts", "reports"]
activation_days = 10
completion_days = 14
cohort_days = 30
stuck_days = 5

[accounts.health.profiles.big]
segments = ["enterprise"]
dimensions = { engagement = 30, adoption = 30, support = 10, sentiment = 10, financial = 20 }
measures = [
  { measure = "active_users_30d", dimension = "engagement", weight = 1, linear = [0, 20] },
  { measure = "license_utilisation", dimension = "adoption", weight = 1, linear = [0.2, 0.9] },
  { measure = "tickets_opened_30d", dimension = "support", weight = 1, linear = [6, 0] },
  { measure = "ces", dimension = "sentiment", weight = 1, good = 6, average = 4 },
  { measure = "days_past_due", dimension = "financial", weight = 1, good = 0, average = 7 },
]
"""

# The shipped health configuration (its default and onboarding profiles, from their one
# home), with a shorter onboarding window than the shipped 30 days, so that both sides
# must read it, and the enterprise profile above.
SHIPPED_HEALTH = DEFAULT_HEALTH_TOML.replace("onboarding_days = 30", "onboarding_days = 21")
assert SHIPPED_HEALTH != DEFAULT_HEALTH_TOML, "the shipped onboarding window moved: update the test"
CONFIG += SHIPPED_HEALTH

# engine record path -> oracle column
EXACT = {
    "name": "name",
    "segment": "segment",
    "owner": "owner",
    "seats_purchased": "seats_purchased",
    "renewal_at": "renewal_at",
    "stage": "stage",
    "tenure_days": "tenure_days",
    "plan": "plan",
    "seats_paid": "seats_paid",
    "active_users_1d": "au1",
    "active_users_7d": "au7",
    "active_users_30d": "au30",
    "days_since_activity": "days_since_activity",
    "tickets_open": "tickets_open",
    "urgent_tickets_open": "urgent_tickets_open",
    "tickets_opened_30d": "tickets_opened_30d",
    "payment_status": "payment_status",
    "days_past_due": "days_past_due",
    "days_to_renewal": "days_to_renewal",
    "onboarding.signup_at": "signup_at",
    "onboarding.completed_at": "completed_at",
    "onboarding.activated_at": "activated_at",
    "onboarding.steps_done": "steps_done",
    "onboarding.activation_cohort": "activation_cohort",
    "onboarding.activated": "activated_in_cohort",
    "onboarding.completion_cohort": "completion_cohort",
    "onboarding.completed": "completed_in_cohort",
    "onboarding.stuck": "stuck",
    "onboarding.trials_ended": "trials_ended",
    "onboarding.trials_converted": "trials_converted",
    "onboarding.days_since_step": "days_since_onboarding_step",
    "health.profile": "profile",
    "health.band": "band",
}
CLOSE = {
    "stickiness": "stickiness",
    "license_utilisation": "license_utilisation",
    "csat_90d": "csat",
    "nps_90d": "nps",
    "ces_90d": "ces",
    "onboarding.progress": "onboarding_progress",
    "measures.plan_feature_adoption": "plan_feature_adoption",
    "measures.mrr_change_30d_ratio": "mrr_change_30d_ratio",
    "onboarding.time_to_value_days": "ttv_days",
    "onboarding.completion_time_days": "completion_days",
    "health.score": "score",
    "health.trend_7d": "trend_7d",
    "health.trend_30d": "trend_30d",
}


def _get(record: dict, path: str) -> object:
    for part in path.split("."):
        record = record[part]
    return record


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)


def disagreements(
    dataset: Path, as_of_ms: int | None, config_path: Path, policy: Policy | None = None
) -> list[str]:
    _, records = records_from_files(
        (str(dataset),), None if as_of_ms is None else str(as_of_ms), str(config_path)
    )
    with Oracle(dataset, rates=RATES, policy=policy or Policy()) as oracle:
        expected = account_rows(oracle, as_of_ms, config_path.read_text())
    problems = []
    if {r["account_id"] for r in records} != set(expected):
        problems.append(
            f"accounts: engine {sorted(r['account_id'] for r in records)} oracle {sorted(expected)}"
        )
    for record in records:
        row = expected.get(record["account_id"])
        if row is None:
            continue
        near_bound = row["score"] is not None and any(
            abs(row["score"] - b) < 1e-6 for b in (50, 75)
        )
        for path, column in EXACT.items():
            if path == "health.band" and near_bound:
                continue
            if _get(record, path) != row[column]:
                problems.append(
                    f"{record['account_id']} {path}: engine={_get(record, path)!r} oracle={row[column]!r}"
                )
        for path, column in CLOSE.items():
            if not _close(_get(record, path), row[column]):
                problems.append(
                    f"{record['account_id']} {path}: engine={_get(record, path)!r} oracle={row[column]!r}"
                )
        if record["mrr"] != Decimal(int(row["mrr_cents"])).scaleb(-2):
            problems.append(
                f"{record['account_id']} mrr: engine={record['mrr']} oracle cents={row['mrr_cents']}"
            )
    return problems


SEEDS = list(range(101, 123))  # 22 datasets


@pytest.mark.parametrize("seed", SEEDS)
def test_account_records_agree_with_the_oracle(seed: int, tmp_path: Path) -> None:
    dataset = tmp_path / "events.jsonl"
    messages = generate(
        GeneratorConfig(
            accounts=8 + seed % 5,
            days=30 + seed % 12,
            seed=seed,
            duplicate_fraction=0.01 if seed % 2 else 0.0,
            late_fraction=0.01 if seed % 3 == 0 else 0.0,
        )
    )
    dataset.write_bytes(b"".join(m.value + b"\n" for m in messages))
    config_path = tmp_path / "pulse.toml"
    config_path.write_text(CONFIG)
    problems = disagreements(dataset, None, config_path)
    problems += disagreements(
        dataset, 1772236800000 - (seed % 9) * DAY_MS - 3_600_000 * (seed % 5), config_path
    )
    assert not problems, "engine != oracle:\n" + "\n".join(problems[:60])


def test_active_users_follow_the_configured_activity_types(tmp_path: Path) -> None:
    """`[engine] activity_types = ["feature_used"]`: a login alone makes no account user
    active, for the engine's records and for the oracle's alike. The generated users log in
    whenever they use a feature, so half of the accounts lose their feature use here: they
    have logins only, so no activity (days_since_activity None, "never", not "30 or
    more"). Every field of every record is compared."""
    messages = list(generate(GeneratorConfig(accounts=10, days=35, seed=7)))
    login_only = sorted({m.key for m in messages})[::2]
    dataset = tmp_path / "events.jsonl"
    dataset.write_bytes(
        b"".join(
            m.value + b"\n"
            for m in messages
            if not (m.type == "feature_used" and m.key in login_only)
        )
    )
    config_path = tmp_path / "pulse.toml"
    config_path.write_text('[engine]\nactivity_types = ["feature_used"]\n' + CONFIG)
    problems = disagreements(dataset, None, config_path, Policy(activity_types=("feature_used",)))
    assert not problems, "engine != oracle:\n" + "\n".join(problems)
