"""Worker settings: where the broker is, how to reach it securely, where state and /metrics live.

Every option has a `PULSE_*` environment variable (see `pulse worker --help`). Secrets
(SASL password, key password) are read from the environment or the command line and are
never logged: `WorkerSettings.__repr__` masks them.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS
from streams.errors import ConfigError
from streams.kafka.security import (
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    KafkaSecurity,
    masked_fields,
)
from streams.worker.web_auth import WebSecurity

GUARANTEES = ("exactly_once", "at_least_once")
__all__ = ["GUARANTEES", "SASL_MECHANISMS", "SECURITY_PROTOCOLS", "WorkerSettings"]


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap: str = "127.0.0.1:9092"
    app_id: str = "cs-pulse"
    topic_prefix: str = ""  # e.g. "staging." reads staging.pulse.logins, ...
    partitions: int = 4
    data_dir: Path = Path(".cache/worker")
    store: str = "rocksdb"  # rocksdb | memory
    metrics_bind: str = "127.0.0.1"
    metrics_port: int = 9108
    processing_guarantee: str = "exactly_once"
    batch_size: int = 10_000  # messages applied at once, at most
    batch_seconds: float = (
        0.25  # ... or whatever arrived within this time: the added latency to /metrics
    )
    checkpoint_seconds: float = 10.0  # changed state is written (and offsets committed) this often
    checkpoint_events: int = (
        200_000  # ... or once this many events were applied (docs/performance.md)
    )
    config_path: Path | None = None
    frozen_clock_ms: int | None = None  # tests and historical runs: evaluate at this instant
    account_records: bool = True  # the account layer: records, health, /accounts, account metrics
    security: KafkaSecurity = field(default_factory=KafkaSecurity)  # TLS, SASL (checked when built)
    fetch_stall_seconds: float = (
        60.0  # /healthz answers 503 after this long without an answered fetch
    )
    web: WebSecurity = field(default_factory=WebSecurity)  # who may read what on the HTTP port

    def __post_init__(self) -> None:
        if self.processing_guarantee not in GUARANTEES:
            raise ConfigError(
                f"processing guarantee {self.processing_guarantee!r} is unknown: use one of {', '.join(GUARANTEES)}."
            )
        if self.store not in ("rocksdb", "memory"):
            raise ConfigError(
                f"store {self.store!r} is unknown: use rocksdb (durable, the default) or memory."
            )
        if self.partitions < 1:
            raise ConfigError(
                "--partitions must be 1 or more: use the partition count of the project's topics."
            )
        for name, least in (("batch_size", 1), ("checkpoint_events", 1)):
            if getattr(self, name) < least:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be 1 or more: it counts events."
                )
        for name in ("batch_seconds", "checkpoint_seconds", "fetch_stall_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be more than 0 seconds.")

    @property
    def source_topics(self) -> tuple[str, ...]:
        return tuple(self.topic_prefix + topic for topic in SOURCE_TOPICS)

    @property
    def dead_letter_topic(self) -> str:
        return self.topic_prefix + DEAD_LETTER_TOPIC

    def unprefixed(self, topic: str) -> str:
        return topic.removeprefix(self.topic_prefix)

    def __repr__(self) -> str:
        return f"WorkerSettings({masked_fields(self)})"

    def broker_credentials(self) -> Any:
        """Faust credentials for the configured security protocol, or None for PLAINTEXT."""
        return self.security.faust_credentials()

    def ssl_context(self) -> ssl.SSLContext | None:
        return self.security.ssl_context()
