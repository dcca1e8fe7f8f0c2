"""Pipeline metrics of one worker process (not business metrics): what it consumed, how far
behind it is, how fresh its state is. Rendered at scrape time beside the engine's snapshot.

- `pulse_events_processed_total{topic}`: messages this process consumed, by source topic.
- `pulse_consumer_lag{topic,partition}`: high-water mark minus the committed offset, for
  every source partition this worker owns (messages not yet committed).
- `pulse_event_to_state_latency_seconds`: histogram of (applied to the in-memory state -
  Kafka message timestamp) per message, i.e. from produce to the state the next scrape
  renders.
- `pulse_last_event_timestamp_seconds{topic}`: Kafka timestamp of the last message consumed
  from the topic (wall-clock freshness; alert when time() minus it grows).
- `pulse_recovery_in_progress`: 1 while the worker is not ready: tables being restored
  from their changelogs, or a rebalance under way (business samples are absent then).
- `pulse_assigned_partitions`: source partitions this worker owns.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PipelineTelemetry:
    def __init__(self) -> None:
        self.processed: Counter[str] = Counter()
        self.last_timestamp_ms: dict[str, int] = {}
        # The latency histogram is kept here and rendered like the rest: a prometheus_client
        # Histogram takes a lock and walks its buckets for every message.
        self._bounds_ms = [round(bound * 1000) for bound in LATENCY_BUCKETS]
        self._latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: above every bound
        self._latency_sum_ms = 0

    def observe_batch(
        self, topics_and_timestamps: Iterable[tuple[str, int]], applied_at_ms: int
    ) -> None:
        processed, last, counts, bounds = (
            self.processed,
            self.last_timestamp_ms,
            self._latency_counts,
            self._bounds_ms,
        )
        for topic, timestamp_ms in topics_and_timestamps:
            processed[topic] += 1
            if timestamp_ms > last.get(topic, -1):
                last[topic] = timestamp_ms
            latency_ms = applied_at_ms - timestamp_ms if applied_at_ms > timestamp_ms else 0
            counts[bisect_left(bounds, latency_ms)] += 1
            self._latency_sum_ms += latency_ms

    def families(
        self, lag: Mapping[tuple[str, int], int], recovering: bool, assigned: int
    ) -> Iterator[Metric]:
        processed = CounterMetricFamily(
            "pulse_events_processed",
            "Messages consumed by this worker, by source topic.",
            labels=["topic"],
        )
        for topic, count in sorted(self.processed.items()):
            processed.add_metric([topic], count)
        yield processed
        cumulative, buckets = 0, []
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self._latency_counts):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "pulse_event_to_state_latency_seconds",
            "Seconds from a message's Kafka timestamp to the worker state that includes it.",
            buckets=buckets,
            sum_value=self._latency_sum_ms / 1000,
        )
        lag_family = GaugeMetricFamily(
            "pulse_consumer_lag",
            "Messages not yet committed, per owned source partition.",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(lag.items()):
            lag_family.add_metric([topic, str(partition)], value)
        yield lag_family
        last = GaugeMetricFamily(
            "pulse_last_event_timestamp_seconds",
            "Kafka timestamp of the last message consumed from the topic (Unix seconds).",
            labels=["topic"],
        )
        for topic, timestamp_ms in sorted(self.last_timestamp_ms.items()):
            last.add_metric([topic], timestamp_ms / 1000)
        yield last
        yield GaugeMetricFamily(
            "pulse_recovery_in_progress",
            "1 while state is being restored from changelogs or a rebalance is under way.",
            value=1 if recovering else 0,
        )
        yield GaugeMetricFamily(
            "pulse_assigned_partitions", "Source partitions this worker owns.", value=assigned
        )
