"""One account of 12,000 users through the worker on the real broker: its state is stored
in parts (streams/worker/state_parts.py), so checkpoints are written although the account as
one row would grow without bound, no changelog record grows with the account, and the
worker (live, and after a restart that reads the parts back) equals `pulse replay`.

The sizes are scaled to what the proof needs (it ran with 50,000 users and 20,000 events
a checkpoint before): several checkpoints by event count, a part per user, and a part
limit that a part holding something of every user (an id each, 12 bytes or more) would
pass, while a user, a ticket or an hour of ids stays far below it."""

from __future__ import annotations

import signal
from datetime import UTC, datetime

import orjson
import pytest

from streams.worker.state_parts import account_of
from tests.integration.helpers import produce, read_committed, unique
from tests.integration.worker_harness import (
    Dataset,
    WorkerRun,
    fresh_topics,
    replay,
    wait_until_equal,
)

pytestmark = pytest.mark.kafka
USERS = 12_000
T0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z
CHECKPOINT_EVENTS = 4_000
"""20,000 events (every user on day 1, a third again on day 2 with a feature use): five
checkpoints by count, several while the account grows."""
PART_LIMIT = 64 * 1024
"""No stored part may grow with the account: 12 bytes for each of USERS is 144 KB."""


def _rfc3339(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _dataset(tmp_path) -> Dataset:
    """Every user logs in on day 1; every third user again on day 2 and uses a feature."""
    events = []
    for n in range(USERS):
        at = T0 + (n * 86_400_000) // USERS
        events.append(
            {
                "event_id": f"l1-{n}",
                "type": "login",
                "occurred_at": _rfc3339(at),
                "account_id": "big-co",
                "user_id": f"user-{n}",
            }
        )
    for n in range(0, USERS, 3):
        at = T0 + 86_400_000 + (n * 86_400_000) // USERS
        events.append(
            {
                "event_id": f"l2-{n}",
                "type": "login",
                "occurred_at": _rfc3339(at),
                "account_id": "big-co",
                "user_id": f"user-{n}",
            }
        )
        events.append(
            {
                "event_id": f"f2-{n}",
                "type": "feature_used",
                "occurred_at": _rfc3339(at + 60_000),
                "account_id": "big-co",
                "user_id": f"user-{n}",
                "feature": "export",
            }
        )
    values = [orjson.dumps(event) for event in events]
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(value + b"\n" for value in values))
    messages = [
        _Message(
            "pulse.feature-use" if b'"feature_used"' in value else "pulse.logins", b"big-co", value
        )
        for value in values
    ]
    return Dataset(path, messages, _rfc3339(T0 + 3 * 86_400_000))


class _Message:
    def __init__(self, topic: str, key: bytes, value: bytes) -> None:
        self.topic, self.key, self.value = topic, key, value


def test_an_account_of_many_users_is_checkpointed_in_parts_and_equals_replay(
    kafka_bootstrap, tmp_path
):
    dataset = _dataset(tmp_path)
    expected, _ = replay(dataset, tmp_path)
    prefix = fresh_topics(kafka_bootstrap)
    produce(kafka_bootstrap, ((prefix + m.topic, m.key, m.value) for m in dataset.messages))
    app_id = unique("big")
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=app_id,
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
        # batches smaller than a checkpoint's events, so that every CHECKPOINT_EVENTS events
        # make a checkpoint whatever the fetcher hands over at once (10,000 by default)
        extra=["--batch-size", "1000", "--checkpoint-events", str(CHECKPOINT_EVENTS)],
    )
    try:
        wait_until_equal(run.metrics, expected, run.process, "the worker to match the replay")
        assert run.process.stop(signal.SIGTERM) == 0, run.process.log_tail()
        records = read_committed(
            kafka_bootstrap,
            f"{app_id}-accounts-changelog",
            idle_polls=4,
            partition_fetch_bytes=32 << 20,
            fetch_bytes=64 << 20,
        )
        counters = [r for r in records if r.key.startswith(b"\x00counters/")]
        parts = [r for r in records if account_of(r.key) is not None]
        assert len(counters) >= 3, f"{len(counters)} checkpoints written; several expected"
        assert {account_of(r.key)[0] for r in parts} == {"big-co"}
        assert len({r.key for r in parts}) >= USERS, "one part per user at least"
        biggest = max(len(r.value or b"") for r in parts)
        assert biggest <= PART_LIMIT, f"a part of {biggest} bytes"
        run.restart()  # reads the account back from its parts
        wait_until_equal(
            run.metrics, expected, run.process, "the restarted worker to match the replay"
        )
    finally:
        run.process.stop()
