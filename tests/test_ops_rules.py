"""The Prometheus rules and the Alertmanager config, checked with the real tools.

promtool (Debian's prometheus package) checks the rule files and the scrape config and
runs the unit tests of ops/prometheus/tests/; amtool (prometheus-alertmanager) checks the
Alertmanager config and its routing. `ops/install-prometheus.sh` installs both; without
them these tests fail, naming that script. Static checks here keep the rules, the tests,
the runbooks and the thresholds consistent with one another.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "ops" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_CONFIG = REPO / "ops" / "alertmanager" / "alertmanager.yml"
RUNBOOKS = REPO / "docs" / "runbooks.md"
PIPELINE_GATE = "and on() (pulse:pipeline_healthy == 1)"
TOOL_TIMEOUT_S = 120

pytestmark = pytest.mark.prometheus


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `sh ops/install-prometheus.sh` "
                    "(Debian's prometheus and prometheus-alertmanager packages).")
    return path


def run(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(arg) for arg in args], cwd=cwd, capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT_S, check=False)


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert_cases() -> list[tuple[str, dict]]:
    """(test group name, alert_rule_test case) for every case of every promtool test file."""
    cases = []
    for path in RULE_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            cases += [(group["name"], case) for case in group.get("alert_rule_test", [])]
    return cases


# --- promtool -------------------------------------------------------------------------


def test_rule_files_pass_promtool_check():
    result = run(tool("promtool"), "check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_passes_promtool_check():
    result = run(tool("promtool"), "check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=[path.name for path in RULE_TESTS])
def test_promtool_unit_tests_pass(test_file: Path):
    result = run(tool("promtool"), "test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case():
    cases = alert_cases()
    for rule in alert_rules():
        name = rule["alert"]
        firing = [case for _, case in cases if case["alertname"] == name and case.get("exp_alerts")]
        quiet = [case for _, case in cases if case["alertname"] == name and not case.get("exp_alerts")]
        assert firing, f"{name} has no promtool case where it fires"
        assert quiet, f"{name} has no promtool case where it stays quiet"
        for case in firing:
            for expected in case["exp_alerts"]:
                assert {"severity", "category"} <= set(expected["exp_labels"]), f"{name}: firing case without labels"
                assert set(expected["exp_annotations"]) == {"summary", "description", "runbook"}, name


def test_business_alerts_are_held_by_the_pipeline_gate(tmp_path: Path):
    """Without `pulse:pipeline_healthy == 1` each business alert's quiet-while-broken case
    (a test group named "... while ...") must fail: those cases stay quiet because of the
    gate, not by accident."""
    shutil.copytree(PROMETHEUS_DIR / "rules", tmp_path / "rules")
    (tmp_path / "tests").mkdir()
    for name in ("business.yml", "business_weekly.yml"):
        suite = yaml.safe_load((PROMETHEUS_DIR / "tests" / name).read_text())
        suite["tests"] = [group for group in suite["tests"] if " while " in group["name"]]
        (tmp_path / "tests" / name).write_text(yaml.safe_dump(suite))
    alerts = tmp_path / "rules" / "alerts.yml"
    text = alerts.read_text()
    business = [rule["alert"] for rule in alert_rules() if rule["labels"]["category"] == "business"]
    assert text.count(PIPELINE_GATE) == len(business), "every business alert, and only those, carry the gate"
    alerts.write_text(text.replace(PIPELINE_GATE, ""))

    result = run(tool("promtool"), "test", "rules", "business.yml", "business_weekly.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0
    failed = set(re.findall(r"alertname: (\w+), time:", result.stdout + result.stderr))
    assert failed == set(business), f"ungated alerts that a broken-pipeline case did not catch: {set(business) - failed}"


def test_every_alert_is_labelled_and_annotated():
    anchors = {_anchor(heading) for heading in re.findall(r"^#{2,3} (.+)$", RUNBOOKS.read_text(), re.MULTILINE)}
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["labels"]["category"] in {"pipeline", "business"}, name
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), name
        assert "$value" in annotations["description"], f"{name}: the description must quote the current value"
        assert annotations["runbook"] == f"docs/runbooks.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/runbooks.md has no section for {name}"


def test_thresholds_are_all_used_and_all_defined():
    thresholds = yaml.safe_load((RULES_DIR / "thresholds.yml").read_text())["groups"][0]["rules"]
    defined = {rule["record"] for rule in thresholds}
    rules_text = (RULES_DIR / "alerts.yml").read_text() + (RULES_DIR / "recording.yml").read_text()
    used = set(re.findall(r"pulse:threshold:\w+", rules_text))
    assert used == defined


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# --- amtool ---------------------------------------------------------------------------


def test_alertmanager_config_passes_amtool_check():
    result = run(tool("amtool"), "check-config", ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("severity", "receiver"), [("page", "oncall-pager"), ("ticket", "cs-ops-tickets")])
def test_alertmanager_routes_by_severity(severity: str, receiver: str):
    result = run(tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
                 f"--verify.receivers={receiver}", "alertname=PulseExample", f"severity={severity}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_alertmanager_groups_by_alert_and_plan():
    route = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())["route"]
    assert route["group_by"] == ["alertname", "plan"]
