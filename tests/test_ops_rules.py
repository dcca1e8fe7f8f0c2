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
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tests.support.servers import COMMAND_TIMEOUT_S

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "ops" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_CONFIG = REPO / "ops" / "alertmanager" / "alertmanager.yml"
RUNBOOKS = REPO / "docs" / "runbooks.md"
PIPELINE_GATE = "and on() (pulse:pipeline_healthy == 1)"
RUNBOOK_BASE = '{{ with query "pulse:runbook:info" }}{{ . | first | label "url" }}{{ end }}'
WATCHDOG = "PulseWatchdog"
# Names in a PromQL expression that are neither series nor recording rules.
PROMQL_WORDS = {
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "by",
    "without",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "vector",
    "absent",
    "time",
    "min",
    "max",
    "sum",
    "count",
    "avg",
    "delta",
    "increase",
    "rate",
    "max_over_time",
    "min_over_time",
    "avg_over_time",
    "clamp_min",
    "histogram_quantile",
    "label_replace",
    "scalar",
    "topk",
    "bottomk",
    "abs",
    "job",
    "le",
    "topic",
    "window",
    "feature",
    "plan",
    "survey",
    "reason",
    "instance",
    "partition",
    "inf",
    "nan",
}

# promtool and amtool only, on files of their own: no server (tests/conftest.py)
pytestmark = [pytest.mark.prometheus, pytest.mark.local_tool]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: run `sh ops/install-prometheus.sh` "
            "(Debian's prometheus and prometheus-alertmanager packages)."
        )
    return path


def run(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


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
        quiet = [
            case for _, case in cases if case["alertname"] == name and not case.get("exp_alerts")
        ]
        assert firing, f"{name} has no promtool case where it fires"
        # the Watchdog fires always, by definition: it has no quiet case
        assert quiet or name == WATCHDOG, f"{name} has no promtool case where it stays quiet"
        for case in firing:
            for expected in case["exp_alerts"]:
                assert {"severity", "category"} <= set(expected["exp_labels"]), (
                    f"{name}: firing case without labels"
                )
                assert set(expected["exp_annotations"]) == {
                    "summary",
                    "description",
                    "runbook_url",
                }, name
                assert (
                    expected["exp_annotations"]["runbook_url"] == f"{runbook_base()}#{name.lower()}"
                ), name


def test_business_alerts_are_held_by_the_pipeline_gate(tmp_path: Path):
    """Without `pulse:pipeline_healthy == 1` each business alert's quiet-while-broken case
    (a test group named "... while ...") must fail: those cases stay quiet because of the
    gate, not by accident."""
    shutil.copytree(PROMETHEUS_DIR / "rules", tmp_path / "rules")
    (tmp_path / "tests").mkdir()
    for name in ("business.yml", "business_weekly.yml", "accounts.yml"):
        suite = yaml.safe_load((PROMETHEUS_DIR / "tests" / name).read_text())
        suite["tests"] = [group for group in suite["tests"] if " while " in group["name"]]
        (tmp_path / "tests" / name).write_text(yaml.safe_dump(suite))
    alerts = tmp_path / "rules" / "alerts.yml"
    text = alerts.read_text()
    business = [rule["alert"] for rule in alert_rules() if rule["labels"]["category"] == "business"]
    assert text.count(PIPELINE_GATE) == len(business), (
        "every business alert, and only those, carry the gate"
    )
    alerts.write_text(text.replace(PIPELINE_GATE, ""))

    result = run(
        tool("promtool"),
        "test",
        "rules",
        "business.yml",
        "business_weekly.yml",
        "accounts.yml",
        cwd=tmp_path / "tests",
    )
    assert result.returncode != 0
    failed = set(re.findall(r"alertname: (\w+), time:", result.stdout + result.stderr))
    assert failed == set(business), (
        f"ungated alerts that a broken-pipeline case did not catch: {set(business) - failed}"
    )


def test_every_alert_is_labelled_and_annotated():
    anchors = {
        _anchor(heading)
        for heading in re.findall(r"^#{2,3} (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    }
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in (
            {"none"} if name == WATCHDOG else {"page", "ticket"}
        ), name
        assert rule["labels"]["category"] in {"pipeline", "business", "meta"}, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["summary"].strip(), name
        assert "$value" in annotations["description"], (
            f"{name}: the description must quote the current value"
        )
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE}#{name.lower()}", name
        assert name.lower() in anchors, f"docs/runbooks.md has no section for {name}"


def test_thresholds_are_all_used_and_all_defined():
    thresholds = yaml.safe_load((RULES_DIR / "thresholds.yml").read_text())["groups"][0]["rules"]
    defined = {rule["record"] for rule in thresholds}
    rules_text = (RULES_DIR / "alerts.yml").read_text() + (RULES_DIR / "recording.yml").read_text()
    used = set(re.findall(r"pulse:threshold:\w+", rules_text))
    assert used == defined


def runbook_base() -> str:
    """The one base of every runbook link: the `url` label of pulse:runbook:info."""
    (group,) = yaml.safe_load((RULES_DIR / "links.yml").read_text())["groups"]
    (rule,) = group["rules"]
    assert rule["record"] == "pulse:runbook:info"
    return rule["labels"]["url"]


def test_runbook_links_are_absolute():
    base = urllib.parse.urlsplit(runbook_base())
    assert base.scheme == "https" and base.netloc and not base.fragment, runbook_base()


def test_the_meta_alerts_exist_and_their_series_are_scraped():
    """Watchdog, rule evaluation failures and notification failures, with Prometheus and
    Alertmanager scraped so that the last two have data."""
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert rules[WATCHDOG]["expr"].strip() == "vector(1)" and "for" not in rules[WATCHDOG]
    assert (
        "prometheus_rule_evaluation_failures_total" in rules["PulseRuleEvaluationFailures"]["expr"]
    )
    assert (
        "alertmanager_notifications_failed_total"
        in rules["PulseAlertmanagerNotificationsFailing"]["expr"]
    )
    jobs = {
        job["job_name"]
        for job in yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())["scrape_configs"]
    }
    assert {"prometheus", "alertmanager"} <= jobs


def _series_read(expr: str, recorded: dict[str, str]) -> set[str]:
    """The raw series an expression reads, through the recording rules it uses
    (thresholds excluded: they are constants)."""
    # drop label matchers, strings, ranges ([10m]) and numbers with units (offset 7d)
    bare = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\[[^\]]*\]|\b\d+(?:\.\d+)?[a-z]*\b", " ", expr)
    names = set(re.findall(r"[a-zA-Z_:][\w:]*", bare)) - PROMQL_WORDS
    series: set[str] = set()
    for name in names:
        if name.startswith("pulse:threshold:"):
            continue
        series |= _series_read(recorded[name], recorded) if name in recorded else {name}
    return series


def test_only_alerts_that_make_the_pipeline_unhealthy_inhibit():
    """An alert carries `inhibits: business` exactly when it reads a series that
    pulse:pipeline_healthy reads: a dead-letter or lag alert must never mute a page."""
    recorded = {}
    for path in (RULES_DIR / "recording.yml", RULES_DIR / "thresholds.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            recorded |= {rule["record"]: rule["expr"] for rule in group["rules"]}
    health = _series_read(recorded["pulse:pipeline_healthy"], recorded)
    assert {"up", "pulse_recovery_in_progress"} <= health
    expected = {
        rule["alert"]
        for rule in alert_rules()
        if rule["labels"]["category"] == "pipeline"
        and _series_read(rule["expr"], recorded) & health
    }
    inhibiting = {
        rule["alert"] for rule in alert_rules() if rule["labels"].get("inhibits") == "business"
    }
    assert inhibiting == expected
    assert {"PulseWorkerDown", "PulseTopicStale"} <= inhibiting
    assert not {"PulseDeadLetterRateHigh", "PulseConsumerLagGrowing"} & inhibiting
    inhibit_rules = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())["inhibit_rules"]
    business_targets = [
        rule for rule in inhibit_rules if rule["target_matchers"] == ['category="business"']
    ]
    assert [rule["source_matchers"] for rule in business_targets] == [['inhibits="business"']]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# --- amtool ---------------------------------------------------------------------------


def test_alertmanager_config_passes_amtool_check():
    result = run(tool("amtool"), "check-config", ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=PulseExample", "severity=page"), "oncall-pager"),
        (("alertname=PulseExample", "severity=ticket"), "cs-ops-tickets"),
        ((f"alertname={WATCHDOG}", "severity=none", "category=meta"), "deadmans-switch"),
        # account alerts go to the account's owner; an owner without a route to CS ops
        (
            (
                "alertname=PulseAccountRed",
                "severity=ticket",
                "category=business",
                "owner=csm-farid",
            ),
            "csm-farid",
        ),
        (
            (
                "alertname=PulseAccountRed",
                "severity=ticket",
                "category=business",
                "owner=csm-nobody",
            ),
            "cs-ops-tickets",
        ),
    ],
)
def test_alertmanager_routes_by_severity(labels: tuple[str, ...], receiver: str):
    result = run(
        tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_alertmanager_groups_by_every_label_a_summary_names():
    """Alerts of one group share their summary only if the group keeps apart what the
    summary names: otherwise two workers (or topics) down together give a notification
    whose title, the common summary, is empty."""
    route = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())["route"]
    for rule in alert_rules():
        named = set(re.findall(r"\$labels\.(\w+)", rule["annotations"]["summary"]))
        group_by = route["group_by"]
        for child in route.get("routes", []):
            if f'alertname="{rule["alert"]}"' in child.get("matchers", []):
                group_by = child.get("group_by", group_by)
        assert "alertname" in group_by and named <= set(group_by), (
            f"{rule['alert']}: group by {named - set(group_by)}"
        )
