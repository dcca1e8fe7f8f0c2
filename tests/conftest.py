"""Shared fixtures. Integration tests talk to the real Apache Kafka broker that the
project's own `pulse dev kafka up` starts (the README's test command starts it first; the
fixture starts it too when a test run needs it and none answers).

`make test` runs the suite on two processes (pytest-xdist, `--dist loadgroup`,
PULSE_TEST_WORKERS): the pure tests share the second core while the broker tests wait on
I/O. The tests that use the broker are one group (tests/support/xdist_groups.py), so that they never run at the
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
from tests.support import xdist_groups

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


def group_of(item: pytest.Item) -> str | None:
    """The xdist group of a test: the broker tests in one group, the server tests in
    another, a module with module-scoped fixtures in a group of its own; None: alone."""
    if marker := item.get_closest_marker("xdist_group"):
        return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))
    if group := shared_group(item):
        return group
    if _has_module_fixture(item):
        return item.nodeid.split("::")[0]
    return None


def pytest_configure(config: pytest.Config) -> None:
    xdist_groups.configure(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Publish the groups of the collected tests to the scheduler (only with `-n`)."""
    groups = {item.nodeid: group for item in items if (group := group_of(item)) is not None}
    xdist_groups.publish(config, groups)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadgroup` by the groups above (tests/support/xdist_groups.py says why)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return xdist_groups.make_scheduler(config, log)
