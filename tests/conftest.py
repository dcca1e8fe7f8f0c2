"""Shared fixtures. Integration tests talk to the real Apache Kafka broker that the
project's own `pulse dev kafka up` starts (the README's test command starts it first; the
fixture starts it too when a test run needs it and none answers)."""

from __future__ import annotations

import os

import pytest

from streams.devtools.localkafka import LocalKafka

KAFKA_PORT = int(os.environ.get("PULSE_TEST_KAFKA_PORT", "19092"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of a running local broker; fails (never skips) if none can start."""
    broker = LocalKafka(port=KAFKA_PORT)
    broker.up(echo=lambda message: None)
    return broker.bootstrap
