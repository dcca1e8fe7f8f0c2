"""The local Prometheus of `make run` (streams/devtools/localprometheus.py), with Debian's real
binary: it loads every rule group of ops/prometheus/rules, scrapes the worker it is given
and itself, and stops on SIGTERM. `ops/install-prometheus.sh` installs the binary."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from streams.devtools import localprometheus
from tests.support.servers import (
    DATA_TIMEOUT_S,
    PROMETHEUS_DIR,
    binary,
    free_port,
    http_json,
    serving_metrics,
    start,
    stop,
    wait_until,
)

pytestmark = pytest.mark.prometheus


@pytest.fixture
def worker() -> Iterator[str]:
    """A stand-in for the worker's /metrics."""
    exposition = "# TYPE pulse_recovery_in_progress gauge\npulse_recovery_in_progress 0\n"
    with serving_metrics(lambda: exposition) as address:
        yield address


def test_the_config_reads_every_rule_file_and_scrapes_the_worker():
    config = localprometheus.config("127.0.0.1:9108", 9090)
    assert config["rule_files"] == [
        str(path) for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
    ]
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {"pulse": ["127.0.0.1:9108"], "prometheus": ["127.0.0.1:9090"]}


def test_local_prometheus_runs_the_rules_and_scrapes_the_worker(worker: str, tmp_path: Path):
    binary("prometheus")
    port = free_port()
    process = start(
        [
            sys.executable,
            "-m",
            "streams.devtools.localprometheus",
            "--port",
            str(port),
            "--worker",
            worker,
            "--dir",
            str(tmp_path),
        ],
        f"http://127.0.0.1:{port}/-/ready",
        tmp_path / "prometheus.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def scraped() -> dict[str, str]:
            targets = http_json(f"{base}/api/v1/targets")["data"]["activeTargets"]
            health = {target["labels"]["job"]: target["health"] for target in targets}
            return health if health == {"pulse": "up", "prometheus": "up"} else {}

        wait_until(
            scraped,
            DATA_TIMEOUT_S,
            lambda: f"targets {http_json(f'{base}/api/v1/targets')['data']}",
        )
        expected = {
            group["name"]
            for path in (PROMETHEUS_DIR / "rules").glob("*.yml")
            for group in yaml.safe_load(path.read_text())["groups"]
        }
        loaded = {group["name"] for group in http_json(f"{base}/api/v1/rules")["data"]["groups"]}
        assert loaded == expected
    finally:
        stop(process)
    assert process.returncode == 0, (tmp_path / "prometheus.log").read_text()[-2000:]


def test_a_taken_port_is_one_sentence_naming_the_fix(tmp_path: Path):
    binary("prometheus")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.devtools.localprometheus",
                "--port",
                str(port),
                "--dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"port {port} is taken (by a Prometheus service installed with the Debian "
        f"package?): choose another one, e.g. PROMETHEUS_PORT={port + 1} make run."
    )
