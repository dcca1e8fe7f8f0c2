"""Grafana: the committed dashboards are exactly what grafana/build_dashboards.py makes,
every panel queries the provisioned data source by uid, and the dashboards, the
recording rules and the runbooks name the same things."""

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
RUNBOOKS = REPO / "docs" / "runbooks.md"
REQUIRED_DASHBOARDS = {
    "pulse-overview": "CS overview",
    "pulse-engagement": "Engagement",
    "pulse-revenue": "Revenue",
    "pulse-support": "Support and satisfaction",
    "pulse-pipeline": "Pipeline health",
}
PLAN_LABELLED_RULES = ("pulse:mrr:sum_by_plan", "pulse:paying_accounts:sum_by_plan")


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def committed() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted((GRAFANA / "dashboards").glob("*.json"))}


def test_committed_dashboards_equal_the_generated_ones():
    generated = {dashboard.uid: builder.render(dashboard) for dashboard in builder.DASHBOARDS}
    on_disk = {path.stem: path.read_text() for path in (GRAFANA / "dashboards").glob("*.json")}
    assert set(on_disk) == set(generated), "run `python grafana/build_dashboards.py`"
    for uid, text in generated.items():
        assert on_disk[uid] == text, f"{uid}.json is out of date: run `python grafana/build_dashboards.py`"


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


def test_every_panel_queries_the_provisioned_data_source():
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == builder.DATASOURCE_UID
    for uid, dashboard in committed().items():
        assert dashboard["panels"], uid
        for panel in dashboard["panels"]:
            where = f"{uid} / {panel['title']}"
            assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, where
            assert panel["targets"], f"{where}: no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == source["uid"], where
                assert target["expr"].strip(), f"{where}: empty query"


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
        variables = {variable["name"] for variable in dashboard["templating"]["list"]}
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                if "$plan" in expr:
                    assert "plan" in variables, f"{uid}: uses $plan without declaring it"
                if "plan" in variables and any(rule in expr for rule in PLAN_LABELLED_RULES):
                    assert 'plan=~"$plan"' in expr, f"{uid} / {panel['title']}: ignores the plan variable"
    for uid in ("pulse-overview", "pulse-revenue"):
        variable = committed()[uid]["templating"]["list"][0]
        assert variable["name"] == "plan" and variable["includeAll"] and variable["allValue"] == ".*"
        assert variable["datasource"]["uid"] == builder.DATASOURCE_UID


def test_dashboard_provider_loads_the_generated_folder():
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "cs-pulse.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    assert provider["options"]["path"].startswith("/")


def test_runbooks_point_at_panels_that_exist():
    titles = {dashboard["title"].split(" / ", 1)[1]: {panel["title"] for panel in dashboard["panels"]}
              for dashboard in committed().values()}
    references = re.findall(r"^\*\*Dashboard:\*\* (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    assert references
    for line in references:
        for dashboard, panels in re.findall(r"([A-Z][\w ]+?) → ((?:\*[^*]+\*(?: and | \(and )?)+)", line):
            assert dashboard in titles, f"runbooks name an unknown dashboard: {dashboard}"
            for panel in re.findall(r"\*([^*]+)\*", panels):
                assert panel in titles[dashboard], f"runbooks name an unknown panel: {dashboard} → {panel}"
