"""`make run` (scripts/run-demo.sh) for real, on the test broker: it starts a worker, the
demo feed and a local Prometheus that scrapes the worker, prints Prometheus's URL, and a
Ctrl-C (SIGINT to its process group, as a terminal sends it) stops all of them. The broker
was already running, so the script leaves it running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.helpers import REPO, free_port
from tests.support.servers import binary, http_json, wait_until
from tests.support.terminal import sigint_as_at_a_terminal

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus]
START_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 60.0


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def test_make_run_starts_a_prometheus_scraping_the_worker_and_ctrl_c_stops_it(
    kafka_bootstrap: str, tmp_path: Path
):
    binary("prometheus")
    kafka_port = kafka_bootstrap.rsplit(":", 1)[1]
    metrics_port, prometheus_port = free_port(), free_port()
    env = {
        **os.environ,
        "BIN": str(Path(sys.executable).parent),
        "KAFKA_PORT": kafka_port,
        "METRICS_PORT": str(metrics_port),
        "PROMETHEUS_PORT": str(prometheus_port),
        "RUN_DIR": str(tmp_path),
    }
    output = tmp_path / "run-demo.out"
    with output.open("wb") as out:
        script = subprocess.Popen(
            ["bash", "scripts/run-demo.sh"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=sigint_as_at_a_terminal,
        )
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    try:
        wait_until(
            lambda: re.search(rf"prometheus: +{re.escape(prometheus)}\b", output.read_text()),
            START_TIMEOUT_S,
            lambda: f"no Prometheus URL printed:\n{output.read_text()[-3000:]}",
        )

        def worker_scraped() -> bool:
            targets = http_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
            return any(t["labels"]["job"] == "pulse" and t["health"] == "up" for t in targets)

        wait_until(
            worker_scraped,
            START_TIMEOUT_S,
            lambda: f"the worker is not scraped: {output.read_text()[-3000:]}",
        )
        assert answers(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        os.killpg(script.pid, signal.SIGINT)
        try:
            script.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(script.pid, signal.SIGKILL)
            raise
    assert not answers(f"{prometheus}/-/ready"), "Prometheus still answers after Ctrl-C"
    assert not answers(f"http://127.0.0.1:{metrics_port}/metrics"), (
        "the worker still answers after Ctrl-C"
    )
    assert answers_kafka(kafka_bootstrap), "the script stopped a broker it did not start"


def answers_kafka(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, int(port))) == 0
