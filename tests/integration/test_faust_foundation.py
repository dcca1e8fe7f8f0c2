"""Foundation: a Faust agent on the real broker keeps a changelogged RocksDB table, and a
new worker with an empty local store rebuilds the same table from its changelog."""

from __future__ import annotations

import random

import orjson
import pytest

from tests.integration.helpers import (
    WorkerProcess,
    create_topics,
    free_port,
    http_get,
    produce,
    unique,
    wait_until,
)

pytestmark = pytest.mark.kafka

EVENTS = 2_000
ACCOUNTS = 37


def _events(
    topic: str, seed: int = 5
) -> tuple[list[tuple[str, bytes, bytes]], dict[str, list[int]]]:
    rng = random.Random(seed)
    messages, expected = [], {}
    for number in range(EVENTS):
        account = f"acct-{rng.randrange(ACCOUNTS)}"
        cents = rng.randrange(0, 100_000)
        messages.append(
            (
                topic,
                account.encode(),
                orjson.dumps({"account_id": account, "amount_cents": cents, "n": number}),
            )
        )
        count, total = expected.get(account, [0, 0])
        expected[account] = [count + 1, total + cents]
    return messages, expected


def _start(bootstrap: str, app_id: str, topic: str, datadir, log) -> tuple[WorkerProcess, int]:
    port = free_port()
    env = {
        "COUNTER_BOOTSTRAP": bootstrap,
        "COUNTER_APP_ID": app_id,
        "COUNTER_TOPIC": topic,
        "COUNTER_DATADIR": str(datadir),
        "COUNTER_WEB_PORT": str(port),
    }
    return WorkerProcess(
        ["-m", "tests.integration.counter_app", "worker", "-l", "info"], env, log
    ), port


def _read(port: int) -> dict:
    status, body = http_get(f"http://127.0.0.1:{port}/totals")
    return orjson.loads(body) if status == 200 else {}


def _totals(port: int) -> dict | None:
    return _read(port).get("totals")


def test_table_is_built_then_rebuilt_from_its_changelog(kafka_bootstrap, tmp_path):
    topic, app_id = unique("foundation-events"), unique("foundation-app")
    create_topics(kafka_bootstrap, [topic])
    messages, expected = _events(topic)
    assert produce(kafka_bootstrap, messages) == EVENTS

    # (a) the agent consumes every event once and the table holds the exact totals
    first, port = _start(
        kafka_bootstrap, app_id, topic, tmp_path / "store-1", tmp_path / "worker-1.log"
    )
    try:
        wait_until(lambda: _totals(port) == expected, 120, first, "the table to hold every event")
        assert _read(port)["applied_here"] == EVENTS
    finally:
        assert first.stop() == 0, first.log_tail()
    assert any((tmp_path / "store-1").rglob("*.sst")) or any(
        (tmp_path / "store-1").rglob("CURRENT")
    ), "the table was not kept in a RocksDB store"

    # (b) a new worker with an empty store recovers the same values from the changelog,
    #     and the committed offsets keep it from applying any event a second time
    second, port = _start(
        kafka_bootstrap, app_id, topic, tmp_path / "store-2", tmp_path / "worker-2.log"
    )
    try:
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{port}/ready")[0] == 200, 120, second, "recovery"
        )
        wait_until(lambda: _totals(port) == expected, 60, second, "the rebuilt table")
        assert _read(port)["applied_here"] == 0, (
            "the new worker re-applied events instead of recovering"
        )
        assert "Restoring state from changelog topics" in second.log_tail(10_000)
    finally:
        assert second.stop() == 0, second.log_tail()
