"""Helpers for tests against the real broker: unique topics, producing, worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.errors import PulseError
from streams.kafka.topics import ensure_topics

REPO = Path(__file__).resolve().parents[2]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 4) -> None:
    """Create the topics and wait until the broker's metadata lists every one of them: a
    new topic shows there shortly after it is created, not at once (on a loaded machine a
    worker started right away was told a topic did not exist)."""
    names = tuple(names)
    asyncio.run(ensure_topics(bootstrap, partitions, names=names))
    wait_until(lambda: _listed(bootstrap, names, partitions), 60, what=f"topics {names}")


def _listed(bootstrap: str, names: tuple[str, ...], partitions: int) -> bool:
    try:
        asyncio.run(ensure_topics(bootstrap, partitions, names=(), required=names, create_hint="-"))
    except PulseError:
        return False
    return True


def produce(bootstrap: str, messages: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    """Send (topic, key, value) messages with acks=all; return how many were sent."""

    async def run() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        sent = 0
        try:
            for topic, key, value in messages:
                await producer.send(topic, value=value, key=key)
                sent += 1
            await producer.flush()
        finally:
            await producer.stop()
        return sent

    return asyncio.run(run())


class WorkerProcess:
    """A worker started as a child process, with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 45.0) -> int:
        if self.alive():
            os.killpg(self.process.pid, sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait(10)
        self._log.close()
        return code


def read_committed(
    bootstrap: str,
    topic: str,
    idle_polls: int = 6,
    partition_fetch_bytes: int = 4 << 20,
    fetch_bytes: int = 16 << 20,
) -> list:
    """Every committed record of `topic` (isolation read_committed), read from the start
    until `idle_polls` polls of half a second in a row bring nothing."""

    async def read() -> list:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_partition_fetch_bytes=partition_fetch_bytes,
            fetch_max_bytes=fetch_bytes,
        )
        await consumer.start()
        records, quiet = [], 0
        try:
            while quiet < idle_polls:
                batch = await consumer.getmany(timeout_ms=500)
                got = [m for messages in batch.values() for m in messages]
                records += got
                quiet = 0 if got else quiet + 1
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, b""


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    worker: WorkerProcess | None = None,
    what: str = "condition",
) -> None:
    """Poll `condition` until true; fail with the worker's log tail on timeout or death."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.log_tail()}")
        time.sleep(0.5)
    tail = f"\n{worker.log_tail()}" if worker is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")
