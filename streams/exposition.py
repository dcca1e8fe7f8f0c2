"""Engine snapshot + pipeline counters -> Prometheus metric families.

`metric_families` turns samples and counters into one family per metric name, every
engine figure as a gauge and the pipeline counters as counters. `FamiliesCollector` is
the project's one prometheus_client custom collector: at scrape time it asks its provider
for the families (the worker's /metrics, a history's step, a replay). `render_text` is
the text exposition format of a snapshot (what `pulse replay` prints), via
`generate_latest` on a private registry, so replay and the worker's /metrics render
identically. HELP is the metric's one-line definition (`streams.engine.engine.METRIC_HELP`).

Global ratios (`streams.engine.engine.GLOBAL_RATIOS`: stickiness, adoption, CSAT, NPS, CES,
NRR, GRR, customer churn, gross and net MRR churn, ARPA, quick ratio) are left out unless
`ratios=True`: a worker owns only some partitions, and its ratios cannot be combined with another worker's, so it
exports the additive numerators and denominators and the recording rules divide their
sums. `pulse replay` sees every account and prints them (its `--no-ratios` prints what a
worker would). Both outputs also carry two info gauges: `pulse_build_info{version}` and
`pulse_reporting_currency_info{currency}`, the currency every money figure is in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from streams.engine.account_metrics import ACCOUNT_HELP
from streams.engine.engine import GLOBAL_RATIOS, METRIC_HELP
from streams.engine.samples import Sample
from streams.ingest.counters import PipelineCounters

EVENTS_HELP = (
    "Events admitted (decoded, validated, not duplicate, not too late or in the future), by type."
)
REJECTED_HELP = "Events rejected and sent to the dead letters, by machine-readable reason."
DUPLICATE_HELP = "Events dropped as duplicates of an already admitted (account_id, event_id)."
BUILD_INFO_HELP = "The running cs-pulse version (always 1)."
CURRENCY_INFO_HELP = "The reporting currency (ISO 4217) every money figure is in (always 1)."
HELP_TEXTS: Mapping[str, str] = {**METRIC_HELP, **ACCOUNT_HELP}


@functools.cache
def build_version() -> str:
    """The installed cs-pulse version, "unknown" when run from a tree that is not installed
    (looked up once per process: reading the package metadata costs milliseconds, and a
    history writes the info gauge at every step)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cs-pulse")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class Exposition:
    """What a render includes besides the snapshot: the global ratios (replay only) and
    the reporting currency of the info gauge."""

    ratios: bool = False
    currency: str = "USD"


def metric_families(
    samples: Iterable[Sample],
    counters: PipelineCounters | None,
    exposition: Exposition = Exposition(),
    help_texts: Mapping[str, str] = HELP_TEXTS,
) -> list[Metric]:
    """The info gauges, one gauge family per sample name (in first-seen order, the global
    ratios only with `exposition.ratios`), then the counters."""
    families: dict[str, Metric] = {}
    for sample in samples:
        if not exposition.ratios and sample.name in GLOBAL_RATIOS:
            continue
        family = families.get(sample.name)
        if family is None:
            documentation = help_texts.get(
                sample.name, f"cs-pulse metric {sample.name}; see docs/metrics.md."
            )
            family = families[sample.name] = Metric(sample.name, documentation, "gauge")
        family.add_sample(sample.name, dict(sample.labels), float(sample.value))
    out = [*_info_families(exposition), *families.values()]
    if counters is not None:
        out.extend(_counter_families(counters))
    return out


def _info_families(exposition: Exposition) -> Iterator[Metric]:
    build = GaugeMetricFamily("pulse_build_info", BUILD_INFO_HELP, labels=["version"])
    build.add_metric([build_version()], 1)
    yield build
    currency = GaugeMetricFamily(
        "pulse_reporting_currency_info", CURRENCY_INFO_HELP, labels=["currency"]
    )
    currency.add_metric([exposition.currency], 1)
    yield currency


def _counter_families(counters: PipelineCounters) -> Iterator[Metric]:
    events = CounterMetricFamily("pulse_events", EVENTS_HELP, labels=["type"])
    for event_type, count in sorted(counters.events_by_type.items()):
        events.add_metric([event_type], count)
    yield events
    rejected = CounterMetricFamily("pulse_events_rejected", REJECTED_HELP, labels=["reason"])
    for reason, count in sorted(counters.rejected_by_reason.items()):
        rejected.add_metric([reason], count)
    yield rejected
    yield CounterMetricFamily("pulse_events_duplicate", DUPLICATE_HELP, value=counters.duplicates)


def partition_counter_families(by_partition: Mapping[int, PipelineCounters]) -> Iterator[Metric]:
    """The worker's pulse_events_* counters, one series per source partition (`partition`
    label): a partition's counts live in its state and move with it on a rebalance, so
    each series only ever grows, whichever worker serves it. A per-worker sum would drop
    when the worker hands a partition over, which Prometheus takes for a counter reset."""
    events = CounterMetricFamily("pulse_events", EVENTS_HELP, labels=["type", "partition"])
    rejected = CounterMetricFamily(
        "pulse_events_rejected", REJECTED_HELP, labels=["reason", "partition"]
    )
    duplicates = CounterMetricFamily("pulse_events_duplicate", DUPLICATE_HELP, labels=["partition"])
    for partition, counters in sorted(by_partition.items()):
        label = str(partition)
        for event_type, count in sorted(counters.events_by_type.items()):
            events.add_metric([event_type, label], count)
        for reason, count in sorted(counters.rejected_by_reason.items()):
            rejected.add_metric([reason, label], count)
        duplicates.add_metric([label], counters.duplicates)
    yield from (events, rejected, duplicates)


class FamiliesCollector(Collector):
    """A custom collector: `collect()` returns `provide()`, the families at scrape time."""

    def __init__(self, provide: Callable[[], Iterable[Metric]]) -> None:
        self._provide = provide

    @classmethod
    def fixed(cls, families: Iterable[Metric]) -> FamiliesCollector:
        """A collector of families computed once (a history's step, a replay)."""
        kept = list(families)
        return cls(lambda: kept)

    def collect(self) -> Iterable[Metric]:
        return self._provide()


def render_text(
    samples: Iterable[Sample],
    counters: PipelineCounters | None = None,
    exposition: Exposition = Exposition(),
    help_texts: Mapping[str, str] = HELP_TEXTS,
) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of a snapshot and the counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        FamiliesCollector.fixed(metric_families(samples, counters, exposition, help_texts))
    )
    return generate_latest(registry)
