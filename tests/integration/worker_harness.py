"""Running `pulse worker` and `pulse replay` side by side on one generated dataset."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS
from streams.generator import GeneratorConfig, generate
from tests.integration.helpers import (
    REPO,
    WorkerProcess,
    create_topics,
    free_port,
    http_get,
    unique,
    wait_until,
)

CATCH_UP_S = 240
"""How long a worker may take to catch up with what was produced: not a timing assertion,
only the point where a wait that never ends becomes a failure naming what it waited for."""

# Families that describe the process, not the data: they differ between a worker and a
# replay, or (the info gauges, 1 per process) do not add up over workers; and the process
# collector's process_* families.
PROCESS_FAMILIES = frozenset(
    {
        "pulse_events_processed",
        "pulse_consumer_lag",
        "pulse_event_to_state_latency_seconds",
        "pulse_last_event_timestamp_seconds",
        "pulse_recovery_in_progress",
        "pulse_assigned_partitions",
        "pulse_build_info",
        "pulse_reporting_currency_info",
        "pulse_kafka_auth_failures",
        "pulse_kafka_last_fetch_timestamp_seconds",
    }
)


# PULSE_TEST_STORE=memory runs the worker tests on Faust's in-memory store instead.
STORE_ARGS = ["--store", os.environ.get("PULSE_TEST_STORE", "rocksdb")]


@dataclass
class Dataset:
    path: Path
    messages: list  # GeneratedMessage
    as_of: str  # RFC 3339


def make_dataset(
    tmp_path: Path, *, seed: int, accounts: int = 25, days: int = 40, **faults: float
) -> Dataset:
    config = GeneratorConfig(accounts=accounts, days=days, seed=seed, **faults)
    messages = list(generate(config))
    path = tmp_path / f"events-{seed}.jsonl"
    path.write_bytes(b"".join(message.value + b"\n" for message in messages))
    from datetime import datetime

    as_of = (
        datetime.fromtimestamp(config.end / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        + "Z"
    )
    return Dataset(path, messages, as_of)


def kafka_messages(dataset: Dataset, prefix: str, start: int = 0, stop: int | None = None):
    for message in dataset.messages[start:stop]:
        yield prefix + message.topic, message.key, message.value


def replay(dataset: Dataset, tmp_path: Path, extra: list[str] | None = None) -> tuple[dict, Path]:
    """What a worker must export for `dataset` (`extra`: more replay options, e.g. --config)."""
    dead = tmp_path / "replay-dead-letters.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "replay",
            str(dataset.path),
            "--as-of",
            dataset.as_of,
            "--dead-letter",
            str(dead),
            "--no-ratios",
            *(extra or []),
        ],
        cwd=REPO,
        capture_output=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr.decode()
    return parse_exposition(result.stdout.decode()), dead


# The worker labels these counters by source partition; replay has no partitions.
PARTITIONED_COUNTERS = frozenset(
    {"pulse_events", "pulse_events_rejected", "pulse_events_duplicate"}
)


def parse_exposition(
    text: str, skip: frozenset[str] = PROCESS_FAMILIES
) -> dict[tuple[str, tuple], float]:
    """Samples by (name, labels); the worker's partition-labelled counters summed over
    their partitions, as replay prints them."""
    values: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in skip or family.name.startswith("process_"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = sample.labels
            if family.name in PARTITIONED_COUNTERS:
                labels = {name: value for name, value in labels.items() if name != "partition"}
            key = (sample.name, tuple(sorted(labels.items())))
            values[key] = values.get(key, 0.0) + sample.value
    return values


def partition_series(text: str) -> dict[tuple[str, tuple], float]:
    """The worker's partition-labelled counter samples, as they are."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name in PARTITIONED_COUNTERS
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def differences(worker: dict, expected: dict, limit: int = 20) -> list[str]:
    lines = []
    for key in sorted(set(worker) | set(expected), key=str):
        if key[0] == "pulse_evaluation_timestamp_seconds":
            continue
        got, want = worker.get(key), expected.get(key)
        if got is None or want is None or abs(got - want) > 1e-9 * max(1.0, abs(want)):
            lines.append(f"{key[0]}{dict(key[1])}: worker={got} replay={want}")
    return lines[:limit]


class WorkerRun:
    """One `pulse worker` process with its own port and store folder."""

    def __init__(
        self,
        bootstrap: str,
        tmp_path: Path,
        *,
        app_id: str,
        prefix: str,
        as_of: str,
        name: str,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
        program: list[str] | None = None,
    ):
        self.port = free_port()
        self.data_dir = tmp_path / f"{name}-data"
        args = [
            *(program or ["-m", "streams.cli"]),
            "worker",
            "--bootstrap",
            bootstrap,
            "--app-id",
            app_id,
            "--topic-prefix",
            prefix,
            "--metrics-port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--frozen-clock",
            as_of,
            *STORE_ARGS,
            *(extra or []),
        ]
        self.args, self.env, self.log = args, env or {}, tmp_path / f"{name}.log"
        self.process = WorkerProcess(args, self.env, self.log)

    def restart(self) -> None:
        self.process = WorkerProcess(self.args, self.env, self.log)

    def scrape(self) -> str | None:
        status, body = http_get(f"http://127.0.0.1:{self.port}/metrics", timeout=20)
        return body.decode() if status == 200 else None

    def metrics(self) -> dict:
        text = self.scrape()
        return parse_exposition(text) if text else {}


def fresh_topics(bootstrap: str, partitions: int = 4) -> str:
    """A unique topic prefix with the project's topics created under it."""
    prefix = unique("t") + "."
    create_topics(
        bootstrap, [prefix + topic for topic in (*SOURCE_TOPICS, DEAD_LETTER_TOPIC)], partitions
    )
    return prefix


def combined_metrics(runs: Iterable[WorkerRun], families: Iterable[str] | None = None) -> dict:
    """The workers' series added up (only `families` when given): what a set of workers
    that share the partitions shows together."""
    keep = None if families is None else frozenset(families)
    total: dict = collections.Counter()
    for run in runs:
        for key, value in run.metrics().items():
            if keep is None or key[0] in keep:
                total[key] += value
    return total


def wait_until_equal(
    actual: Callable[[], dict],
    expected: dict,
    worker: WorkerProcess,
    what: str,
    timeout: float = CATCH_UP_S,
    also: Callable[[], str] | None = None,
) -> None:
    """Poll until `actual()` equals `expected` (`differences`), failing early if `worker`
    dies; on failure, the first differences (and `also()`, e.g. another process's log)."""
    try:
        wait_until(lambda: not differences(actual(), expected), timeout, worker, what)
    except AssertionError as error:
        lines = [str(error), "first differences:", *differences(actual(), expected)]
        raise AssertionError("\n".join([*lines, also()] if also else lines)) from None


def events_applied(run: WorkerRun) -> float:
    """Events the worker has applied (`pulse_events_total`, all partitions)."""
    return sum(value for key, value in run.metrics().items() if key[0] == "pulse_events_total")


def owned_partitions(run: WorkerRun) -> float:
    """Partitions the worker owns now (`pulse_assigned_partitions`; 0 before it answers)."""
    text = run.scrape()
    if not text:
        return 0
    return parse_exposition(text, skip=frozenset()).get(("pulse_assigned_partitions", ()), 0)
