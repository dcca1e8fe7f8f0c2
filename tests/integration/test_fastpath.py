"""streams.worker.faust.fastpath on the real broker: a decode-only Faust agent with the fast drain
loop installed consumes every message of its topics exactly once, and messages do go
through the fast path (no wait_first)."""

from __future__ import annotations

import time

import orjson
import pytest

from streams.worker.faust import fastpath as faust_fastpath
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

EVENTS = 20_000


def test_install_is_idempotent_and_reversible():
    from faust.transport.consumer import Consumer

    was_installed = faust_fastpath.installed()
    original = Consumer._drain_messages
    try:
        faust_fastpath.install()
        patched = Consumer._drain_messages
        faust_fastpath.install()
        assert Consumer._drain_messages is patched and faust_fastpath.installed()
    finally:
        if not was_installed:
            faust_fastpath.uninstall()
            assert Consumer._drain_messages is original


def test_fast_drain_consumes_every_message_exactly_once(kafka_bootstrap, tmp_path):
    topics = [unique("fastpath-a"), unique("fastpath-b")]
    create_topics(kafka_bootstrap, topics)
    messages = [
        (
            topics[n % 2],
            f"acct-{n % 97}".encode(),
            orjson.dumps({"n": n, "account_id": f"acct-{n % 97}"}),
        )
        for n in range(EVENTS)
    ]
    assert produce(kafka_bootstrap, messages) == EVENTS

    port = free_port()
    env = {
        "BENCH_BOOTSTRAP": kafka_bootstrap,
        "BENCH_APP_ID": unique("fastpath-app"),
        "BENCH_TOPICS": ",".join(topics),
        "BENCH_WEB_PORT": str(port),
        "BENCH_FAST_DRAIN": "1",
    }
    app = WorkerProcess(
        ["bench/faust_decode_app.py", "worker", "-l", "info"], env, tmp_path / "app.log"
    )

    def read() -> dict:
        status, body = http_get(f"http://127.0.0.1:{port}/count")
        return orjson.loads(body) if status == 200 else {"count": 0}

    try:
        wait_until(
            lambda: read()["count"] >= EVENTS, 60, app, f"the agent to decode {EVENTS} messages"
        )
        time.sleep(2)  # anything delivered twice would show up now
        body = read()
        assert body["fast_drain"] is True
        assert body["count"] == EVENTS
        drain = body["drain"]
        assert drain["direct"] + drain["waited"] == EVENTS, drain
        assert drain["direct"] > 0, f"the fast path was never taken: {drain}"
    finally:
        assert app.stop() == 0, app.log_tail()
