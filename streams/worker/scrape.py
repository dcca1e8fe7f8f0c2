"""What a scrape of the worker's /metrics yields, and the one place it is rendered.

The business families of the loaded partitions (`WorkerBook.snapshot`, in slices: the engine's
additive figures and the account samples, then the pulse_events_* counters labelled by
partition), the pipeline telemetry and the Kafka watch. Rendering lives here, not in
streams/worker/state.py, so the per-message path (state, ingest, engine) never imports
prometheus_client; the worker registers `worker_families` through
`exposition.FamiliesCollector`, the project's one collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from streams.engine.samples import Sample
from streams.exposition import (
    Exposition,
    FamiliesCollector,
    metric_families,
    partition_counter_families,
)
from streams.ingest.counters import PipelineCounters
from streams.worker.faust import hooks as faust_hooks
from streams.worker.state import WorkerBook
from streams.worker.turns import give_turn

if TYPE_CHECKING:
    from streams.worker.app import PulseWorker


def business_families(
    book: WorkerBook, samples: list[Sample], counters: dict[int, PipelineCounters]
) -> list[Metric]:
    """The business metrics of a `WorkerBook.snapshot`, as Prometheus families: no global
    ratios (the recording rules make them from the sums of every worker)."""
    exposition = Exposition(ratios=False, currency=book.config.revenue.reporting_currency)
    return metric_families(samples, None, exposition) + list(partition_counter_families(counters))


def book_families(book: WorkerBook, as_of: int) -> list[Metric]:
    """The business metrics of the loaded partitions at `as_of`, computed at once."""
    return business_families(book, *book.snapshot(as_of))


def worker_families(worker: PulseWorker, business: list[Metric]) -> Iterator[Metric]:
    """Read-only: a scrape never loads a row, builds a pipeline or moves a transaction;
    the agent loads partitions (streams/worker/state.py). `business` are the scrape's
    business families, computed beforehand in slices (`PulseWorker._business_families`):
    empty while a rebalance recovers, until the agent has loaded the rows, or when they
    were reloaded during the scrape, so they are absent, not 0 (a dip on every board), and
    the partition-labelled counters never go backwards (streams/exposition.py)."""
    ready = worker.ready()
    owned = worker.owned_partitions()
    yield from business
    yield from worker.telemetry.families(worker.consumer_lag(), not ready, len(owned))
    yield from worker.kafka_watch.families(faust_hooks.last_fetch_ms(worker.app.consumer))


# /metrics is rendered in groups of families of about this many samples, the event loop
# serving other requests between two groups (in one go: up to 59 ms over 10,000 accounts,
# docs/performance.md, "Account layer, live").
RENDER_SLICE_SAMPLES = 500


async def render_in_slices(
    families: list[Metric], slice_samples: int = RENDER_SLICE_SAMPLES
) -> bytes:
    """The Prometheus text of `families`, the same bytes `generate_latest` gives for them
    (it is the concatenation of each family's text), rendered a group at a time."""
    parts: list[bytes] = []
    for group in _groups(families, slice_samples):
        if parts:
            await give_turn()
        parts.append(generate_latest(FamiliesCollector.fixed(group)))
    return b"".join(parts)


def _groups(families: list[Metric], samples: int) -> Iterator[list[Metric]]:
    """Consecutive families, grouped until a group holds at least `samples` samples."""
    group: list[Metric] = []
    count = 0
    for family in families:
        group.append(family)
        count += len(family.samples)
        if count >= samples:
            yield group
            group, count = [], 0
    if group:
        yield group
