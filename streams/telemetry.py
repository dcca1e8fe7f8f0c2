"""Pipeline metrics of one worker process (not business metrics): what it consumed, how far
behind it is, how fresh its state is. Rendered at scrape time beside the engine's snapshot.

- `pulse_events_processed_total{topic}`: messages this process consumed, by source topic.
- `pulse_consumer_lag{topic,partition}`: high-water mark minus the committed offset, for
  every source partition this worker owns (messages not yet committed).
- `pulse_event_to_state_latency_seconds`: histogram of (state written - Kafka message
  timestamp) per message, i.e. from produce to the state the next scrape renders.
- `pulse_last_event_timestamp_seconds{topic}`: Kafka timestamp of the last message consumed
  from the topic (wall-clock freshness; alert when time() minus it grows).
- `pulse_recovery_in_progress`: 1 while tables are being restored from their changelogs.
- `pulse_assigned_partitions`: source partitions this worker owns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PipelineTelemetry:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.processed: Counter[str] = Counter()
        self.last_timestamp_ms: dict[str, int] = {}
        self.latency = Histogram(
            "pulse_event_to_state_latency_seconds",
            "Seconds from a message's Kafka timestamp to the worker state that includes it.",
            buckets=LATENCY_BUCKETS, registry=registry,
        )

    def observe_batch(self, topics_and_timestamps: Iterable[tuple[str, int]], written_at_ms: int) -> None:
        for topic, timestamp_ms in topics_and_timestamps:
            self.processed[topic] += 1
            if timestamp_ms > self.last_timestamp_ms.get(topic, -1):
                self.last_timestamp_ms[topic] = timestamp_ms
            self.latency.observe(max(0, written_at_ms - timestamp_ms) / 1000)

    def families(self, lag: Mapping[tuple[str, int], int], recovering: bool, assigned: int):
        processed = CounterMetricFamily("pulse_events_processed", "Messages consumed by this worker, by source topic.",
                                        labels=["topic"])
        for topic, count in sorted(self.processed.items()):
            processed.add_metric([topic], count)
        yield processed
        lag_family = GaugeMetricFamily("pulse_consumer_lag", "Messages not yet committed, per owned source partition.",
                                       labels=["topic", "partition"])
        for (topic, partition), value in sorted(lag.items()):
            lag_family.add_metric([topic, str(partition)], value)
        yield lag_family
        last = GaugeMetricFamily("pulse_last_event_timestamp_seconds",
                                 "Kafka timestamp of the last message consumed from the topic (Unix seconds).",
                                 labels=["topic"])
        for topic, timestamp_ms in sorted(self.last_timestamp_ms.items()):
            last.add_metric([topic], timestamp_ms / 1000)
        yield last
        yield GaugeMetricFamily("pulse_recovery_in_progress", "1 while state is being restored from changelogs.",
                                value=1 if recovering else 0)
        yield GaugeMetricFamily("pulse_assigned_partitions", "Source partitions this worker owns.", value=assigned)
