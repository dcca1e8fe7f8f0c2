"""Noticing, while the worker runs, that Kafka stopped letting it in or stopped answering.

Why: when the brokers start refusing the worker's credentials (a password changed, a
certificate expired or revoked), the Kafka client retries for ever, several times a
second, and the worker reads nothing; left alone it looked healthy. This module:

- counts the client library's authentication and TLS failures as they are logged
  (`pulse_kafka_auth_failures_total`, alert `PulseKafkaAuthFailures`) and logs one error
  sentence naming the cause at most every `REPORT_EVERY_S` seconds (the library's own
  lines stay in the log as they are);
- knows when a fetch last succeeded (an answer to a fetch request, with or without
  records: idle topics still answer) so /healthz can turn 503 after
  `--fetch-stall-seconds` without one (`pulse_kafka_last_fetch_timestamp_seconds`).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from streams.kafka.security import KafkaSecurity, describe_failure, error_chain

log = logging.getLogger("cs-pulse.kafka")
REPORT_EVERY_S = 30.0


def auth_failure_in(record: logging.LogRecord) -> BaseException | None:
    """The authentication or TLS error a client-library log record reports, if any."""
    from aiokafka import errors as kafka_errors

    candidates = list(record.args.values() if isinstance(record.args, dict) else record.args or ())
    if record.exc_info and record.exc_info[1] is not None:
        candidates.append(record.exc_info[1])
    refusals = (
        kafka_errors.SaslAuthenticationFailed,
        kafka_errors.AuthenticationFailedError,
        kafka_errors.UnsupportedSaslMechanismError,
        ssl.SSLError,
    )
    for candidate in candidates:
        if isinstance(candidate, BaseException) and any(
            isinstance(item, refusals) for item in error_chain(candidate)
        ):
            return candidate
    return None


class KafkaWatch(logging.Handler):
    """A handler on the client library's logger plus the time of the last good fetch."""

    def __init__(self, bootstrap: str, security: KafkaSecurity, stall_seconds: float) -> None:
        super().__init__(level=logging.WARNING)
        self.bootstrap = bootstrap
        self.security = security
        self.stall_seconds = stall_seconds
        self.started = time.time()
        self._newest = self.started
        self.failures = 0
        self._reported = -REPORT_EVERY_S

    def install(self) -> None:
        logging.getLogger("aiokafka").addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger("aiokafka").removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        error = auth_failure_in(record)
        if error is None:
            return
        self.failures += 1
        now = time.monotonic()
        if now - self._reported >= REPORT_EVERY_S:
            self._reported = now
            log.error(
                "Kafka refuses the worker: %s (%d refused attempts so far; the worker keeps retrying and "
                "reads nothing until it is let in)",
                describe_failure(error, self.bootstrap, self.security),
                self.failures,
            )

    def last_fetch(self, last_fetch_ms: int | None) -> float:
        """Epoch seconds of the last good fetch, or the start of the worker before the first.
        Remembered: a rebalance hands out partitions with no fetch yet, which does not make
        the last good fetch any older."""
        self._newest = max(self._newest, (last_fetch_ms or 0) / 1000)
        return self._newest

    def stalled(self, last_fetch_ms: int | None, now: float | None = None) -> bool:
        """True once no fetch has succeeded for --fetch-stall-seconds."""
        return (now if now is not None else time.time()) - self.last_fetch(
            last_fetch_ms
        ) > self.stall_seconds

    def families(
        self, last_fetch_ms: int | None
    ) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        failures = CounterMetricFamily(
            "pulse_kafka_auth_failures",
            "Connections to Kafka refused for authentication or TLS since the worker started.",
        )
        failures.add_metric([], self.failures)
        yield failures
        fetched = GaugeMetricFamily(
            "pulse_kafka_last_fetch_timestamp_seconds",
            "When the worker last got an answer to a fetch from Kafka (its start before the first).",
        )
        fetched.add_metric([], self.last_fetch(last_fetch_ms))
        yield fetched
