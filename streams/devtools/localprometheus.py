"""A local Prometheus for `make run`: Debian's `prometheus` binary (the one the tests use,
installed by ops/install-prometheus.sh) with the project's rules, scraping the local worker.

`make run` has no Docker, so nothing would show the figures but raw /metrics. This writes
a config made for loopback (the worker at 127.0.0.1, Prometheus itself, every rule file of
ops/prometheus/rules; no Alertmanager: firing alerts show on Prometheus's Alerts page) and
then becomes the Prometheus process (exec), so the caller's pid is Prometheus's and a
SIGTERM stops it. The production config is ops/prometheus/prometheus.yml; only the targets
and the intervals differ here.

    python -m streams.devtools.localprometheus --port 9090 --worker 127.0.0.1:9108 --dir .cache/run/prometheus
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

RULES_DIR = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "rules"
INTERVAL = "5s"  # a demo: figures move within seconds, not the production 15s


def config(worker: str, port: int, rules_dir: Path = RULES_DIR) -> dict[str, Any]:
    """The Prometheus config for one local worker at `worker` (host:port)."""
    return {
        "global": {
            "scrape_interval": INTERVAL,
            "scrape_timeout": INTERVAL,
            "evaluation_interval": INTERVAL,
            "external_labels": {"system": "cs-pulse"},
        },
        "rule_files": [str(path) for path in sorted(rules_dir.glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "pulse",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [worker]}],
            },
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
        ],
    }


def command(binary: str, folder: Path, port: int) -> list[str]:
    return [
        binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m streams.devtools.localprometheus", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--port", type=int, default=9090, help="port of Prometheus on 127.0.0.1 (default 9090)"
    )
    parser.add_argument(
        "--worker", default="127.0.0.1:9108", help="host:port of the worker's /metrics"
    )
    parser.add_argument(
        "--dir", type=Path, default=Path(".cache/run/prometheus"), help="config and data folder"
    )
    args = parser.parse_args(argv)

    binary = shutil.which("prometheus")
    if binary is None:
        sys.exit(
            "prometheus is not installed: run `sh ops/install-prometheus.sh` (Debian's prometheus package)."
        )
    if not RULES_DIR.is_dir():
        sys.exit(f"the rule files are not at {RULES_DIR}: run this from a clone of the repository.")
    if port_taken(args.port):
        # Debian's package also starts a prometheus service on 9090: never mistake it for ours
        sys.exit(
            f"port {args.port} is taken (by a Prometheus service installed with the Debian package?): "
            f"choose another one, e.g. PROMETHEUS_PORT={args.port + 1} make run."
        )
    args.dir.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: no YAML library needed at run time
    (args.dir / "prometheus.yml").write_text(json.dumps(config(args.worker, args.port), indent=2))
    os.execv(binary, command(binary, args.dir, args.port))


if __name__ == "__main__":
    main()
