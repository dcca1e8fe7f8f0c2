"""Worker settings: where the broker is, how to reach it securely, where state and /metrics live.

Every option has a `PULSE_*` environment variable (see `pulse worker --help`). Secrets
(SASL password, key password) are read from the environment or the command line and are
never logged: `WorkerSettings.__repr__` masks them.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, fields
from pathlib import Path

from streams.errors import ConfigError
from streams.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS

GUARANTEES = ("exactly_once", "at_least_once")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECRET_FIELDS = frozenset({"sasl_password", "ssl_keyfile_password"})


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
    batch_seconds: float = 0.25  # ... or whatever arrived within this time: the added latency to /metrics
    checkpoint_seconds: float = 10.0  # changed state is written (and offsets committed) this often
    checkpoint_events: int = 200_000  # ... or once this many events were applied (docs/performance.md)
    config_path: Path | None = None
    frozen_clock_ms: int | None = None  # tests and historical runs: evaluate at this instant
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_keyfile_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.processing_guarantee not in GUARANTEES:
            raise ConfigError(f"processing guarantee {self.processing_guarantee!r} is unknown: use one of {', '.join(GUARANTEES)}.")
        if self.store not in ("rocksdb", "memory"):
            raise ConfigError(f"store {self.store!r} is unknown: use rocksdb (durable, the default) or memory.")
        if self.partitions < 1:
            raise ConfigError("--partitions must be 1 or more: use the partition count of the project's topics.")
        for name, least in (("batch_size", 1), ("checkpoint_events", 1)):
            if getattr(self, name) < least:
                raise ConfigError(f"--{name.replace('_', '-')} must be 1 or more: it counts events.")
        for name in ("batch_seconds", "checkpoint_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be more than 0 seconds.")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(f"security protocol {self.security_protocol!r} is unknown: use one of {', '.join(SECURITY_PROTOCOLS)}.")
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(f"SASL mechanism {self.sasl_mechanism!r} is unknown: use one of {', '.join(SASL_MECHANISMS)}.")
        if self.security_protocol.startswith("SASL") and not (self.sasl_username and self.sasl_password):
            raise ConfigError("SASL needs a user name and a password: set PULSE_SASL_USERNAME and PULSE_SASL_PASSWORD.")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{name.replace('_', ' ')} {path} does not exist: pass the path of a readable PEM file.")

    @property
    def source_topics(self) -> tuple[str, ...]:
        return tuple(self.topic_prefix + topic for topic in SOURCE_TOPICS)

    @property
    def dead_letter_topic(self) -> str:
        return self.topic_prefix + DEAD_LETTER_TOPIC

    def unprefixed(self, topic: str) -> str:
        return topic.removeprefix(self.topic_prefix)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name in SECRET_FIELDS and getattr(self, f.name) else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"WorkerSettings({shown})"

    def broker_credentials(self):
        """Faust credentials for the configured security protocol, or None for PLAINTEXT."""
        import faust

        context = self.ssl_context()
        if self.security_protocol.startswith("SASL"):
            return faust.SASLCredentials(
                username=self.sasl_username, password=self.sasl_password,
                mechanism=self.sasl_mechanism, ssl_context=context,
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.ssl_certfile:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None,
                                    self.ssl_keyfile_password)
        return context
