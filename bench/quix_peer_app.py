"""The benchmark's peer: a Quix Streams job over the worker's six topics (issue 18, item 1).

Runs in its own environment (bench/bench_worker.py creates `.cache/bench-quix` with PyPI's
`quixstreams` on demand; it is never a dependency of cs-pulse), so this file imports only
quixstreams and the standard library.

What it does per message, to be comparable with the pulse worker's state (not its
metrics): JSON-decode the value (Quix's own deserializer), then update one row per
account (the message key) in Quix's RocksDB state, whose changelog topic Quix keeps,
with `processing_guarantee="exactly-once"`. The row counts the account's events by type,
keeps the latest `occurred_at` and the last event id: a read, a change and a write of the
account's state on every event, as the worker's admission and engine do.

Environment: BENCH_BOOTSTRAP, BENCH_TOPICS (comma-separated), BENCH_GROUP, BENCH_STATE_DIR,
BENCH_TOTAL (stop after this many messages). Prints one JSON line on stdout at the end:
{"count", "first", "last", "cpu_first", "cpu_last", "stopped"} (perf_counter seconds of the
first message, of the message that reached the total, and after the final commit; the
process's CPU seconds, all threads, at the first two).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from quixstreams import Application, State

TOTAL = int(os.environ["BENCH_TOTAL"])
_seen = {"count": 0, "first": 0.0, "last": 0.0, "cpu_first": 0.0, "cpu_last": 0.0}


def make_app() -> tuple[Application, list[Any]]:
    app = Application(
        broker_address=os.environ["BENCH_BOOTSTRAP"],
        consumer_group=os.environ["BENCH_GROUP"],
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        state_dir=os.environ["BENCH_STATE_DIR"],
        use_changelog_topics=True,
        loglevel=logging.WARNING,
        # The worker checkpoints every 10 s; Quix's default is 5 s. Same cadence for both.
        commit_interval=10.0,
    )
    frames = []
    for name in os.environ["BENCH_TOPICS"].split(","):
        topic = app.topic(name, value_deserializer="json", key_deserializer="str")
        frames.append(app.dataframe(topic).update(account_row, stateful=True))
    return app, frames


def account_row(value: dict[str, Any], state: State) -> None:
    """One account's row: read, change, write (JSON in RocksDB, changelogged by Quix)."""
    row = state.get("row") or {"counts": {}, "latest": "", "last_id": ""}
    counts = row["counts"]
    event_type = value.get("type", "?")
    counts[event_type] = counts.get(event_type, 0) + 1
    occurred_at = value.get("occurred_at", "")
    if occurred_at > row["latest"]:
        row["latest"] = occurred_at
    row["last_id"] = value.get("event_id", "")
    state.set("row", row)
    seen = _seen
    seen["count"] += 1
    if seen["count"] == 1:
        seen["first"], seen["cpu_first"] = time.perf_counter(), time.process_time()
    if seen["count"] == TOTAL:
        seen["last"], seen["cpu_last"] = time.perf_counter(), time.process_time()
        APP.stop()


if __name__ == "__main__":
    APP, _frames = make_app()
    APP.run()
    print(json.dumps({**_seen, "stopped": time.perf_counter()}), flush=True)
