"""Compare the engine's Prometheus exposition with the oracle's metrics.

The exposition is parsed with prometheus_client's own parser. Additive gauges and
counters may carry segment labels the oracle does not compute (e.g. `plan` on MRR): their
samples are summed over those labels before comparing, since the contract says the sum
over extra labels is the global figure. Ratio and score gauges must carry exactly the
oracle's labels.

Equality: counts exactly; money to the cent (the exposition's float read back as the
shortest decimal); ratios, scores and seconds to 1e-9 relative.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from prometheus_client.parser import text_string_to_metric_families

from tests.oracle.oracle import MetricKey, MetricValue

Labels = tuple[tuple[str, str], ...]

# Ratio and score gauges: global, labelled exactly as the oracle labels them. Every other
# metric is additive: extra labels are segments that sum to the global figure.
NOT_ADDITIVE = frozenset(
    {
        "pulse_stickiness_ratio",
        "pulse_average_stickiness_ratio",
        "pulse_feature_adoption_ratio",
        "pulse_net_revenue_retention_ratio",
        "pulse_gross_revenue_retention_ratio",
        "pulse_customer_churn_ratio",
        "pulse_csat_ratio",
        "pulse_nps_score",
        "pulse_ces_score",
        "pulse_arpa",
        "pulse_mrr_quick_ratio",
        "pulse_gross_mrr_churn_ratio",
        "pulse_net_mrr_churn_ratio",
        "pulse_evaluation_timestamp_seconds",
    }
)
# Families whose label values come from the data (a feature, an event type, a reason): a
# series the exporter leaves out stands for 0.
OPEN_LABEL_SETS = frozenset(
    {
        "pulse_feature_users",
        "pulse_feature_adoption_ratio",
        "pulse_events_total",
        "pulse_events_rejected_total",
    }
)


@dataclass(frozen=True)
class Mismatch:
    name: str
    labels: Labels
    engine: object
    oracle: object
    note: str = ""

    def __str__(self) -> str:
        labels = ",".join(f'{key}="{value}"' for key, value in self.labels)
        text = f"{self.name}{{{labels}}}: engine={self.engine} oracle={self.oracle}"
        return f"{text} ({self.note})" if self.note else text


def parse_exposition(text: str) -> list[tuple[str, Labels, float]]:
    """(sample name, sorted labels, value) for every sample of a text exposition."""
    return [
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _as_number(value: float, like: MetricValue) -> MetricValue | float:
    """The engine's float in the oracle's exact type, where that is lossless."""
    if isinstance(like, Decimal):
        return Decimal(repr(value))
    if isinstance(like, int) and float(value).is_integer():
        return int(value)
    return value


def _equal(engine: MetricValue | float, oracle: MetricValue) -> bool:
    if isinstance(oracle, Fraction) or isinstance(engine, float):
        return math.isclose(float(engine), float(oracle), rel_tol=1e-9, abs_tol=1e-9)
    return engine == oracle


def compare(
    oracle: Mapping[MetricKey, MetricValue],
    engine_samples: Iterable[tuple[str, Labels, float]],
) -> list[Mismatch]:
    """Every disagreement between the oracle and the engine on the metrics the oracle knows."""
    label_keys: dict[str, tuple[str, ...]] = {}
    for name, labels in oracle:
        label_keys.setdefault(name, tuple(key for key, _ in labels))
    mismatches: list[Mismatch] = []
    engine: dict[MetricKey, list[float]] = defaultdict(list)
    for name, labels, value in engine_samples:
        if name not in label_keys:
            continue
        wanted = label_keys[name]
        present = dict(labels)
        if any(key not in present for key in wanted):
            mismatches.append(
                Mismatch(name, labels, value, None, f"the oracle labels it by {wanted}")
            )
            continue
        extra = tuple(key for key in present if key not in wanted)
        if extra and name in NOT_ADDITIVE:
            mismatches.append(
                Mismatch(name, labels, value, None, f"a ratio or score with extra labels {extra}")
            )
            continue
        engine[(name, tuple((key, present[key]) for key in wanted))].append(value)
    for name in sorted(label_keys):
        if not any(key[0] == name for key in engine):
            mismatches.append(
                Mismatch(name, (), "absent", "exported", "the engine does not export it")
            )
    exported = {key[0] for key in engine}
    for key in sorted(set(oracle) | set(engine)):
        name, labels = key
        if name not in exported:
            continue
        expected = oracle.get(key, 0)
        if key not in engine:
            if expected != 0 or name not in OPEN_LABEL_SETS:
                mismatches.append(Mismatch(name, labels, "absent", expected))
            continue
        values = [_as_number(value, expected) for value in engine[key]]
        actual = values[0] if len(values) == 1 else sum(values[1:], values[0])  # type: ignore[operator]
        if not _equal(actual, expected):
            note = f"sum of {len(values)} segment series" if len(values) > 1 else ""
            mismatches.append(Mismatch(name, labels, actual, expected, note))
    return mismatches
