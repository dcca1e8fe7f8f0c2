"""Shared fixtures. Integration tests talk to the real Apache Kafka broker that the
project's own `pulse dev kafka up` starts (the README's test command starts it first; the
fixture starts it too when a test run needs it and none answers).

`make test` runs the suite on two processes (pytest-xdist, `--dist loadgroup`,
PULSE_TEST_WORKERS): the pure tests share the second core while the broker tests wait on
I/O. Every test that needs a shared resource (the broker, Prometheus or Alertmanager,
Chromium) is put in one `xdist_group` below, so that those tests never run at the same
time as each other, as in a run on one process. Modules whose module-scoped fixtures are
expensive (generated datasets, rendered reports) keep their tests on one process, so the
fixture is built once."""

from __future__ import annotations

import os

import pytest

from streams.devtools.localkafka import LocalKafka

KAFKA_PORT = int(os.environ.get("PULSE_TEST_KAFKA_PORT", "19092"))

# The group of every test that touches a shared resource: they run one after the other.
SHARED_RESOURCES_GROUP = "shared-resources"
SHARED_RESOURCE_MARKERS = ("kafka", "prometheus", "browser")
SHARED_RESOURCE_FIXTURES = ("kafka_bootstrap",)


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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Assign the xdist groups (a no-op without `-n`): shared resources in one group,
    modules with module-scoped fixtures each in a group of their own."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        shared = any(item.get_closest_marker(name) for name in SHARED_RESOURCE_MARKERS) or any(
            name in getattr(item, "fixturenames", ()) for name in SHARED_RESOURCE_FIXTURES
        )
        if shared:
            item.add_marker(pytest.mark.xdist_group(SHARED_RESOURCES_GROUP))
        elif _has_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
