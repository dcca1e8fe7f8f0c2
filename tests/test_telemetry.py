"""The worker's pipeline metrics, rendered as Prometheus text."""

from __future__ import annotations

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from streams.worker.telemetry import PipelineTelemetry


def render(telemetry: PipelineTelemetry) -> dict:
    registry = CollectorRegistry(auto_describe=False)

    class Collector:
        def collect(self):
            yield from telemetry.families({("pulse.logins", 0): 3}, recovering=False, assigned=1)

    registry.register(Collector())
    text = generate_latest(registry).decode()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_latency_histogram_counts_each_message_in_its_bucket():
    telemetry = PipelineTelemetry()
    applied = 1_000_000
    # latencies 0 ms (a clock ahead of Kafka's counts as 0), 5 ms (on a bound), 6 ms, 2 s, 100 s
    telemetry.observe_batch(
        [
            ("pulse.logins", applied + 50),
            ("pulse.logins", applied - 5),
            ("pulse.billing", applied - 6),
            ("pulse.logins", applied - 2000),
            ("pulse.logins", applied - 100_000),
        ],
        applied,
    )
    samples = render(telemetry)
    bucket = "pulse_event_to_state_latency_seconds_bucket"
    assert samples[bucket + "[('le', '0.005')]"] == 2
    assert samples[bucket + "[('le', '0.01')]"] == 3
    assert samples[bucket + "[('le', '1.0')]"] == 3
    assert samples[bucket + "[('le', '2.5')]"] == 4
    assert samples[bucket + "[('le', '60.0')]"] == 4
    assert samples[bucket + "[('le', '+Inf')]"] == 5
    assert samples["pulse_event_to_state_latency_seconds_count[]"] == 5
    assert abs(samples["pulse_event_to_state_latency_seconds_sum[]"] - 102.011) < 1e-9
    assert samples["pulse_events_processed_total[('topic', 'pulse.logins')]"] == 4
    assert (
        samples["pulse_last_event_timestamp_seconds[('topic', 'pulse.logins')]"]
        == (applied + 50) / 1000
    )
