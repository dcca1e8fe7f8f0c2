"""A second worker joins while the first is in the middle of a checkpoint (issue 12, item 5):
the checkpoint's remaining sends go out while the rebalance runs, Faust's revocation
commit waits for it (the commit gate), the partitions move, and afterwards the two
workers together equal `pulse replay`: their counters add up to replay's while both run,
and once the second stops cleanly, the first (recovering the second's partitions from
the changelog it wrote) equals replay in every series."""

from __future__ import annotations

import collections

import pytest

from tests.integration.helpers import produce, unique, wait_until
from tests.integration.worker_harness import (
    WorkerRun,
    differences,
    fresh_topics,
    kafka_messages,
    make_dataset,
    parse_exposition,
    replay,
)

pytestmark = pytest.mark.kafka
CATCH_UP_S = 240


def test_a_worker_joining_during_a_checkpoint_leaves_the_two_equal_to_replay(
    kafka_bootstrap, tmp_path
):
    dataset = make_dataset(tmp_path, seed=71, accounts=30, days=40, duplicate_fraction=0.01)
    expected, _ = replay(dataset, tmp_path)
    prefix = fresh_topics(kafka_bootstrap)
    app_id = unique("join")
    trigger, marker = tmp_path / "pause-next-checkpoint", tmp_path / "paused"
    options = dict(app_id=app_id, prefix=prefix, as_of=dataset.as_of)
    first = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        name="a",
        extra=["--checkpoint-seconds", "2"],
        program=["tests/integration/checkpoint_pause.py", str(trigger), str(marker)],
        **options,
    )
    runs = [first]
    try:
        half = len(dataset.messages) // 2
        produce(kafka_bootstrap, kafka_messages(dataset, prefix, stop=half))
        wait_until(
            lambda: sum(v for k, v in first.metrics().items() if k[0] == "pulse_events_total") > 0,
            CATCH_UP_S,
            first.process,
            "the first worker to apply events",
        )
        trigger.write_text("pause")
        wait_until(
            marker.exists, CATCH_UP_S, first.process, "the first worker to be in a checkpoint"
        )
        second = WorkerRun(kafka_bootstrap, tmp_path, name="b", **options)
        runs.append(second)
        wait_until(
            lambda: "rebalance began" in marker.read_text(),
            CATCH_UP_S,
            first.process,
            "the rebalance to begin during the checkpoint",
        )

        def owns(run: WorkerRun) -> float:
            text = run.scrape()
            return (
                parse_exposition(text, skip=frozenset()).get(("pulse_assigned_partitions", ()), 0)
                if text
                else 0
            )

        wait_until(
            lambda: owns(first) > 0 and owns(second) > 0,
            CATCH_UP_S,
            second.process,
            "both workers to own partitions",
        )
        produce(kafka_bootstrap, kafka_messages(dataset, prefix, start=half))

        counters = (
            "pulse_events_total",
            "pulse_events_rejected_total",
            "pulse_events_duplicate_total",
        )

        def combined_counters() -> dict:
            total: dict = collections.Counter()
            for run in runs:
                for key, value in run.metrics().items():
                    if key[0] in counters:
                        total[key] += value
            return total

        want = {key: value for key, value in expected.items() if key[0] in counters}
        try:
            wait_until(
                lambda: not differences(combined_counters(), want),
                CATCH_UP_S,
                first.process,
                "the two workers' counters to add up to the replay's",
            )
        except AssertionError as error:
            raise AssertionError(
                f"{error}\n" + "\n".join(differences(combined_counters(), want))
            ) from None
        assert all(run.process.alive() for run in runs)
        # ratios do not add up across workers (docs/worker.md): stop the second cleanly and
        # let the first recover its partitions from what the second wrote; then compare all
        assert second.process.stop() == 0, second.process.log_tail()
        runs.remove(second)
        try:
            wait_until(
                lambda: not differences(first.metrics(), expected),
                CATCH_UP_S,
                first.process,
                "the first worker, with every partition again, to match the replay",
            )
        except AssertionError as error:
            raise AssertionError(
                f"{error}\n" + "\n".join(differences(first.metrics(), expected))
            ) from None
    finally:
        codes = [run.process.stop() for run in runs]
    assert codes == [0] * len(runs), [run.process.log_tail() for run in runs]
