"""Global ratios from two workers, end to end with Debian's real Prometheus.

A generated dataset is split by account into two halves, as two workers would own its
partitions. Each half's `pulse replay --no-ratios` (a worker's exposition: additive
figures only) is served as one worker's /metrics; Prometheus scrapes both and runs the
project's recording rules. Every global ratio the rules record must equal the ratio that
`pulse replay` prints for the whole dataset, i.e. the engine's own definition, and no
ratio series may reach Prometheus from a worker.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import (
    DATA_TIMEOUT_S,
    PROMETHEUS_DIR,
    pulse,
    running_prometheus,
    serving_metrics,
    wait_until,
)
from tests.test_prometheus_e2e import ReplayWorker, query

pytestmark = pytest.mark.prometheus

# recording rule -> the metric `pulse replay` prints for the whole dataset (same labels but
# window; the window is the rule name's suffix, e.g. ratio90d, and 30d otherwise)
RATIO_RULES = {
    "pulse:stickiness:ratio": "pulse_stickiness_ratio",
    "pulse:average_stickiness:ratio30d": "pulse_average_stickiness_ratio",
    "pulse:feature_adoption:ratio30d": "pulse_feature_adoption_ratio",
    "pulse:csat:ratio90d": "pulse_csat_ratio",
    "pulse:nps:score90d": "pulse_nps_score",
    "pulse:ces:score90d": "pulse_ces_score",
    "pulse:net_revenue_retention:ratio30d": "pulse_net_revenue_retention_ratio",
    "pulse:gross_revenue_retention:ratio30d": "pulse_gross_revenue_retention_ratio",
    "pulse:customer_churn:ratio30d": "pulse_customer_churn_ratio",
    "pulse:arpa:avg": "pulse_arpa",
    "pulse:mrr_quick:ratio30d": "pulse_mrr_quick_ratio",
    "pulse:mrr_gross_churn:ratio30d": "pulse_gross_mrr_churn_ratio",
    "pulse:mrr_net_churn:ratio30d": "pulse_net_mrr_churn_ratio",
    "pulse:net_revenue_retention:ratio90d": "pulse_net_revenue_retention_ratio",
    "pulse:gross_revenue_retention:ratio90d": "pulse_gross_revenue_retention_ratio",
    "pulse:net_revenue_retention:ratio365d": "pulse_net_revenue_retention_ratio",
    "pulse:gross_revenue_retention:ratio365d": "pulse_gross_revenue_retention_ratio",
}


def rule_window(rule: str) -> str | None:
    """The window a rule is about, from its name (ratio30d, score90d, sum7d), else None."""
    suffix = rule.rsplit(":", 1)[1]
    for window in ("365d", "90d", "30d", "7d", "1d"):
        if suffix.endswith(window):
            return window
    return None


def samples(text: str, keep_window: bool = False) -> dict[tuple[str, tuple], float]:
    return {
        (
            s.name,
            tuple(sorted((k, v) for k, v in s.labels.items() if keep_window or k != "window")),
        ): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def without_window(labels: tuple) -> tuple:
    return tuple((key, value) for key, value in labels if key != "window")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """(the whole dataset's replay with ratios, the two halves' replays without)."""
    folder = tmp_path_factory.mktemp("split")
    events = folder / "events.jsonl"
    # more than 365 days, so that every retention window has a cohort
    pulse("generate", "--accounts", "40", "--days", "400", "--seed", "11", "--out", events)
    whole = pulse("replay", events)
    as_of_ms = str(round(samples(whole)[("pulse_evaluation_timestamp_seconds", ())] * 1000))
    halves = [folder / "half-0.jsonl", folder / "half-1.jsonl"]
    lines: list[list[str]] = [[], []]
    for line in events.read_text().splitlines():
        account = json.loads(line)["account_id"]
        lines[zlib.crc32(account.encode()) % 2].append(line)
    assert all(lines), "the split left a worker without accounts"
    for path, part in zip(halves, lines, strict=True):
        path.write_text("\n".join(part) + "\n")
    return whole, [pulse("replay", "--no-ratios", "--as-of", as_of_ms, path) for path in halves]


@pytest.fixture(scope="module")
def prometheus_two_workers(
    dataset: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    _, halves = dataset
    with ExitStack() as servers:
        targets = [
            servers.enter_context(serving_metrics(ReplayWorker(text).exposition)) for text in halves
        ]
        yield from _prometheus(targets, tmp_path_factory)


def _prometheus(targets: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("prometheus-ratios")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [
            str(PROMETHEUS_DIR / "rules" / name) for name in ("thresholds.yml", "recording.yml")
        ],
        "scrape_configs": [{"job_name": "pulse", "static_configs": [{"targets": targets}]}],
    }
    with running_prometheus(folder, config) as base:
        yield base


def test_workers_export_no_global_ratio(dataset: tuple[str, list[str]]):
    whole, halves = dataset
    for text in halves:
        names = {name for name, _ in samples(text)}
        assert not names & set(RATIO_RULES.values())
        assert "pulse_csat_ratings" in names and "pulse_retention_base_mrr" in names
    assert set(RATIO_RULES.values()) <= {name for name, _ in samples(whole)}


def test_recording_rules_give_the_engines_ratios_from_two_workers(
    prometheus_two_workers: str, dataset: tuple[str, list[str]]
):
    whole = samples(dataset[0], keep_window=True)
    expected = {
        (rule, without_window(labels)): value
        for rule, metric in RATIO_RULES.items()
        for (name, labels), value in whole.items()
        if name == metric and dict(labels).get("window") in (rule_window(rule), None)
    }
    assert {rule for rule, _ in expected} == set(RATIO_RULES)
    # every denominator of this dataset is non-empty (an empty one gives no series, checked
    # by ops/prometheus/tests/recording.yml), so every ratio must be recorded

    last: dict[tuple[str, tuple], float] = {}

    def differing() -> dict:
        return {
            key: (last.get(key), value)
            for key, value in expected.items()
            if last.get(key) != pytest.approx(value, rel=1e-9)
        }

    def recorded() -> dict[tuple[str, tuple], float] | None:
        # An evaluation that ran after one worker's first scrape but before the other's
        # sums one worker only: wait for one that has both (each worker serves fixed text).
        last.clear()
        for rule in RATIO_RULES:
            for series in query(prometheus_two_workers, rule)["data"]["result"]:
                labels = tuple(
                    sorted((k, v) for k, v in series["metric"].items() if k != "__name__")
                )
                last[(rule, labels)] = float(series["value"][1])
        return dict(last) if set(last) >= set(expected) and not differing() else None

    got = wait_until(
        recorded,
        DATA_TIMEOUT_S,
        lambda: (
            f"the recording rules never gave the engine's ratios: (recorded, replay) {differing()}"
        ),
    )
    assert set(got) == set(expected)
    two_workers = query(prometheus_two_workers, "count(up == 1)")["data"]["result"]
    assert two_workers[0]["value"][1] == "2"
