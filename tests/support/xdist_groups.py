"""The xdist groups of `make test` (`-n 2 --dist loadgroup`): the tests of one group run
one after the other on one process (tests/conftest.py decides the groups from the markers).

pytest-xdist's own `loadgroup` appends the group to each test's node id on the workers,
which pytest 9 no longer lets it do (a node id is no longer a plain attribute), so every
test would be scheduled alone and the broker tests would run two at a time. Here the
workers write the group of each test to a folder the controller made, and a scheduler of
the same kind as xdist's reads the groups from there: one source (the markers), no
renamed node ids."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

FOLDER_ENV = "PULSE_TEST_XDIST_GROUPS"


def configure(config: pytest.Config) -> None:
    """On the controller of a run with `-n N`, N > 0: the folder the workers write to (the
    workers inherit the environment)."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    folder = tempfile.mkdtemp(prefix="pulse-xdist-groups-")
    os.environ[FOLDER_ENV] = folder
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def publish(config: pytest.Config, groups: dict[str, str]) -> None:
    """On a worker: its collection's {node id: group}, written whole, then renamed."""
    folder = os.environ.get(FOLDER_ENV)
    worker = getattr(config, "workerinput", {}).get("workerid")
    if folder is None or worker is None:
        return
    path = Path(folder) / f"{worker}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(groups))
    partial.replace(path)


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's scope scheduler with a test's scope being its group (alone without one)."""
    from xdist.scheduler import LoadScopeScheduling

    class MarkedGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = read_groups()
            return self.groups.get(nodeid, nodeid)

    return MarkedGroupScheduling(config, log)


def read_groups() -> dict[str, str]:
    """The groups the workers wrote (they collected the same tests: their maps agree)."""
    folder = os.environ.get(FOLDER_ENV)
    files = sorted(Path(folder).glob("*.json")) if folder else []
    if not files:
        raise pytest.UsageError(
            "no worker published its xdist groups: run the suite through tests/conftest.py "
            "(make test), or without -n."
        )
    return json.loads(files[0].read_text())
