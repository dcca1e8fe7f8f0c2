"""A clean stop of `pulse worker` (SIGTERM) is clean in its log too: exit code 0 and no
ERROR line, no traceback (issue 12, item 10: every SIGTERM used to log the agent as crashed
with RuntimeError('async generator raised StopAsyncIteration'))."""

from __future__ import annotations

import pytest

from tests.integration.helpers import produce, unique, wait_until
from tests.integration.worker_harness import (
    CATCH_UP_S,
    WorkerRun,
    events_applied,
    fresh_topics,
    kafka_messages,
    make_dataset,
)

pytestmark = pytest.mark.kafka


def test_sigterm_stops_cleanly_without_an_error_in_the_log(kafka_bootstrap, tmp_path):
    dataset = make_dataset(tmp_path, seed=31, accounts=5, days=10)
    prefix = fresh_topics(kafka_bootstrap)
    produce(kafka_bootstrap, kafka_messages(dataset, prefix))
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=unique("stop"),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
    )
    try:
        wait_until(
            lambda: events_applied(run) > 0,
            CATCH_UP_S,
            run.process,
            "the worker to apply events",
        )
    finally:
        code = run.process.stop()
    log = run.log.read_text(errors="replace")
    assert code == 0, run.process.log_tail()
    assert "Stopping..." in log, "the worker did not stop through Faust's shutdown"
    errors = [
        line
        for line in log.splitlines()
        if "[ERROR]" in line or "[CRITICAL]" in line or "Traceback" in line
    ]
    assert not errors, "a clean stop logged errors:\n" + "\n".join(errors)
