"""Exposition: the text parses, every metric has a definition as HELP, counters, collector,
global ratios only on request, the info gauges, and `promtool check metrics` passes."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from streams.engine.engine import GLOBAL_RATIOS, METRIC_HELP, Engine
from streams.engine.samples import Sample
from streams.exposition import (
    Exposition,
    FamiliesCollector,
    build_version,
    metric_families,
    render_text,
)
from streams.ingest.counters import PipelineCounters
from tests.engine_events import T0, login, synthetic_events

CONTRACT_GAUGES = {
    "pulse_active_users",
    "pulse_feature_users",
    "pulse_mrr",
    "pulse_paying_accounts",
    "pulse_mrr_movement",
    "pulse_sessions",
    "pulse_session_duration_sum_seconds",
    "pulse_tickets_open",
    "pulse_tickets_opened",
    "pulse_survey_responses",
    "pulse_stickiness_ratio",
    "pulse_feature_adoption_ratio",
    "pulse_net_revenue_retention_ratio",
    "pulse_gross_revenue_retention_ratio",
    "pulse_customer_churn_ratio",
    "pulse_csat_ratio",
    "pulse_nps_score",
    "pulse_ces_score",
    "pulse_arpa",
    "pulse_logins",
    "pulse_ticket_first_responses",
    "pulse_ticket_first_response_duration_sum_seconds",
    "pulse_ticket_resolutions",
    "pulse_ticket_resolution_duration_sum_seconds",
    "pulse_evaluation_timestamp_seconds",
}
SHARES = {
    "pulse_stickiness_ratio",
    "pulse_feature_adoption_ratio",
    "pulse_csat_ratio",
    "pulse_gross_revenue_retention_ratio",
    "pulse_customer_churn_ratio",
}


WITH_RATIOS = Exposition(ratios=True)
# The additive parts every global ratio is recomputed from by the recording rules.
RATIO_PARTS = {
    "pulse_active_users",
    "pulse_feature_users",
    "pulse_csat_ratings",
    "pulse_csat_satisfied_ratings",
    "pulse_nps_promoters",
    "pulse_nps_detractors",
    "pulse_survey_responses",
    "pulse_ces_score_sum_points",
    "pulse_retention_base_mrr",
    "pulse_retention_current_mrr",
    "pulse_retention_capped_mrr",
    "pulse_retention_base_accounts",
    "pulse_retention_churned_accounts",
    "pulse_mrr",
    "pulse_paying_accounts",
    "pulse_mrr_movement",
}


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
    families = parsed(render_text(engine.snapshot(end), counters, WITH_RATIOS))
    assert families.keys() >= CONTRACT_GAUGES
    for name, family in families.items():
        if family.type == "gauge" and not name.endswith("_info"):
            assert family.documentation == METRIC_HELP[name]
        assert family.documentation and "\n" not in family.documentation
    assert families["pulse_events"].type == "counter"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    assert samples[("pulse_events_total", (("type", "login"),))] == 1
    assert samples[("pulse_events_total", (("type", "logout"),))] == 0
    assert samples[("pulse_events_rejected_total", (("reason", "invalid_json"),))] == 1
    assert samples[("pulse_events_duplicate_total", ())] == 1
    assert samples[("pulse_evaluation_timestamp_seconds", ())] == end / 1000


def test_shares_stay_within_0_and_1_and_ratio_gauges_carry_only_window_and_feature():
    engine, end = busy_engine()
    for family in parsed(render_text(engine.snapshot(end), exposition=WITH_RATIOS)).values():
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
    registry.register(
        FamiliesCollector(lambda: metric_families(engine.snapshot(T0 + 10), PipelineCounters()))
    )
    assert registry.get_sample_value("pulse_active_users", {"window": "1d"}) == 0
    engine.apply(login(T0, user="a"))
    engine.apply(login(T0 + 1, user="b"))
    assert registry.get_sample_value("pulse_active_users", {"window": "1d"}) == 2
    assert registry.get_sample_value("pulse_events_duplicate_total") == 0


def test_a_worker_exports_the_additive_parts_and_no_global_ratio():
    engine, end = busy_engine()
    worker = parsed(render_text(engine.snapshot(end), PipelineCounters()))
    everything = parsed(render_text(engine.snapshot(end), PipelineCounters(), WITH_RATIOS))
    assert everything.keys() >= GLOBAL_RATIOS
    assert not GLOBAL_RATIOS & worker.keys()
    assert worker.keys() >= RATIO_PARTS
    assert set(everything) - set(worker) == GLOBAL_RATIOS


def test_build_and_reporting_currency_info_gauges():
    engine, end = busy_engine()
    families = parsed(render_text(engine.snapshot(end), exposition=Exposition(currency="EUR")))
    (build,) = families["pulse_build_info"].samples
    assert build.labels == {"version": build_version()} and build.value == 1
    assert build_version() != "unknown"
    (currency,) = families["pulse_reporting_currency_info"].samples
    assert currency.labels == {"currency": "EUR"} and currency.value == 1


def promtool_check_metrics(text: bytes) -> str:
    """`promtool check metrics` of an exposition: its complaints ("" when it passes)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is not installed: run `sh ops/install-prometheus.sh` (Debian's prometheus package)."
        )
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    return "" if result.returncode == 0 else (result.stdout + result.stderr).decode()


@pytest.mark.prometheus
@pytest.mark.local_tool
@pytest.mark.parametrize("exposition", [Exposition(), WITH_RATIOS], ids=["worker", "replay"])
def test_promtool_check_metrics_passes(exposition):
    engine, end = busy_engine()
    counters = PipelineCounters()
    counters.count_event("login")
    counters.count_rejection("invalid_json")
    assert promtool_check_metrics(render_text(engine.snapshot(end), counters, exposition)) == ""
