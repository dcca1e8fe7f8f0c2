"""`pulse worker` across its lifecycle on the real broker: SIGTERM in the middle of a
catch-up, and a rebalance seen from /metrics."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from datetime import datetime

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.worker.datadir import CLEAN_MARKER, worker_data_dir
from streams.worker.state import partition_of
from tests.integration.helpers import produce, unique, wait_until
from tests.integration.worker_harness import (
    CATCH_UP_S,
    WorkerRun,
    events_applied,
    fresh_topics,
    kafka_messages,
    make_dataset,
    owned_partitions,
    partition_series,
    replay,
    wait_until_equal,
)

pytestmark = pytest.mark.kafka
PARTITIONS = 4
SIGTERM_EXIT_S = 30  # issue 12 item 7: a worker told to stop while busy is gone within 30 s


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_sigterm_while_catching_up_exits_in_time_commits_and_a_restart_equals_replay(
    kafka_bootstrap, tmp_path
):
    dataset = make_dataset(
        tmp_path, seed=41, accounts=300, days=40, duplicate_fraction=0.01, late_fraction=0.01
    )
    expected, _ = replay(dataset, tmp_path)
    total = sum(v for k, v in expected.items() if k[0] == "pulse_events_total")
    prefix = fresh_topics(kafka_bootstrap, PARTITIONS)
    produce(kafka_bootstrap, kafka_messages(dataset, prefix))
    app_id = unique("term")
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=app_id,
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
        extra=["--batch-size", "500", "--checkpoint-events", "5000"],
    )
    try:
        wait_until(
            lambda: events_applied(run) > 0,
            CATCH_UP_S,
            run.process,
            "the worker to start applying events",
        )
        busy = events_applied(run)
        assert busy < total, (
            "the worker caught up before it could be stopped: the dataset is too small"
        )
        started = time.monotonic()
        code = run.process.stop(signal.SIGTERM, timeout=SIGTERM_EXIT_S)
        took = time.monotonic() - started
        print(f"SIGTERM after {busy:.0f} of {total:.0f} events applied: exited in {took:.1f} s")
        assert code == 0, (
            f"SIGTERM mid catch-up: exit code {code} after {took:.1f} s\n{run.process.log_tail()}"
        )
        # the worker's own directory under --data-dir (streams/worker/datadir.py)
        assert (worker_data_dir(run.data_dir) / CLEAN_MARKER).exists(), (
            "a SIGTERM stop must count as clean"
        )
        committed = _committed(kafka_bootstrap, app_id, prefix)
        print(f"committed source offsets after the stop: {committed}")
        assert committed >= busy, (
            f"{busy:.0f} events were applied before SIGTERM but only {committed} offsets committed"
        )
        run.restart()
        wait_until_equal(
            run.metrics, expected, run.process, "the restarted worker to match the replay"
        )
    finally:
        run.process.stop()


def _committed(bootstrap: str, group: str, prefix: str) -> int:
    """The sum of the group's committed offsets on the source topics."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def read() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return sum(
            meta.offset
            for tp, meta in offsets.items()
            if tp.topic.startswith(prefix) and meta.offset > 0
        )

    return asyncio.run(read())


class Scraper(threading.Thread):
    """Scrapes workers' /metrics over and over, keeping (when, worker, text)."""

    def __init__(self, runs: dict[str, WorkerRun]) -> None:
        super().__init__(daemon=True)
        self.runs = runs
        self.scrapes: list[tuple[float, str, str]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for name, worker in list(self.runs.items()):
                text = worker.scrape()
                if text:
                    self.scrapes.append((time.monotonic(), name, text))
            time.sleep(0.1)


def _business_of(metrics: dict) -> bool:
    return any(key[0] == "pulse_active_users" for key in metrics)


def _business(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        if f.name == "pulse_active_users"
        for s in f.samples
    }


def test_a_rebalance_shows_no_dip_and_no_counter_going_backwards(kafka_bootstrap, tmp_path):
    dataset = make_dataset(tmp_path, seed=42, accounts=40, days=40)
    expected, _ = replay(dataset, tmp_path)
    as_of = _ms(dataset.as_of)
    active_partitions = {
        partition_of(m.key, PARTITIONS)
        for m in dataset.messages
        if m.kind == "valid"
        and m.type in ("login", "feature_used")
        and _ms(orjson.loads(m.value)["occurred_at"]) > as_of - 30 * 86_400_000
    }
    assert active_partitions == set(range(PARTITIONS)), (
        "every partition needs users active in the last 30 days"
    )
    prefix = fresh_topics(kafka_bootstrap, PARTITIONS)
    produce(kafka_bootstrap, kafka_messages(dataset, prefix))
    app_id = unique("rebal")
    extra = ["--checkpoint-seconds", "1"]
    first = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=app_id,
        prefix=prefix,
        as_of=dataset.as_of,
        name="a",
        extra=extra,
    )
    second = None
    runs = {"a": first}
    scraper = Scraper(runs)
    try:
        wait_until_equal(
            first.metrics, expected, first.process, "the first worker to match the replay"
        )
        scraper.start()
        time.sleep(3)  # every event is checkpointed (1 s) before the second worker joins
        second = WorkerRun(
            kafka_bootstrap,
            tmp_path,
            app_id=app_id,
            prefix=prefix,
            as_of=dataset.as_of,
            name="b",
            extra=extra,
        )
        runs["b"] = second
        wait_until(
            lambda: owned_partitions(first) > 0 and owned_partitions(second) > 0,
            CATCH_UP_S,
            second.process,
            "both workers to own partitions",
        )
        # ratios do not add up over workers; the counters and additive gauges do
        additive = {
            key: value
            for key, value in expected.items()
            if key[0] in ("pulse_events_total", "pulse_active_users")
        }

        def together() -> bool:
            scraped = [w.metrics() for w in (first, second)]
            return all(_business_of(m) for m in scraped) and all(
                abs(sum(m.get(key, 0) for m in scraped) - value) < 1e-9
                for key, value in additive.items()
            )

        wait_until(
            together, CATCH_UP_S, second.process, "the two workers together to match the replay"
        )
        time.sleep(2)
    finally:
        scraper.done.set()
        scraper.join(10)
        for run in (first, second):
            if run is not None:
                run.process.stop()
    assert any(name == "b" for _, name, _ in scraper.scrapes), "the second worker was never scraped"
    # 1. Business samples are there with real values, or not there at all: never a 0 for
    #    users who are active, while a worker recovers or owns nothing yet.
    zeros = [
        (round(when, 1), name, key)
        for when, name, text in scraper.scrapes
        for key, value in _business(text).items()
        if key[1] == (("window", "30d"),) and value == 0
    ]
    assert not zeros, (
        f"a worker showed 0 active users while recovering or owning nothing: {zeros[:5]}"
    )
    # 2. Every counter series (one per partition) only grows, whichever worker serves it.
    highest: dict[tuple[str, tuple], float] = {}
    backwards = []
    for when, name, text in sorted(scraper.scrapes):
        for key, value in partition_series(text).items():
            if value < highest.get(key, 0):
                backwards.append((round(when, 1), name, key, highest[key], value))
            highest[key] = max(highest.get(key, 0), value)
    assert not backwards, f"counters went backwards across the rebalance: {backwards[:5]}"
    assert highest, "no counter was ever scraped"
