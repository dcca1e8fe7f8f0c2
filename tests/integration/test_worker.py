"""`pulse worker` on the real broker agrees with `pulse replay` on the same events: after a
clean run, after a kill -9 mid-stream, with two workers of which one dies, and on a hostile
stream whose rejects must land in the dead-letter topic exactly once each."""

from __future__ import annotations

import collections
import hashlib
import signal

import orjson
import pytest

from tests.integration.helpers import produce, read_committed, unique, wait_until
from tests.integration.worker_harness import (
    CATCH_UP_S,
    WorkerRun,
    events_applied,
    fresh_topics,
    kafka_messages,
    make_dataset,
    owned_partitions,
    replay,
    wait_until_equal,
)
from tests.test_exposition import promtool_check_metrics

pytestmark = pytest.mark.kafka


def test_worker_equals_replay(kafka_bootstrap, tmp_path):
    dataset = make_dataset(
        tmp_path, seed=21, duplicate_fraction=0.02, late_fraction=0.01, malformed_fraction=0.01
    )
    expected, _ = replay(dataset, tmp_path)
    prefix = fresh_topics(kafka_bootstrap)
    produce(kafka_bootstrap, kafka_messages(dataset, prefix))
    run = WorkerRun(
        kafka_bootstrap, tmp_path, app_id=unique("eq"), prefix=prefix, as_of=dataset.as_of, name="w"
    )
    try:
        wait_until_equal(run.metrics, expected, run.process, "the worker to match the replay")
        scraped = run.scrape()
        assert promtool_check_metrics(scraped.encode()) == ""
        for family in (
            "pulse_build_info",
            "pulse_reporting_currency_info",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
        ):
            assert f"\n{family}" in scraped, f"/metrics has no {family}"
        assert (
            "_ratio" not in scraped
            and "pulse_nps_score" not in scraped
            and "pulse_arpa" not in scraped
        )
    finally:
        assert run.process.stop() == 0, run.process.log_tail()


def test_worker_equals_replay_with_the_activity_knobs(kafka_bootstrap, tmp_path):
    """Calendar days in another time zone and a core-feature list reach the worker's engine
    as they reach replay's: the averaged stickiness parts and the logged-in-but-idle users
    agree (and differ from the defaults, so the knobs were read)."""
    dataset = make_dataset(tmp_path, seed=23, accounts=12)
    config = tmp_path / "pulse.toml"
    config.write_text(
        '[engine]\ntime_zone = "Asia/Kathmandu"\ncore_features = ["integrations", "automations"]\n'
    )
    expected, _ = replay(dataset, tmp_path, ["--config", str(config)])
    defaults, _ = replay(dataset, tmp_path)
    idle = ("pulse_login_only_users", (("window", "30d"),))
    assert expected[idle] > defaults[idle]
    assert ("pulse_daily_active_users_sum_users", (("window", "30d"),)) in expected
    prefix = fresh_topics(kafka_bootstrap)
    produce(kafka_bootstrap, kafka_messages(dataset, prefix))
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=unique("knobs"),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
        extra=["--config", str(config)],
    )
    try:
        wait_until_equal(
            run.metrics,
            expected,
            run.process,
            "the worker to match the replay under the [engine] knobs",
        )
    finally:
        assert run.process.stop() == 0, run.process.log_tail()


def test_kill_9_mid_stream_loses_nothing_and_counts_nothing_twice(kafka_bootstrap, tmp_path):
    dataset = make_dataset(tmp_path, seed=22, duplicate_fraction=0.02, late_fraction=0.01)
    expected, _ = replay(dataset, tmp_path)
    prefix = fresh_topics(kafka_bootstrap)
    half = len(dataset.messages) // 2
    produce(kafka_bootstrap, kafka_messages(dataset, prefix, stop=half))
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=unique("crash"),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
        extra=["--batch-size", "50", "--checkpoint-events", "200"],
    )
    try:
        wait_until(
            lambda: events_applied(run) > 0,
            CATCH_UP_S,
            run.process,
            "the worker to apply events",
        )
        produce(kafka_bootstrap, kafka_messages(dataset, prefix, start=half))
        run.process.stop(signal.SIGKILL)
        run.restart()
        wait_until_equal(
            run.metrics, expected, run.process, "the restarted worker to match the replay"
        )
    finally:
        run.process.stop()


def test_two_workers_one_killed_survivor_takes_over(kafka_bootstrap, tmp_path):
    dataset = make_dataset(tmp_path, seed=23, duplicate_fraction=0.01)
    expected, _ = replay(dataset, tmp_path)
    prefix = fresh_topics(kafka_bootstrap)
    app_id = unique("scale")
    first = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=app_id,
        prefix=prefix,
        as_of=dataset.as_of,
        name="a",
        extra=["--batch-size", "50", "--checkpoint-events", "200"],
    )
    second = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=app_id,
        prefix=prefix,
        as_of=dataset.as_of,
        name="b",
        extra=["--batch-size", "50", "--checkpoint-events", "200"],
    )
    try:
        wait_until(
            lambda: owned_partitions(first) > 0 and owned_partitions(second) > 0,
            CATCH_UP_S,
            first.process,
            "both workers to own partitions",
        )
        half = len(dataset.messages) // 2
        produce(kafka_bootstrap, kafka_messages(dataset, prefix, stop=half))
        wait_until(
            lambda: events_applied(second) > 0,
            CATCH_UP_S,
            second.process,
            "the second worker to apply events",
        )
        produce(kafka_bootstrap, kafka_messages(dataset, prefix, start=half))
        second.process.stop(signal.SIGKILL)
        wait_until_equal(first.metrics, expected, first.process, "the survivor to match the replay")
    finally:
        first.process.stop()
        second.process.stop()


def test_hostile_stream_keeps_worker_up_and_dead_letters_exactly_the_rejects(
    kafka_bootstrap, tmp_path
):
    dataset = make_dataset(
        tmp_path,
        seed=24,
        accounts=15,
        duplicate_fraction=0.05,
        late_fraction=0.05,
        malformed_fraction=0.05,
    )
    # future events: stamped an hour after the evaluation time. The worker's frozen clock
    # keeps the live rule and dead-letters them as future_timestamp; the replay of the file
    # counts them as after --as-of (a log holds the future of every earlier instant). Each
    # goes to its own type's topic (the first messages mix billing and lifecycle events).
    future = [
        (
            m.topic,
            m.key,
            orjson.dumps(
                {
                    **orjson.loads(m.value),
                    "event_id": f"future-{i}",
                    "occurred_at": "2026-03-01T01:00:00Z",
                }
            ),
        )
        for i, m in enumerate(dataset.messages[:200])
        if m.kind == "valid"
    ][:20]
    garbage = [b"\xff\xfe not json", b"[1, 2, 3]", b"{" * 5000, b'{"type": "login", "score": NaN}']
    extra = future + [
        (dataset.messages[0].topic, dataset.messages[0].key, value) for value in garbage
    ]
    with open(dataset.path, "ab") as file:
        file.write(b"".join(value.replace(b"\n", b" ") + b"\n" for _, _, value in extra))
    expected, dead_file = replay(dataset, tmp_path)
    assert ("pulse_events_rejected_total", (("reason", "future_timestamp"),)) not in expected
    expected[("pulse_events_rejected_total", (("reason", "future_timestamp"),))] = len(future)
    prefix = fresh_topics(kafka_bootstrap)
    produce(
        kafka_bootstrap,
        [*kafka_messages(dataset, prefix), *((prefix + t, k, v) for t, k, v in extra)],
    )
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=unique("bad"),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
    )
    try:
        wait_until_equal(run.metrics, expected, run.process, "the worker to match the replay")
        replayed = [orjson.loads(line) for line in dead_file.read_bytes().splitlines()]
        assert replayed, "the replay rejected nothing: the hostile stream is not hostile"
        dead_letters, wanted = prefix + "pulse.dead-letter", len(replayed) + len(future)
        wait_until(
            lambda: len(read_committed(kafka_bootstrap, dead_letters, 2)) >= wanted,
            CATCH_UP_S,
            run.process,
            "every dead letter to be committed",
        )
        records = [orjson.loads(m.value) for m in read_committed(kafka_bootstrap, dead_letters)]
        assert run.process.alive(), run.process.log_tail()
    finally:
        assert run.process.stop() == 0, run.process.log_tail()
    got = collections.Counter((r["reason"], r["raw_sha256"]) for r in records)
    want = collections.Counter((r["reason"], r["raw_sha256"]) for r in replayed)
    want.update(("future_timestamp", hashlib.sha256(value).hexdigest()) for _, _, value in future)
    assert got == want, (
        f"dead letters differ: only in Kafka {got - want}, only in replay {want - got}"
    )
    assert all(r["topic"].startswith(prefix) for r in records)
