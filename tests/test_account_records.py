"""The account record, the health score and the onboarding cohorts (engine, pure)."""

from __future__ import annotations

import dataclasses
import random
import tomllib
from decimal import Decimal

import pytest

from streams.contract.model import AccountUpdated, SubscriptionSet
from streams.engine import cohorts
from streams.engine.accounts_config import AccountsConfig
from streams.engine.engine import Engine
from streams.engine.engine_config import EngineConfig
from streams.engine.health import DEFAULT_HEALTH_TOML, HealthConfig, score
from streams.engine.records import account_record, account_records
from streams.engine.revenue import RevenueConfig
from streams.engine.state_codec import account_from_bytes, account_to_bytes
from streams.engine.timeline import DAY_MS, HOUR_MS
from streams.errors import ConfigError
from streams.generator import GeneratorConfig, generate
from streams.ingest.pipeline import Pipeline
from streams.pulse_config import PulseConfig, load_config
from tests.engine_events import (
    T0,
    apply_all,
    canceled,
    feature,
    login,
    onboarded,
    opened,
    paid,
    signup,
    step,
    subscribed,
    survey,
    value,
)

PLANS = {
    "starter": ["dashboard", "search"],
    "growth": ["dashboard", "search", "export_csv", "alerts"],
}
STEPS = ["create_workspace", "invite_teammates", "connect_data_source"]


def accounts_config(**onboarding: object) -> AccountsConfig:
    return AccountsConfig.from_mapping(
        {"plans": PLANS, "onboarding": {"steps": STEPS, **onboarding}}
    )


def updated(
    t: int,
    account: str = "a1",
    *,
    event_id: str | None = None,
    name: str = "Acme",
    segment: str = "smb",
    owner: str = "csm-ana",
    renewal_at: int | None = None,
    seats: int | None = None,
) -> AccountUpdated:
    return AccountUpdated(
        event_id or f"u-{account}-{t}",
        "account_updated",
        t,
        account,
        None,
        name=name,
        segment=segment,
        owner=owner,
        renewal_at=renewal_at,
        seats_purchased=seats,
    )


def trial(
    t: int, ends: int, account: str = "a1", plan: str = "growth", amount: str = "100"
) -> SubscriptionSet:
    return SubscriptionSet(
        f"tr-{account}-{t}",
        "subscription_started",
        t,
        account,
        None,
        subscription_id="s1",
        plan=plan,
        amount=Decimal(amount),
        currency="USD",
        interval="month",
        trial_ends_at=ends,
    )


def records_of(engine: Engine, as_of: int, config: AccountsConfig | None = None) -> dict[str, dict]:
    config = config or accounts_config()
    rows = account_records(
        engine.store.items(), as_of, engine.config, engine.revenue_config, config
    )
    return {row["account_id"]: row for row in rows}


# --------------------------------------------------------------------------- the record


def test_crm_facts_are_the_latest_account_updated_at_t_whatever_the_arrival_order() -> None:
    first = updated(T0, owner="csm-ana", seats=10, renewal_at=T0 + 100 * DAY_MS)
    second = updated(T0 + 5 * DAY_MS, owner="csm-ben")  # no seats, no renewal: unknown from now on
    for events in ([first, second], [second, first]):
        engine = Engine()
        apply_all(engine, events)
        before = records_of(engine, T0 + DAY_MS)["a1"]
        after = records_of(engine, T0 + 6 * DAY_MS)["a1"]
        assert (before["owner"], before["seats_purchased"], before["days_to_renewal"]) == (
            "csm-ana",
            10,
            99,
        )
        assert (after["owner"], after["seats_purchased"], after["renewal_at"]) == (
            "csm-ben",
            None,
            None,
        )
        assert records_of(engine, T0 - 1)["a1"]["name"] is None


def test_a_feature_outside_the_plan_is_never_listed_and_never_counts_as_zero() -> None:
    engine = Engine()
    apply_all(
        engine,
        [
            subscribed(T0, "10", plan="starter"),
            login(T0 + HOUR_MS, user="u1"),
            feature(T0 + HOUR_MS, "dashboard", user="u1"),
            login(T0 + HOUR_MS, user="u2"),
            feature(T0 + HOUR_MS, "export_csv", user="u2"),
        ],
    )
    record = records_of(engine, T0 + 2 * HOUR_MS)["a1"]
    assert record["plan"] == "starter"
    assert record["feature_adoption"] == {"dashboard": 0.5, "search": 0.0}
    assert "export_csv" not in record["feature_users"]
    assert record["measures"]["plan_feature_adoption"] == 0.25
    # a plan with no configured features: no adoption at all (missing, not 0)
    unconfigured = AccountsConfig.from_mapping({})
    record = records_of(engine, T0 + 2 * HOUR_MS, unconfigured)["a1"]
    assert record["feature_adoption"] == {} and record["measures"]["plan_feature_adoption"] is None


def test_lifecycle_stages() -> None:
    engine = Engine()
    apply_all(
        engine,
        [
            trial(T0, T0 + 14 * DAY_MS, account="trialing"),
            subscribed(T0, "50", account="churned"),
            canceled(T0 + 10 * DAY_MS, account="churned"),
            signup(T0, account="new"),
            step(T0 + HOUR_MS, "create_workspace", account="new"),
            signup(T0, account="done"),
            onboarded(T0 + DAY_MS, account="done"),
            subscribed(T0, "50", account="paying"),
        ],
    )
    stages = {a: r["stage"] for a, r in records_of(engine, T0 + 12 * DAY_MS).items()}
    assert stages == {
        "trialing": "trial",
        "churned": "churned",
        "new": "onboarding",
        "done": "active",
        "paying": "active",
    }
    # the trial converts at its end (the subscription pays from then on): active
    assert records_of(engine, T0 + 15 * DAY_MS)["trialing"]["stage"] == "active"
    # onboarding ends after max_onboarding_days (90) even when never completed
    assert records_of(engine, T0 + 91 * DAY_MS)["new"]["stage"] == "active"


def test_money_seats_and_payment_status() -> None:
    engine = Engine()
    failed = paid(T0 + 3 * DAY_MS, "30")
    failed = type(failed)(
        failed.event_id,
        "payment_failed",
        failed.occurred_at,
        "a1",
        None,
        subscription_id="s1",
        amount=Decimal("30"),
        currency="USD",
    )
    seats = SubscriptionSet(
        "q",
        "subscription_started",
        T0,
        "a1",
        None,
        subscription_id="s1",
        plan="growth",
        amount=Decimal("10"),
        currency="USD",
        interval="month",
        quantity=3,
    )
    apply_all(engine, [seats, paid(T0 + DAY_MS, "30"), failed, login(T0 + 4 * DAY_MS, user="u1")])
    record = records_of(engine, T0 + 5 * DAY_MS + HOUR_MS)["a1"]
    assert (record["mrr"], record["arr"], record["seats_paid"]) == (
        Decimal("30.00"),
        Decimal("360.00"),
        3,
    )
    assert record["license_utilisation"] == pytest.approx(1 / 3)
    assert (record["payment_status"], record["past_due_since"], record["days_past_due"]) == (
        "past_due",
        failed.occurred_at,
        2,
    )
    assert record["mrr_movements_30d"]["new"] == Decimal("30.00")


def generated_engine(
    seed: int, accounts: int = 40, days: int = 45
) -> tuple[Engine, int, PulseConfig]:
    config = PulseConfig.from_mapping(
        {"accounts": {"plans": PLANS, "onboarding": {"steps": STEPS}}}
    )
    pipeline = Pipeline(config, clock=None, apply_until=None, check_topic=False)
    for message in generate(GeneratorConfig(accounts=accounts, days=days, seed=seed)):
        pipeline.process(message.value, None, 0, 0)
    return pipeline.engine, pipeline.latest_applied, config


@pytest.mark.parametrize("seed", [1, 2])
def test_global_additive_figures_equal_the_sum_of_the_account_records(seed: int) -> None:
    engine, end, config = generated_engine(seed)
    for as_of in (end, end - 10 * DAY_MS):
        samples = engine.snapshot(as_of)
        records = list(records_of(engine, as_of, config.accounts).values())
        total = lambda field: sum(record[field] for record in records)  # noqa: E731, B023 - used in this iteration
        for window in ("1d", "7d", "30d"):
            assert total(f"active_users_{window}") == value(
                samples, "pulse_active_users", window=window
            )
        assert total("sessions_7d") == value(samples, "pulse_sessions", window="7d")
        assert total("session_time_7d_seconds") == pytest.approx(
            value(samples, "pulse_session_duration_sum_seconds", window="7d")
        )
        assert total("logins_7d") == value(samples, "pulse_logins", window="7d")
        open_total = sum(s.value for s in samples if s.name == "pulse_tickets_open")
        assert total("tickets_open") == open_total
        assert total("urgent_tickets_open") == value(
            samples, "pulse_tickets_open", priority="urgent"
        )
        assert total("nps_responses_90d") == value(
            samples, "pulse_survey_responses", survey="nps", window="90d"
        )
        assert total("csat_ratings_90d") == value(samples, "pulse_csat_ratings", window="90d")
        mrr = sum(s.value for s in samples if s.name == "pulse_mrr")
        assert total("mrr") == mrr
        for kind in ("new", "expansion", "contraction", "churn", "reactivation"):
            assert sum(r["mrr_movements_30d"][kind] for r in records) == Decimal(
                str(value(samples, "pulse_mrr_movement", kind=kind, window="30d"))
            ).quantize(Decimal("0.01"))
        paying = sum(s.value for s in samples if s.name == "pulse_paying_accounts")
        assert sum(1 for r in records if r["mrr"] > 0) == paying
        assert sum(1 for r in records if r["payment_status"] == "past_due") == value(
            samples, "pulse_past_due_accounts"
        )
        assert sum(1 for r in records if r["stage"] == "trial") == value(
            samples, "pulse_trialing_accounts"
        )
        assert sum(r["tickets_opened_30d"] for r in records) >= value(
            samples, "pulse_tickets_opened", window="7d"
        )


def test_generated_data_makes_every_band_stage_and_onboarding_outcome_occur() -> None:
    engine, end, config = generated_engine(3, accounts=80, days=60)
    records = list(records_of(engine, end, config.accounts).values())
    assert {r["health"]["band"] for r in records} >= {"red", "yellow", "green"}
    assert {r["stage"] for r in records} >= {"active", "onboarding", "churned"}
    assert {r["segment"] for r in records} >= {"smb", "mid_market"}
    assert len({r["owner"] for r in records}) >= 4
    summary = cohorts.totals(r["onboarding"] for r in records)
    assert summary["stuck"] > 0 and summary["completed"] > 0 and summary["activated"] > 0


def test_the_record_survives_the_byte_form_and_pruning() -> None:
    engine, end, config = generated_engine(4, accounts=15, days=40)
    before = records_of(engine, end, config.accounts)
    for account_id, state in list(engine.store.items()):
        engine.store[account_id] = account_from_bytes(account_to_bytes(state))
    engine.prune()
    assert records_of(engine, end, config.accounts) == before


# --------------------------------------------------------------------------- health


def health_config(text: str) -> HealthConfig:
    return HealthConfig.from_mapping(tomllib.loads(text)["accounts"]["health"])


SIMPLE = """
[accounts.health]
onboarding_days = 10
[accounts.health.profiles.default]
dimensions = { engagement = 60, sentiment = 40 }
measures = [
  { measure = "stickiness", dimension = "engagement", weight = 1, good = 0.2, average = 0.1 },
  { measure = "days_since_activity", dimension = "engagement", weight = 1, linear = [20, 0] },
  { measure = "nps", dimension = "sentiment", weight = 1, good = 30, average = 0 },
]
[accounts.health.profiles.big]
segments = ["enterprise"]
dimensions = { sentiment = 1 }
measures = [{ measure = "nps", dimension = "sentiment", weight = 1, good = 50, average = 0 }]
[accounts.health.profiles.onboarding]
dimensions = { adoption = 1 }
measures = [{ measure = "onboarding_progress", dimension = "adoption", weight = 1, linear = [0, 1] }]
"""


def test_points_dimensions_score_and_contributions() -> None:
    config = health_config(SIMPLE)
    profile = config.profile_for("smb", "growth", 100)
    health = score({"stickiness": 0.15, "days_since_activity": 5, "nps": 40}, profile, config)
    # engagement = (60 + 75) / 2 = 67.5; sentiment = 100; score = 0.6 x 67.5 + 0.4 x 100
    assert health.score == pytest.approx(80.5)
    assert health.band == "green"
    assert sum(row["contribution"] for row in health.explanation) == pytest.approx(health.score)
    assert [row["points"] for row in health.explanation] == [60.0, 75.0, 100.0]


def test_a_missing_value_is_excluded_and_the_weights_renormalised_never_read_as_zero() -> None:
    config = health_config(SIMPLE)
    profile = config.profile_for("smb", None, 100)
    without_nps = score({"stickiness": 0.3, "days_since_activity": 0, "nps": None}, profile, config)
    assert without_nps.score == 100.0  # not 60 (what reading a missing NPS as 0 points would give)
    assert (
        without_nps.explanation[2]["points"] is None
        and without_nps.explanation[2]["contribution"] is None
    )
    nothing = score({}, profile, config)
    assert (nothing.score, nothing.band) == (None, "unknown")


def test_bands_follow_gainsight_bounds() -> None:
    config = health_config(SIMPLE)
    assert [config.band(s) for s in (0, 50, 50.000001, 75, 75.000001, 100)] == [
        "red",
        "red",
        "yellow",
        "yellow",
        "green",
        "green",
    ]


def test_profile_choice_onboarding_then_segment_then_plan_then_default() -> None:
    config = health_config(SIMPLE)
    assert config.profile_for("enterprise", "growth", 5).name == "onboarding"
    assert config.profile_for("enterprise", "growth", 10).name == "big"
    assert config.profile_for("smb", "growth", None).name == "default"


def test_the_shipped_profile_loads_and_is_the_default() -> None:
    shipped = health_config(DEFAULT_HEALTH_TOML)
    assert AccountsConfig().health == shipped
    assert {p.name for p in shipped.profiles} == {"default", "onboarding"}


@pytest.mark.parametrize(
    "text, words",
    [
        (
            "[accounts.health.profiles.default]\ndimensions = { mood = 1 }\nmeasures = []",
            "dimensions must map",
        ),
        (
            '[accounts.health.profiles.default]\ndimensions = { sentiment = 1 }\nmeasures = [{ measure = "vibes", dimension = "sentiment", good = 1, average = 0 }]',
            "is not known",
        ),
        (
            '[accounts.health.profiles.default]\ndimensions = { sentiment = 1 }\nmeasures = [{ measure = "nps", dimension = "sentiment" }]',
            "give thresholds",
        ),
        (
            '[accounts.health.profiles.x]\ndimensions = { sentiment = 1 }\nmeasures = [{ measure = "nps", dimension = "sentiment", good = 1, average = 0 }]',
            'named "default"',
        ),
        ("[accounts.health]\nbands = [80, 20]", "bands must be"),
        ('[accounts.onboarding]\nactivation = "core_feature"', "needs core_features"),
        ("[accounts]\nfoo = 1", "Unknown key [accounts] foo"),
    ],
)
def test_bad_account_configuration_is_one_sentence(tmp_path, text: str, words: str) -> None:
    path = tmp_path / "pulse.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert words in message and "\n" not in message and message.endswith(".")


SESSIONS_SCORED = """
[accounts.health.profiles.default]
dimensions = { engagement = 1 }
measures = [
  { measure = "sessions_7d_per_active_user", dimension = "engagement", weight = 1, linear = [0, 3] },
  { measure = "stickiness", dimension = "engagement", weight = 1, good = 0.2, average = 0.1 },
]
"""


@pytest.mark.parametrize("health", ["shipped", "sessions scored"])
def test_the_trend_is_the_same_function_seven_and_thirty_days_earlier(health: str) -> None:
    """The earlier evaluations count sessions only when a profile scores them: the trend
    is the record's own score then, either way."""
    engine, end, config = generated_engine(5, accounts=25, days=50)
    accounts = config.accounts
    if health != "shipped":
        accounts = dataclasses.replace(accounts, health=health_config(SESSIONS_SCORED))
    assert accounts.health.scores("sessions_7d_per_active_user") == (health != "shipped")
    moved = 0
    for account_id, state in engine.store.items():
        now = account_record(account_id, state, end, engine.config, engine.revenue_config, accounts)
        for days in (7, 30):
            then = account_record(
                account_id,
                state,
                end - days * DAY_MS,
                engine.config,
                engine.revenue_config,
                accounts,
            )
            score, earlier = now["health"]["score"], then["health"]["score"]
            trend = now["health"][f"trend_{days}d"]
            if (
                score is not None
                and earlier is not None
                and state.journey.exists_at(end - days * DAY_MS)
            ):
                assert trend == pytest.approx(score - earlier)
                moved += trend != 0
            else:
                assert trend is None
    assert moved  # some health moved: the earlier scores were compared, not only None


# --------------------------------------------------------------------------- onboarding cohorts


def test_seed_000_worked_example_x2_ten_customers_250_days_average_25() -> None:
    """Seed 000, X2: 10 customers who took 250 days in total -> 25 days on average (here
    5 x 20 + 5 x 30 days), all in one monthly completion cohort."""
    config = accounts_config(completion_days=30, cohort_days=30)
    engine = Engine()
    durations = [20] * 5 + [30] * 5
    for number, days in enumerate(durations):
        account = f"c{number}"
        start = T0 + number * HOUR_MS
        apply_all(
            engine,
            [signup(start, account=account), onboarded(start + days * DAY_MS, account=account)],
        )
    # two signups that never complete: in the cohort, not in the average
    apply_all(engine, [signup(T0, account="late1"), signup(T0 + DAY_MS, account="late2")])
    as_of = T0 + 31 * DAY_MS
    summary = cohorts.totals(r["onboarding"] for r in records_of(engine, as_of, config).values())
    assert summary["completed"] == 10 and summary["completion_days_sum"] == pytest.approx(250)
    assert summary["average_completion_days"] == pytest.approx(25.0)
    assert summary["completion_cohort"] == 12 and summary["completion_rate"] == pytest.approx(
        10 / 12
    )


def test_activation_time_to_value_and_stuck() -> None:
    config = accounts_config(
        activation="core_feature",
        core_features=["dashboard"],
        activation_days=14,
        cohort_days=30,
        stuck_days=7,
    )
    engine = Engine()
    ttv_days = [0.5, 1, 2, 3, 20]  # the last one misses the 14 days
    for number, days in enumerate(ttv_days):
        account = f"x{number}"
        apply_all(
            engine,
            [
                signup(T0, account=account),
                feature(T0 + int(days * DAY_MS), "dashboard", account=account),
            ],
        )
    apply_all(
        engine, [signup(T0, account="idle"), step(T0 + DAY_MS, "create_workspace", account="idle")]
    )
    as_of = T0 + 15 * DAY_MS
    records = records_of(engine, as_of, config)
    summary = cohorts.totals(r["onboarding"] for r in records.values())
    assert (summary["activation_cohort"], summary["activated"]) == (6, 4)
    assert summary["ttv_median_days"] == 1 and summary["ttv_p90_days"] == 3
    assert records["idle"]["onboarding"]["stuck"] == 1 and records["x0"]["onboarding"]["stuck"] == 1
    assert records["idle"]["onboarding"]["progress"] == pytest.approx(1 / 3)
    assert summary["stuck"] == 6  # nobody completed onboarding and no step for more than 7 days


def test_trial_conversion() -> None:
    engine = Engine()
    apply_all(
        engine,
        [
            trial(T0, T0 + 10 * DAY_MS, account="converts"),
            trial(T0, T0 + 10 * DAY_MS, account="leaves"),
            canceled(T0 + 9 * DAY_MS, account="leaves"),
            trial(T0, T0 + 40 * DAY_MS, account="still"),
        ],
    )
    summary = cohorts.totals(r["onboarding"] for r in records_of(engine, T0 + 20 * DAY_MS).values())
    assert (
        summary["trials_ended"],
        summary["trials_converted"],
        summary["trial_conversion_rate"],
    ) == (2, 1, 0.5)


def test_onboarding_totals_are_the_sum_of_the_accounts() -> None:
    engine, end, config = generated_engine(6, accounts=60, days=60)
    blocks = [r["onboarding"] for r in records_of(engine, end, config.accounts).values()]
    summary = cohorts.totals(blocks)
    for key in cohorts.ADDITIVE:
        assert summary[key] == pytest.approx(sum(block[key] for block in blocks))


def test_a_random_order_gives_the_same_records() -> None:
    events = [
        updated(T0 - DAY_MS),
        signup(T0),
        step(T0 + HOUR_MS, "create_workspace"),
        subscribed(T0, "20"),
        login(T0 + DAY_MS),
        feature(T0 + DAY_MS, "search"),
        opened(T0 + DAY_MS),
        survey(T0 + 2 * DAY_MS, "nps", 9),
        onboarded(T0 + 3 * DAY_MS),
    ]
    expected = None
    for seed in range(5):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        engine = Engine(EngineConfig(), RevenueConfig())
        apply_all(engine, shuffled)
        got = records_of(engine, T0 + 4 * DAY_MS)
        expected = expected or got
        assert got == expected


def test_docs_show_the_shipped_health_configuration_verbatim() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "health.md").read_text()
    assert DEFAULT_HEALTH_TOML in text


def test_account_updated_flows_through_decode_and_admission_and_is_never_too_late() -> None:
    config = PulseConfig.from_mapping({})
    pipeline = Pipeline(config, clock=None, apply_until=None, check_topic=True)
    newer = b'{"event_id": "s1", "type": "signup", "occurred_at": "2026-03-01T00:00:00Z", "account_id": "a1", "user_id": "u1"}'
    older = (
        b'{"event_id": "u1", "type": "account_updated", "occurred_at": "2025-09-01T00:00:00Z", "account_id": "a1",'
        b' "name": "Acme", "segment": "smb", "owner": "csm-ana", "seats_purchased": 4}'
    )
    assert pipeline.process(newer, "pulse.lifecycle", 0, 1).status.name == "APPLIED"
    assert (
        pipeline.process(older, "pulse.lifecycle", 0, 2).status.name == "APPLIED"
    )  # 181 days behind
    assert pipeline.process(older, "pulse.lifecycle", 0, 3).status.name == "DUPLICATE"
    bad = pipeline.process(older.replace(b'"csm-ana"', b'""'), "pulse.lifecycle", 0, 4)
    assert bad.status.name == "REJECTED" and b"invalid_field:owner" in bad.dead_letter
    record = records_of(pipeline.engine, pipeline.latest_applied)["a1"]
    assert (record["name"], record["owner"], record["seats_purchased"]) == ("Acme", "csm-ana", 4)


def test_rows_written_before_the_account_layer_still_load() -> None:
    import orjson

    engine = Engine()
    apply_all(engine, [login(T0), subscribed(T0, "10")])
    obj = orjson.loads(account_to_bytes(engine.store["a1"]))
    del obj["j"], obj["f"]
    state = account_from_bytes(orjson.dumps(obj))
    assert state.journey.first_seen < 0 and state.facts == []
    assert account_record("a1", state, T0 + 1, EngineConfig(), RevenueConfig(), accounts_config())[
        "mrr"
    ] == Decimal("10.00")


def test_account_updated_at_the_same_millisecond_the_larger_event_id_wins() -> None:
    a = updated(T0, event_id="evt-a", owner="csm-ana")
    b = updated(T0, event_id="evt-b", owner="csm-ben")
    for events in ([a, b], [b, a]):
        engine = Engine()
        apply_all(engine, events)
        assert records_of(engine, T0)["a1"]["owner"] == "csm-ben"
