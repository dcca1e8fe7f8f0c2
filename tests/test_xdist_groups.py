"""The groups of `make test -n 2` hold: the tests that use the broker run on one process,
one after the other, whatever file they are in (tests/conftest.py,
tests/support/xdist_groups.py). A pytest run on two processes over a small suite with the
project's conftest records which process ran each test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMAND_TIMEOUT_S = 300

MODULE = """
import os

import pytest

pytestmark = {marks}


@pytest.mark.parametrize("n", range(4))
def test_{name}(n):
    with open(os.environ["RECORD"], "a") as record:
        record.write("{name} " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def test_broker_tests_run_on_one_process(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    for name, marks in [
        ("broker_a", "pytest.mark.kafka"),
        ("broker_b", "pytest.mark.kafka"),
        ("pure_a", "[]"),
        ("pure_b", "[]"),
        ("pure_c", "[]"),
    ]:
        (suite / f"test_{name}.py").write_text(
            textwrap.dedent(MODULE.format(name=name, marks=marks))
        )
    record = tmp_path / "record.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECORD": str(record)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::pytest.PytestUnknownMarkWarning",
            str(suite),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line.split() for line in record.read_text().splitlines()]
    assert len(ran) == 20, ran
    broker = {worker for name, worker in ran if name.startswith("broker")}
    assert len(broker) == 1, f"broker tests ran on {sorted(broker)}: {ran}"
