"""Grafana: the committed dashboards are exactly what grafana/build_dashboards.py makes
(with grafana-foundation-sdk's builders), every panel queries the data source variable,
thresholds come from ops/prometheus/rules/thresholds.yml, money has the reporting
currency's unit, the alerts annotations are there, runbook links lead to runbook
sections, and the dashboards, the rules and the runbooks name the same things."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
GRAFANA = REPO / "grafana"
RECORDING_RULES = REPO / "ops" / "prometheus" / "rules" / "recording.yml"
ALERT_RULES = REPO / "ops" / "prometheus" / "rules" / "alerts.yml"
RUNBOOKS = REPO / "docs" / "runbooks.md"
VARIABLE_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_DEFAULT_STEPS = [{"color": "green", "value": None}, {"color": "red", "value": 80}]
REQUIRED_DASHBOARDS = {
    "pulse-overview": "CS overview",
    "pulse-engagement": "Engagement",
    "pulse-revenue": "Revenue",
    "pulse-support": "Support and satisfaction",
    "pulse-pipeline": "Pipeline health",
}
PLAN_LABELLED_RULES = ("pulse:mrr:sum_by_plan", "pulse:paying_accounts:sum_by_plan")


def _load_builder():
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def committed() -> dict[str, dict]:
    return {
        path.stem: json.loads(path.read_text())
        for path in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def test_committed_dashboards_equal_the_generated_ones():
    generated = {dashboard.uid: builder.render(dashboard) for dashboard in builder.DASHBOARDS}
    on_disk = {path.stem: path.read_text() for path in (GRAFANA / "dashboards").glob("*.json")}
    assert set(on_disk) == set(generated), "run `python grafana/build_dashboards.py`"
    for uid, text in generated.items():
        assert on_disk[uid] == text, (
            f"{uid}.json is out of date: run `python grafana/build_dashboards.py`"
        )


def test_check_mode_reports_a_stale_dashboard(tmp_path, monkeypatch):
    monkeypatch.setattr(builder, "OUTPUT_DIR", tmp_path)
    assert builder.main(["--check"]) == 1
    assert builder.main([]) == 0
    assert builder.main(["--check"]) == 0
    (tmp_path / "pulse-revenue.json").write_text("{}")
    assert builder.main(["--check"]) == 1


def test_the_required_dashboards_exist():
    dashboards = committed()
    for uid, title in REQUIRED_DASHBOARDS.items():
        assert uid in dashboards, f"missing dashboard {uid}"
        assert dashboards[uid]["uid"] == uid
        assert dashboards[uid]["title"].endswith(title)


def variables(dashboard: dict) -> dict[str, dict]:
    return {variable["name"]: variable for variable in dashboard["templating"]["list"]}


def test_every_panel_queries_the_data_source_variable():
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = provisioned["datasources"]
    assert (
        source["type"] == "prometheus" and source["isDefault"] is True
    )  # what the variable starts on
    for uid, dashboard in committed().items():
        variable = variables(dashboard)["datasource"]
        assert variable["type"] == "datasource" and variable["query"] == "prometheus", uid
        assert source["uid"] not in (GRAFANA / "dashboards" / f"{uid}.json").read_text(), (
            f"{uid}: hard-coded uid"
        )
        assert dashboard["panels"], uid
        for panel in dashboard["panels"]:
            where = f"{uid} / {panel['title']}"
            assert panel["datasource"] == VARIABLE_DATASOURCE, where
            assert panel["targets"], f"{where}: no query"
            for target in panel["targets"]:
                assert target["datasource"] == VARIABLE_DATASOURCE, where
                assert target["expr"].strip(), f"{where}: empty query"
        for other in variables(dashboard).values():
            if other["type"] == "query":
                assert other["datasource"] == VARIABLE_DATASOURCE, (
                    f"{uid}: variable {other['name']}"
                )


def spec_panels():
    for dashboard in builder.DASHBOARDS:
        for index, panel in enumerate(dashboard.panels):
            yield dashboard.uid, index, panel


def test_every_panel_has_explicit_thresholds_and_alerted_ones_take_thresholds_yml():
    values = builder.threshold_values()
    assert values["csat_min_ratio"] == 0.80 and values["tickets_open_max"] == 100
    dashboards = committed()
    limited = 0
    for uid, index, panel in spec_panels():
        steps = dashboards[uid]["panels"][index]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        where = f"{uid} / {panel.title}"
        assert steps and steps != GRAFANA_DEFAULT_STEPS, where
        assert steps[0]["value"] is None, where
        if panel.limit is None:
            if not panel.mappings:
                assert [step["color"] for step in steps] == [builder.NEUTRAL], (
                    f"{where}: coloured without a limit"
                )
            continue
        limited += 1
        limit = panel.limit
        if limit.bad_below:
            assert steps == [
                {"color": "red", "value": None},
                {"color": "green", "value": values[limit.bad_below]},
            ]
        else:
            assert steps[-1] == {"color": "red", "value": values[limit.bad_above]}, where
            if limit.warn_above:
                assert {"color": "orange", "value": values[limit.warn_above]} in steps, where
        if panel.kind == "timeseries":
            custom = dashboards[uid]["panels"][index]["fieldConfig"]["defaults"]["custom"]
            assert custom["thresholdsStyle"]["mode"] == "dashed", where
    assert limited >= 10


def test_a_changed_threshold_changes_the_board():
    values = builder.threshold_values()
    changed = builder.Settings(thresholds={**values, "csat_min_ratio": 0.9})
    csat = builder.dashboard_json(builder.SUPPORT, changed)
    (panel,) = [panel for panel in csat["panels"] if panel["title"] == "CSAT (90d)"]
    assert {"color": "green", "value": 0.9} in panel["fieldConfig"]["defaults"]["thresholds"][
        "steps"
    ]


def test_money_panels_carry_the_reporting_currency_unit():
    money = [(uid, index) for uid, index, panel in spec_panels() if panel.unit == builder.MONEY]
    assert len(money) >= 6
    dashboards = committed()
    for uid, index in money:
        assert dashboards[uid]["panels"][index]["fieldConfig"]["defaults"]["unit"] == "currencyUSD"
    euro = builder.dashboard_json(
        builder.REVENUE, builder.Settings(currency="EUR", thresholds=builder.threshold_values())
    )
    assert {panel["fieldConfig"]["defaults"]["unit"] for panel in euro["panels"]} >= {"currencyEUR"}
    assert "currencyUSD" not in json.dumps(euro)
    assert builder.currency_unit("SGD") == "suffix: SGD"


def test_a_bad_currency_is_refused(capsys):
    import pytest

    with pytest.raises(SystemExit) as stopped:
        builder.main(["--currency", "euro"])
    assert stopped.value.code == 2
    assert "ISO 4217" in capsys.readouterr().err


def test_alerts_annotations():
    for uid, dashboard in committed().items():
        builtin, firing = dashboard["annotations"]["list"]
        assert builtin["builtIn"] == 1 and builtin["datasource"]["uid"] == "-- Grafana --", uid
        assert builtin["name"] == "Annotations & Alerts" and builtin["type"] == "dashboard"
        assert firing["datasource"] == VARIABLE_DATASOURCE and firing["expr"].startswith(
            "ALERTS{"
        ), uid


def test_runbook_links_lead_to_runbook_sections_from_the_alerts_base():
    anchors = {
        heading.lower()
        for heading in re.findall(r"^### (Pulse\w+)$", RUNBOOKS.read_text(), re.MULTILINE)
    }
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    # the alerts about a figure a board shows (meta-alerts about the monitoring itself have none)
    alerts = {
        rule["alert"]
        for group in groups
        for rule in group["rules"]
        if "alert" in rule and rule["labels"]["category"] in ("pipeline", "business")
    }
    assert len(alerts) >= 16
    linked = set()
    for uid, dashboard in committed().items():
        base = variables(dashboard)["runbook_base"]
        assert (
            base["query"]["query"] == "label_values(pulse:runbook:info, url)" and base["hide"] == 2
        ), uid
        for panel in dashboard["panels"]:
            for link in panel.get("links", []):
                match = re.fullmatch(r"\$\{runbook_base\}#(\w+)", link["url"])
                assert match and match.group(1) in anchors, (
                    f"{uid} / {panel['title']}: {link['url']}"
                )
                assert link["targetBlank"] is True
                linked.add(match.group(1))
    assert {alert.lower() for alert in alerts} - linked == set(), (
        "alerts whose figure no panel links to its runbook"
    )


def test_reporting_currency_is_shown_on_the_overview():
    (panel,) = [
        panel
        for panel in committed()["pulse-overview"]["panels"]
        if panel["title"] == "Reporting currency"
    ]
    assert panel["targets"][0]["expr"] == "max by (currency) (pulse_reporting_currency_info)"
    assert panel["options"]["textMode"] == "name"


def test_panels_fit_the_grid_and_have_unique_ids():
    for uid, dashboard in committed().items():
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), uid
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, f"{uid} / {panel['title']}"


def test_dashboards_read_recording_rules_that_exist():
    groups = yaml.safe_load(RECORDING_RULES.read_text())["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"]}
    for uid, title, expr in builder.queries():
        for name in re.findall(r"pulse:[a-z0-9_:]+", expr):
            assert name in recorded, f"{uid} / {title}: {name} is not a recording rule"


def test_plan_labelled_metrics_follow_the_plan_variable():
    for uid, dashboard in committed().items():
        declared = set(variables(dashboard))
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                if "$plan" in expr:
                    assert "plan" in declared, f"{uid}: uses $plan without declaring it"
                if "plan" in declared and any(rule in expr for rule in PLAN_LABELLED_RULES):
                    assert 'plan=~"$plan"' in expr, (
                        f"{uid} / {panel['title']}: ignores the plan variable"
                    )
    for uid in ("pulse-overview", "pulse-revenue"):
        variable = variables(committed()[uid])["plan"]
        assert variable["includeAll"] and variable["allValue"] == ".*"
        assert variable["datasource"] == VARIABLE_DATASOURCE


def test_dashboard_provider_loads_the_generated_folder():
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "cs-pulse.yml").read_text()
    )["providers"][0]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    assert provider["options"]["path"].startswith("/")


def test_runbooks_point_at_panels_that_exist():
    titles = {
        dashboard["title"].split(" / ", 1)[1]: {panel["title"] for panel in dashboard["panels"]}
        for dashboard in committed().values()
    }
    references = re.findall(r"^\*\*Dashboard:\*\* (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    assert references
    for line in references:
        for dashboard, panels in re.findall(
            r"([A-Z][\w ]+?) → ((?:\*[^*]+\*(?: and | \(and )?)+)", line
        ):
            assert dashboard in titles, f"runbooks name an unknown dashboard: {dashboard}"
            for panel in re.findall(r"\*([^*]+)\*", panels):
                assert panel in titles[dashboard], (
                    f"runbooks name an unknown panel: {dashboard} → {panel}"
                )
