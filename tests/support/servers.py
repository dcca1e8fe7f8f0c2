"""The real servers of the end-to-end tests: Debian's Prometheus and Alertmanager binaries
started on loopback and stopped afterwards, and small HTTP servers that play their peers
(a worker's /metrics, a webhook receiver). One home for starting, waiting and stopping,
so that every end-to-end module fails the same way (never skips) when a binary is missing
or a server does not come up.

`ops/install-prometheus.sh` installs the binaries."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "ops" / "prometheus"
ALERTMANAGER_CONFIG = REPO / "ops" / "alertmanager" / "alertmanager.yml"
# How long the end-to-end tests wait, one constant per kind of wait. None is a timing
# assertion: each only turns a hang into a failure that names what hung, so each is
# generous enough for a heavily loaded machine (a run on two processes shares the cores
# with the broker and the servers). pytest-timeout (600 s, pyproject.toml) is the backstop.
START_TIMEOUT_S = 60.0
"""A server (Prometheus, Alertmanager) answers /-/ready."""
DATA_TIMEOUT_S = 90.0
"""Data a server was handed (a scrape, an alert) shows in its API."""
COMMAND_TIMEOUT_S = 540.0
"""A command in a child process ends: `pulse`, promtool, amtool."""
QUERY_TIMEOUT_S = 120.0
"""One HTTP query answers (a range query over weeks of backfilled history is the largest)."""


def binary(*names: str) -> str:
    """The path of the first of `names` on PATH; fails the test (never skips) without one."""
    for name in names:
        if path := shutil.which(name):
            return path
    pytest.fail(
        f"{' or '.join(names)} is not installed: run `sh ops/install-prometheus.sh` "
        "(Debian's prometheus and prometheus-alertmanager packages)."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_json(url: str, body: bytes | None = None) -> Any:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"} if body else {}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_until(check: Callable[[], Any], timeout_s: float, what: Callable[[], str]) -> Any:
    """Poll `check` until it returns something truthy; fail with `what()` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout_s:.0f}s: {what()}")
        time.sleep(0.5)


def start(command: list[str], ready_url: str, log: Path) -> subprocess.Popen:
    """Start a server process and wait until `ready_url` answers 200."""
    log_file = log.open("wb")
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(
                f"{Path(command[0]).name} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_until(
            ready,
            START_TIMEOUT_S,
            lambda: f"{ready_url} never answered:\n{log.read_text()[-3000:]}",
        )
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@contextmanager
def running(command: list[str], port: int, log: Path) -> Iterator[str]:
    """A server started by `command`, listening on `port`: its base URL once /-/ready
    answers (Prometheus and Alertmanager both serve it), stopped on leaving."""
    base = f"http://127.0.0.1:{port}"
    process = start(command, f"{base}/-/ready", log)
    try:
        yield base
    finally:
        stop(process)


@contextmanager
def running_prometheus(
    folder: Path, config: dict[str, Any], *flags: str, port: int | None = None
) -> Iterator[str]:
    """A real Prometheus with `config` (written to folder/prometheus.yml), its data in
    folder/data unless a flag says otherwise; yields its base URL. `port`: one chosen
    beforehand (when the config names Prometheus itself as a target)."""
    port = port or free_port()
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    storage = (
        ()
        if any(f.startswith("--storage.tsdb.path=") for f in flags)
        else (f"--storage.tsdb.path={folder / 'data'}",)
    )
    command = [
        binary("prometheus"),
        f"--config.file={folder / 'prometheus.yml'}",
        *storage,
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        *flags,
    ]
    with running(command, port, folder / "prometheus.log") as base:
        yield base


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """host:port of a threaded HTTP server on loopback answering with `handler`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that writes no access log to the test's output."""

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving_metrics(exposition: Callable[[], str]) -> Iterator[str]:
    """host:port of a stand-in worker whose /metrics answers `exposition()` (called at
    every scrape) in Prometheus' text format."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = exposition().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as address:
        yield address


def pulse(*args: str | Path) -> str:
    """`pulse ARGS` in a child process, as a user runs it; its stdout, or the test fails."""
    command = [sys.executable, "-m", "streams.cli", *map(str, args)]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"`pulse {' '.join(map(str, args))}` failed ({result.returncode}): {result.stderr[-2000:]}"
        )
    return result.stdout
