"""Two workers given one --data-dir on one host (what compose's shared /data volume did to
replicas, issue 12 item 4): the second refuses in one sentence and touches nothing; the
first keeps its store and goes on, equal to replay."""

from __future__ import annotations

import pytest

from streams.worker.datadir import worker_data_dir
from tests.integration.helpers import WorkerProcess, produce, unique, wait_until
from tests.integration.worker_harness import (
    CATCH_UP_S,
    WorkerRun,
    events_applied,
    fresh_topics,
    kafka_messages,
    make_dataset,
    replay,
    wait_until_equal,
)

pytestmark = pytest.mark.kafka


def test_a_second_worker_refuses_a_data_directory_a_live_worker_holds(kafka_bootstrap, tmp_path):
    dataset = make_dataset(tmp_path, seed=61, accounts=10, days=15)
    expected, _ = replay(dataset, tmp_path)
    prefix = fresh_topics(kafka_bootstrap)
    half = len(dataset.messages) // 2
    produce(kafka_bootstrap, kafka_messages(dataset, prefix, stop=half))
    app_id = unique("dir")
    first = WorkerRun(
        kafka_bootstrap, tmp_path, app_id=app_id, prefix=prefix, as_of=dataset.as_of, name="a"
    )
    try:
        wait_until(
            lambda: events_applied(first) > 0,
            CATCH_UP_S,
            first.process,
            "the first worker to apply events",
        )
        store = worker_data_dir(first.data_dir)
        wait_until(
            lambda: any(path.is_file() for path in store.rglob("*") if path.name != ".lock"),
            CATCH_UP_S,
            first.process,
            "the first worker's store to have files",
        )
        kept = [path for path in store.iterdir() if path.name != ".lock"]
        (store / "sentinel").write_text("the first worker's")
        args = list(first.args)
        args[args.index("--metrics-port") + 1] = "0"
        second = WorkerProcess(args, {}, tmp_path / "b.log")
        code = second.process.wait(120)
        log = (tmp_path / "b.log").read_text(errors="replace")
        assert code != 0, log
        assert (
            f"the data directory {store} is in use by the worker with pid {first.process.process.pid}"
            in log
        ), log
        assert "Traceback" not in log, log
        assert (store / "sentinel").exists() and all(path.exists() for path in kept), (
            "the refused worker deleted files"
        )
        produce(kafka_bootstrap, kafka_messages(dataset, prefix, start=half))
        wait_until_equal(
            first.metrics, expected, first.process, "the first worker to match the replay"
        )
    finally:
        assert first.process.stop() == 0, first.process.log_tail()
