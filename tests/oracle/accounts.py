"""The oracle's account records: accounts.sql over the oracle's own admission and revenue
tables, with the `[accounts]` configuration read straight from its TOML text (tomllib,
not the engine's parser). Only tests use it.

`account_rows(oracle, as_of, toml_text)` returns {account_id: row} at T, where each row
holds the record's fields (accounts.sql), the health profile, score and band, and the
trend (score at T minus the score at T - 7d and T - 30d, computed by the same SQL over
the events applied at T with occurred_at at or before the earlier time).
"""

from __future__ import annotations

import tomllib
from typing import Any

from tests.oracle.oracle import DAY_MS, Oracle, _sql

ONBOARDING_DEFAULTS = {
    "activation": "onboarding_completed",
    "activation_days": 14,
    "completion_days": 30,
    "cohort_days": 30,
    "stuck_days": 7,
    "max_onboarding_days": 90,
    "trial_window_days": 30,
}


def _load_config(connection: Any, toml_text: str) -> None:
    accounts = tomllib.loads(toml_text).get("accounts", {})
    onboarding = {**ONBOARDING_DEFAULTS, **accounts.get("onboarding", {})}
    health = accounts["health"]  # the tests give the whole health configuration
    red, yellow = health.get("bands", [50, 75])
    plans = [
        (plan, feature)
        for plan, features in accounts.get("plans", {}).items()
        for feature in features
    ]
    connection.execute("CREATE OR REPLACE TABLE acct_plans (plan VARCHAR, feature VARCHAR)")
    connection.executemany("INSERT INTO acct_plans VALUES (?, ?)", plans or [("\x00", "\x00")])
    connection.execute("CREATE OR REPLACE TABLE acct_steps (step VARCHAR)")
    for step in dict.fromkeys(onboarding.get("steps", [])):
        connection.execute("INSERT INTO acct_steps VALUES (?)", [step])
    connection.execute("CREATE OR REPLACE TABLE acct_core (feature VARCHAR)")
    for feature in onboarding.get("core_features", []):
        connection.execute("INSERT INTO acct_core VALUES (?)", [feature])
    connection.execute(
        "CREATE OR REPLACE TABLE acct_settings AS SELECT ? AS activation, ?::BIGINT AS activation_days, "
        "?::BIGINT AS completion_days, ?::BIGINT AS cohort_days, ?::BIGINT AS stuck_days, "
        "?::BIGINT AS max_onboarding_days, ?::BIGINT AS trial_window_days, ?::DOUBLE AS onboarding_days, "
        "?::DOUBLE AS red, ?::DOUBLE AS yellow",
        [
            onboarding["activation"],
            onboarding["activation_days"],
            onboarding["completion_days"],
            onboarding["cohort_days"],
            onboarding["stuck_days"],
            onboarding["max_onboarding_days"],
            onboarding["trial_window_days"],
            health.get("onboarding_days", 30),
            red,
            yellow,
        ],
    )
    connection.execute(
        "CREATE OR REPLACE TABLE profile_dimensions (profile VARCHAR, dimension VARCHAR, weight DOUBLE)"
    )
    connection.execute(
        "CREATE OR REPLACE TABLE profile_measures (profile VARCHAR, position INTEGER, measure VARCHAR, dimension VARCHAR, "
        "weight DOUBLE, good DOUBLE, average DOUBLE, zero_at DOUBLE, full_at DOUBLE)"
    )
    connection.execute(
        "CREATE OR REPLACE TABLE profile_match (profile VARCHAR, position INTEGER, kind VARCHAR, value VARCHAR)"
    )
    for position, (name, profile) in enumerate(health["profiles"].items()):
        for dimension, weight in profile["dimensions"].items():
            connection.execute(
                "INSERT INTO profile_dimensions VALUES (?, ?, ?)", [name, dimension, weight]
            )
        for number, measure in enumerate(profile["measures"]):
            zero_at, full_at = measure.get("linear", (None, None))
            connection.execute(
                "INSERT INTO profile_measures VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    name,
                    number,
                    measure["measure"],
                    measure["dimension"],
                    measure.get("weight", 1),
                    measure.get("good"),
                    measure.get("average"),
                    zero_at,
                    full_at,
                ],
            )
        for kind in ("segment", "plan"):
            for value in profile.get(kind + "s", []):
                connection.execute(
                    "INSERT INTO profile_match VALUES (?, ?, ?, ?)", [name, position, kind, value]
                )


def _rows_at(connection: Any, view_ms: int) -> dict[str, dict[str, Any]]:
    connection.execute(
        "CREATE OR REPLACE TABLE applied AS SELECT * FROM applied_at_t WHERE occurred_at <= ?",
        [view_ms],
    )
    connection.execute("CREATE OR REPLACE TABLE clock AS SELECT ?::BIGINT AS t", [view_ms])
    connection.execute(_sql("activity_events.sql"))  # who is active, over these events
    connection.execute(_sql("revenue.sql"))
    cursor = connection.execute(_sql("accounts.sql"))
    columns = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}


def account_rows(oracle: Oracle, as_of_ms: int | None, toml_text: str) -> dict[str, dict[str, Any]]:
    oracle.metrics(as_of_ms)  # admission and the clock at T
    connection = oracle._connection
    _load_config(connection, toml_text)
    (t,) = connection.execute("SELECT t FROM clock").fetchone()
    connection.execute("CREATE OR REPLACE TABLE applied_at_t AS SELECT * FROM applied")
    rows = _rows_at(connection, t)
    for days in (7, 30):
        earlier = _rows_at(connection, t - days * DAY_MS)
        for account_id, row in rows.items():
            before = earlier.get(account_id, {}).get("score")
            row[f"trend_{days}d"] = (
                None if row["score"] is None or before is None else row["score"] - before
            )
    _rows_at(connection, t)  # leave the tables as at T
    return rows
