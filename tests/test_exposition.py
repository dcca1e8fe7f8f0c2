"""Exposition: the text parses, every metric has a definition as HELP, counters, collector."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from streams.engine.engine import METRIC_HELP, Engine
from streams.engine.samples import Sample
from streams.exposition import PipelineCounters, SnapshotCollector, render_text
from tests.engine_events import T0, login, synthetic_events

CONTRACT_GAUGES = {
    "pulse_active_users", "pulse_feature_users", "pulse_mrr", "pulse_paying_accounts", "pulse_mrr_movement",
    "pulse_sessions", "pulse_session_time_seconds", "pulse_tickets_open", "pulse_tickets_opened",
    "pulse_survey_responses", "pulse_stickiness_ratio", "pulse_feature_adoption_ratio",
    "pulse_net_revenue_retention_ratio", "pulse_gross_revenue_retention_ratio", "pulse_customer_churn_ratio",
    "pulse_csat_ratio", "pulse_nps_score", "pulse_ces_score", "pulse_arpa", "pulse_logins",
    "pulse_ticket_first_responses", "pulse_ticket_first_response_time_seconds", "pulse_ticket_resolutions",
    "pulse_ticket_resolution_time_seconds", "pulse_evaluation_timestamp_seconds",
}
SHARES = {"pulse_stickiness_ratio", "pulse_feature_adoption_ratio", "pulse_csat_ratio",
          "pulse_gross_revenue_retention_ratio", "pulse_customer_churn_ratio"}


def parsed(text: bytes) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text.decode())}


def busy_engine() -> tuple[Engine, int]:
    events = synthetic_events(seed=7, days=30)
    engine = Engine()
    for event in events:
        engine.apply(event)
    return engine, events[-1].occurred_at


def test_text_parses_and_names_every_contract_metric_with_its_definition():
    engine, end = busy_engine()
    counters = PipelineCounters()
    counters.count_event("login")
    counters.count_rejection("invalid_json")
    counters.count_duplicate()
    families = parsed(render_text(engine.snapshot(end), counters))
    assert CONTRACT_GAUGES <= families.keys()
    for name, family in families.items():
        if family.type == "gauge":
            assert family.documentation == METRIC_HELP[name]
        assert family.documentation and "\n" not in family.documentation
    assert families["pulse_events"].type == "counter"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in families.values() for s in family.samples}
    assert samples[("pulse_events_total", (("type", "login"),))] == 1
    assert samples[("pulse_events_total", (("type", "logout"),))] == 0
    assert samples[("pulse_events_rejected_total", (("reason", "invalid_json"),))] == 1
    assert samples[("pulse_events_duplicate_total", ())] == 1
    assert samples[("pulse_evaluation_timestamp_seconds", ())] == end / 1000


def test_shares_stay_within_0_and_1_and_ratio_gauges_carry_only_window_and_feature():
    engine, end = busy_engine()
    for family in parsed(render_text(engine.snapshot(end))).values():
        for sample in family.samples:
            if family.name in SHARES:
                assert 0 <= sample.value <= 1
            if family.name.endswith(("_ratio", "_score")):
                assert set(sample.labels) <= {"window", "feature"}


def test_money_is_rendered_exactly():
    text = render_text([Sample("pulse_mrr", (("plan", "growth"),), Decimal("616.67"))]).decode()
    assert 'pulse_mrr{plan="growth"} 616.67' in text


def test_collector_builds_families_from_current_state_at_each_scrape():
    engine = Engine()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: (engine.snapshot(T0 + 10), PipelineCounters())))
    assert registry.get_sample_value("pulse_active_users", {"window": "1d"}) == 0
    engine.apply(login(T0, user="a"))
    engine.apply(login(T0 + 1, user="b"))
    assert registry.get_sample_value("pulse_active_users", {"window": "1d"}) == 2
    assert registry.get_sample_value("pulse_events_duplicate_total") == 0
