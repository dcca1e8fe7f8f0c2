"""The worker's memory per user and per remembered event id, without Kafka.

    python bench/bench_worker_memory.py [--accounts 4260] [--days 30] [--seed 1]
        [--checkpoint-events 10000] [--tree PATH ...] [--rounds 1]

1. Generates `pulse generate`'s dataset for these options (in a child process).
2. Feeds every line, in order, through the worker's per-event path in a fresh child
   process: a `WorkerBook` of 4 partitions (tests/support/worker_book.py), each message on
   its event type's topic and its account's partition, the worker's clock at the
   dataset's end, a checkpoint every `--checkpoint-events` events whose committed rows are
   dropped (the local store, RocksDB, is outside what this measures). The worker keeps
   every event id it accepts: it cannot know which will come again.
3. Prints, per run: events, users, remembered ids, peak RSS (the kernel's, of the child),
   RSS per user and the CPU time of the child.

`--tree PATH` (repeatable) runs the child with the code of another checkout instead of
this one, alternately with the others for `--rounds` rounds: a before/after comparison in
one sitting. Figures are measurements of one run on one machine: nothing here asserts a
threshold.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shared import generate_dataset  # noqa: E402

PARTITIONS = 4

# Run with the tree under test first on sys.path (so an older checkout can be measured).
_FEED = """
import re, resource, sys, time
from streams.contract.model import TOPIC_OF_TYPE
from streams.worker.state import partition_of
from tests.support.worker_book import Message, Table, worker_book

path, end_ms, partitions, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
book = worker_book(lambda: end_ms, partitions=partitions, table=Table(), account_records=False)
event_type = re.compile(rb'"type":"([a-z_]+)"')
account = re.compile(rb'"account_id":"([^"]*)"')
offsets = [0] * partitions
events = 0
started = time.process_time()
with open(path, "rb") as lines:
    for line in lines:
        line = line.rstrip(b"\\n")
        key = account.search(line).group(1)
        partition = partition_of(key, partitions)
        offsets[partition] += 1
        topic = TOPIC_OF_TYPE[event_type.search(line).group(1).decode()]
        book.process(Message(topic, partition, offsets[partition], key, line), is_rekeyed=False)
        events += 1
        if events % every == 0:
            book.checkpoint()
            for number in range(partitions):
                book.take_committed(number)
book.checkpoint()
cpu = time.process_time() - started
states = book._states.values()
users = sum(len(engine.users) for state in states for engine in state.engine_rows.values())
ids = sum(len(admission) for state in states for admission in state.admission_rows.values())
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(events, users, ids, peak_kb, cpu)
"""


def feed(tree: Path, path: Path, end_ms: int, every: int) -> dict[str, float]:
    """One child run over the dataset with `tree`'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [sys.executable, "-c", _FEED, str(path), str(end_ms), str(PARTITIONS), str(every)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
    )
    events, users, ids, peak_kb, cpu = result.stdout.split()
    return {
        "events": int(events),
        "users": int(users),
        "ids": int(ids),
        "peak_mb": int(peak_kb) / 1024,
        "cpu_s": float(cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=4260, help="about 20,000 users")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoint-events", type=int, default=10_000)
    parser.add_argument(
        "--tree", type=Path, action="append", help="a checkout to measure (default: this one)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.tree] if args.tree else [ROOT]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "events.jsonl"
        dataset = generate_dataset(args.accounts, args.days, args.seed, path)
        print(
            "| round | tree | events | users | remembered ids | peak RSS (MB) | per user (KB) | CPU (s) |\n"
            "|---:|---|---:|---:|---:|---:|---:|---:|",
            flush=True,
        )
        for round_number in range(1, args.rounds + 1):
            for tree in trees:
                run = feed(tree, path, dataset.end_ms, args.checkpoint_events)
                print(
                    f"| {round_number} | {tree.name} | {run['events']:,} | {run['users']:,} | "
                    f"{run['ids']:,} | {run['peak_mb']:.0f} | "
                    f"{run['peak_mb'] * 1024 / run['users']:.1f} | {run['cpu_s']:.1f} |",
                    flush=True,
                )
    print(
        f"\n{platform.python_implementation()} {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f}. Reproduce: python bench/bench_worker_memory.py "
        f"--accounts {args.accounts} --days {args.days} --seed {args.seed} "
        f"--checkpoint-events {args.checkpoint_events}"
        + "".join(f" --tree {tree}" for tree in (args.tree or []))
        + f" --rounds {args.rounds}"
    )


if __name__ == "__main__":
    main()
