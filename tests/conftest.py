"""Shared fixtures. Integration tests talk to the real Apache Kafka broker that the
project's own `pulse dev kafka up` starts (the README's test command starts it first; the
fixture starts it too when a test run needs it and none answers).

`make test` runs the suite on two processes (pytest-xdist, `--dist loadgroup`,
PULSE_TEST_WORKERS): the pure tests share the second core while the broker tests wait on
I/O. The tests that use the broker are one `xdist_group`, so that they never run at the
same time as each other, as in a run on one process (they share one broker and its CPU).
The tests that start Prometheus, Alertmanager or Chromium are another: each server gets
a folder of its own and a free port, so they cannot collide with the broker tests, but
they do not run beside each other either. A test marked `local_tool` only runs promtool
or amtool on files of its own and runs beside anything. Modules whose module-scoped
fixtures are expensive (generated datasets, rendered reports) keep their tests on one
process, so the fixture is built once."""

from __future__ import annotations

import os

import pytest

from streams.devtools.localkafka import LocalKafka

KAFKA_PORT = int(os.environ.get("PULSE_TEST_KAFKA_PORT", "19092"))

# The xdist group of the tests that use a shared resource: the tests of one group run one
# after the other. The broker first: a test that needs the broker and Prometheus (the
# demo) is a broker test.
BROKER_GROUP = "kafka-broker"
SERVERS_GROUP = "servers"
BROKER_FIXTURES = ("kafka_bootstrap",)
SERVER_MARKERS = ("prometheus", "browser")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of a running local broker; fails (never skips) if none can start."""
    broker = LocalKafka(port=KAFKA_PORT)
    broker.up(echo=lambda message: None)
    return broker.bootstrap


def _has_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in info.names_closure:
        definitions = info.name2fixturedefs.get(name, ())
        if any(definition.scope == "module" for definition in definitions):
            return True
    return False


def shared_group(item: pytest.Item) -> str | None:
    """The group of a test that uses a shared resource, or None."""
    if item.get_closest_marker("kafka") or any(
        name in getattr(item, "fixturenames", ()) for name in BROKER_FIXTURES
    ):
        return BROKER_GROUP
    if item.get_closest_marker("local_tool"):
        return None
    if any(item.get_closest_marker(name) for name in SERVER_MARKERS):
        return SERVERS_GROUP
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Assign the xdist groups (a no-op without `-n`): the broker tests in one group, the
    server tests in another, modules with module-scoped fixtures each in a group of their
    own."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        if group := shared_group(item):
            item.add_marker(pytest.mark.xdist_group(group))
        elif _has_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
