"""Alerting end to end: a real Alertmanager (Debian's prometheus-alertmanager) running the
project's routes and inhibitions, its receivers pointed at a webhook server this test runs.

The config is ops/alertmanager/alertmanager.yml with only the receivers (each one a webhook
to this test, under its own name) and the timings (seconds instead of minutes) rewritten.
Alerts reach it as Prometheus sends them: either posted to its API v2 with the labels of
the rules in ops/prometheus/rules/alerts.yml, or sent by a real Prometheus evaluating those
rules. What the webhook receives is what PagerDuty, Opsgenie, Slack and email would render:
`commonAnnotations.summary` is the title, `runbook_url` the link.

`ops/install-prometheus.sh` installs the binaries; without them these tests fail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.servers import (
    ALERTMANAGER_CONFIG,
    DATA_TIMEOUT_S,
    PROMETHEUS_DIR,
    QuietHandler,
    binary,
    free_port,
    http_json,
    running,
    running_prometheus,
    serving,
    wait_until,
)

pytestmark = pytest.mark.prometheus

DAU_PAGE = "PulseActiveUsersDrop"
DEAD_LETTERS = "PulseDeadLetterRateHigh"
WORKER_DOWN = "PulseWorkerDown"
WATCHDOG = "PulseWatchdog"


def rule_labels(alertname: str) -> dict[str, str]:
    """The labels Prometheus puts on an alert of this rule (its name and rule labels)."""
    for group in yaml.safe_load((PROMETHEUS_DIR / "rules" / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alertname:
                return {"alertname": alertname, **rule.get("labels", {})}
    raise KeyError(alertname)


# --- the webhook receiver -------------------------------------------------------------


class Webhook:
    """Records every notification Alertmanager posts, by receiver (the URL path)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []

    def add(self, payload: dict[str, Any]) -> None:
        with self.lock:
            self.received.append(payload)

    def notifications(
        self, alertname: str, receiver: str | None = None, status: str = "firing"
    ) -> list[dict]:
        with self.lock:
            return [
                payload
                for payload in self.received
                if payload["groupLabels"].get("alertname") == alertname
                and payload["status"] == status
                and (receiver is None or payload["receiver"] == receiver)
            ]

    def summary(self) -> str:
        with self.lock:
            return json.dumps(
                [
                    (p["receiver"], p["status"], p["groupLabels"], len(p["alerts"]))
                    for p in self.received
                ]
            )


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook()

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            payload = json.loads(body)
            payload["path"] = self.path
            hook.add(payload)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serving(Handler) as address:
        yield hook, f"http://{address}"


# --- Alertmanager with the project's routes -------------------------------------------


def _fast(route: dict[str, Any]) -> None:
    """Seconds instead of minutes, through the whole route tree."""
    for key, value in (("group_wait", "1s"), ("group_interval", "1s")):
        if key in route:
            route[key] = value
    for child in route.get("routes", []):
        _fast(child)


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    config.pop("global", None)  # SMTP settings of the email integration, which is replaced
    config["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [
                {"url": f"{webhook_url}/{receiver['name']}", "send_resolved": True}
            ],
        }
        for receiver in config["receivers"]
    ]
    _fast(config["route"])
    return config


@pytest.fixture
def alertmanager(webhook: tuple[Webhook, str], tmp_path: Path) -> Iterator[str]:
    _, webhook_url = webhook
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(webhook_url)))
    port = free_port()
    command = [
        binary("prometheus-alertmanager", "alertmanager"),
        f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with running(command, port, tmp_path / "alertmanager.log") as base:
        yield base


def post_alert(base_url: str, alertname: str, resolved: bool = False, **labels: str) -> None:
    """Post one alert as Prometheus does: the rule's labels, annotations, startsAt (and
    endsAt = now to resolve it)."""
    now = datetime.now(UTC).isoformat()
    alert: dict[str, Any] = {
        "labels": {**rule_labels(alertname), **labels},
        "annotations": {
            "summary": f"{alertname} summary",
            "runbook_url": f"https://example.com/runbooks#{alertname}",
        },
        "startsAt": now,
    }
    if resolved:
        alert["endsAt"] = now
    http_json(f"{base_url}/api/v2/alerts", json.dumps([alert]).encode())


def alert_state(base_url: str, alertname: str) -> dict[str, Any] | None:
    for alert in http_json(f"{base_url}/api/v2/alerts"):
        if alert["labels"]["alertname"] == alertname:
            return alert["status"]
    return None


# --- inhibition -----------------------------------------------------------------------


def test_the_dau_page_is_delivered_while_the_dead_letter_alert_fires(alertmanager: str, webhook):
    hook, _ = webhook
    post_alert(alertmanager, DEAD_LETTERS)
    post_alert(alertmanager, DAU_PAGE)

    wait_until(
        lambda: hook.notifications(DAU_PAGE, "oncall-pager"),
        DATA_TIMEOUT_S,
        lambda: (
            f"the DAU page never reached the pager; received {hook.summary()}, "
            f"DAU state {alert_state(alertmanager, DAU_PAGE)}"
        ),
    )
    wait_until(
        lambda: hook.notifications(DEAD_LETTERS, "cs-ops-tickets"),
        DATA_TIMEOUT_S,
        lambda: f"the dead-letter ticket never arrived; received {hook.summary()}",
    )
    assert alert_state(alertmanager, DAU_PAGE)["state"] == "active"


def test_the_dau_page_is_held_while_the_worker_is_down_and_sent_once_it_is_back(
    alertmanager: str, webhook
):
    hook, _ = webhook
    post_alert(alertmanager, WORKER_DOWN, instance="w1:9108")
    wait_until(
        lambda: hook.notifications(WORKER_DOWN, "oncall-pager"),
        DATA_TIMEOUT_S,
        lambda: f"the worker-down page never arrived; received {hook.summary()}",
    )

    post_alert(alertmanager, DAU_PAGE)
    state = wait_until(
        lambda: (
            (alert_state(alertmanager, DAU_PAGE) or {}).get("state") == "suppressed"
            and alert_state(alertmanager, DAU_PAGE)
        ),
        DATA_TIMEOUT_S,
        lambda: f"DAU state {alert_state(alertmanager, DAU_PAGE)}",
    )
    assert state["inhibitedBy"], state
    # An alert posted after the DAU page has been delivered, so the DAU page's group (same
    # group_wait) has been flushed too: had it not been held, it would be here by now.
    post_alert(alertmanager, DEAD_LETTERS)
    wait_until(
        lambda: hook.notifications(DEAD_LETTERS, "cs-ops-tickets"),
        DATA_TIMEOUT_S,
        lambda: f"the dead-letter ticket never arrived; received {hook.summary()}",
    )
    assert not hook.notifications(DAU_PAGE), hook.summary()

    post_alert(alertmanager, WORKER_DOWN, resolved=True, instance="w1:9108")
    wait_until(
        lambda: hook.notifications(DAU_PAGE, "oncall-pager"),
        DATA_TIMEOUT_S,
        lambda: f"the DAU page was not sent once the worker was back; received {hook.summary()}",
    )


# --- titles, links and the Watchdog, from a real Prometheus ---------------------------


@pytest.fixture
def prometheus_with_dead_workers(alertmanager: str, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus running the project's rules (every `for` cut to 3s, alerts re-sent
    every 2s), sending to the Alertmanager above, scraping itself, that Alertmanager, and
    two pulse workers that do not answer (two ports nobody listens on)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in (PROMETHEUS_DIR / "rules").glob("*.yml"):
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "3s"
        (rules / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    port = free_port()
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(rules / Path(path).name) for path in config["rule_files"]]
    config["alerting"] = {
        "alertmanagers": [{"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}]}]
    }
    config["scrape_configs"] = [
        {
            "job_name": "pulse",
            "static_configs": [
                {"targets": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
            ],
        },
        {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
        {
            "job_name": "alertmanager",
            "static_configs": [{"targets": [alertmanager.removeprefix("http://")]}],
        },
    ]
    with running_prometheus(
        tmp_path,
        config,
        f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        # an alert that fires before the Alertmanager is discovered is re-sent
        # after this delay (1m by default)
        "--rules.alert.resend-delay=2s",
        port=port,
    ) as base:
        yield base


def runbook_base() -> str:
    (group,) = yaml.safe_load((PROMETHEUS_DIR / "rules" / "links.yml").read_text())["groups"]
    return group["rules"][0]["labels"]["url"]


def test_two_workers_down_give_two_titled_pages_with_absolute_runbook_links(
    prometheus_with_dead_workers: str, webhook
):
    hook, _ = webhook

    def both_instances() -> list[dict] | None:
        pages = hook.notifications(WORKER_DOWN, "oncall-pager")
        instances = {alert["labels"]["instance"] for page in pages for alert in page["alerts"]}
        return pages if len(instances) == 2 else None

    pages = wait_until(
        both_instances,
        DATA_TIMEOUT_S,
        lambda: f"no page for each dead worker; received {hook.summary()}",
    )
    for page in pages:
        instances = {alert["labels"]["instance"] for alert in page["alerts"]}
        assert len(instances) == 1, f"one page for several workers, with no common summary: {page}"
        (instance,) = instances
        assert (
            page["commonAnnotations"].get("summary") == f"pulse worker {instance} cannot be scraped"
        ), page
        assert page["commonAnnotations"]["runbook_url"] == f"{runbook_base()}#pulseworkerdown", page
        assert page["groupLabels"]["instance"] == instance


def test_the_watchdog_reaches_the_dead_mans_switch_and_meta_series_have_data(
    prometheus_with_dead_workers: str, webhook
):
    hook, _ = webhook
    pings = wait_until(
        lambda: hook.notifications(WATCHDOG, "deadmans-switch"),
        DATA_TIMEOUT_S,
        lambda: f"the Watchdog never reached the dead man's switch; received {hook.summary()}",
    )
    assert pings[0]["path"] == "/deadmans-switch"
    assert not hook.notifications(WATCHDOG, "oncall-pager") and not hook.notifications(
        WATCHDOG, "cs-ops-tickets"
    )

    def series(name: str) -> list:
        return http_json(f"{prometheus_with_dead_workers}/api/v1/query?query={name}")["data"][
            "result"
        ]

    for name in (
        "prometheus_rule_evaluation_failures_total",
        "alertmanager_notifications_failed_total",
    ):
        wait_until(lambda: series(name), DATA_TIMEOUT_S, lambda: f"{name} has no data")  # noqa: B023
