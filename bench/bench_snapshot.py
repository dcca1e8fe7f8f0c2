"""The CPU time of one engine snapshot (what a scrape or a replay's last step costs).

    .venv/bin/python bench/bench_snapshot.py [--accounts 300] [--days 45] [--seed 5] [--repeat 25]

Generated events go through the replay pipeline into an engine; the snapshot at the end of
the data is then taken `--repeat` times and the fastest CPU time (`time.process_time`, so
other work on a shared machine does not count) is printed, with the number of users and
the activity presence times the engine keeps (`User.seen`). Not asserted anywhere: figures
only (docs/performance.md).
"""

from __future__ import annotations

import argparse
import time

from streams.cli.replay import Pipeline
from streams.engine import activity
from streams.generator import GeneratorConfig, generate
from streams.pulse_config import PulseConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    config = GeneratorConfig(accounts=args.accounts, days=args.days, seed=args.seed)
    messages = list(generate(config))
    pipeline = Pipeline(PulseConfig(), now_ms=lambda: config.end)
    for offset, message in enumerate(messages):
        pipeline.process(message.value, message.topic, 0, offset)
    engine = pipeline.engine
    engine.snapshot(config.end)
    best = float("inf")
    for _ in range(args.repeat):
        start = time.process_time()
        engine.snapshot(config.end)
        best = min(best, time.process_time() - start)
    users = [user for state in engine.store.values() for user in state.users.values()]
    seen = sum(len(activity.seen_of(user)) for user in users)
    print(
        f"events={len(messages)} users={len(users)} snapshot_cpu_best={best * 1000:.1f} ms "
        f"presence_times={seen}"
    )


if __name__ == "__main__":
    main()
