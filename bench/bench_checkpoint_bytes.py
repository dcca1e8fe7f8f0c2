"""Bytes a checkpoint writes for one busy large account: one row per account vs parts.

    python bench/bench_checkpoint_bytes.py [--users 20000] [--days 30] [--checkpoint-events 10000] [--seed 1]

Feeds one account of `--users` users, each logging in on about half the days (the
account of issue 12, item 11: 600,000 events in 30 days for 20,000 users), in time order,
through the path the worker uses without Kafka (a `WorkerBook` and its checkpoints every
`--checkpoint-events` events, rows committed into a dict standing in for the local store).
At every checkpoint it records:

- before: the size of the account as one row (the format before parts: admission and
  engine bytes of the whole account), which the worker wrote whole at every checkpoint;
- after: the bytes of the changelog records the checkpoint actually writes (the parts that
  changed, streams/worker/state_parts.py), their count and the largest;
- the time the checkpoint took (prune, encode, compare), and the time encoding the one
  row took (what the checkpoint spent on this account before, besides the prune).

It prints one line per simulated day (the day's last checkpoint) and a Markdown table of
the first, middle and last days. A measurement of one run on one machine: nothing here
asserts a threshold.
"""

from __future__ import annotations

import argparse
import platform
import random
import struct
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.contract.rfc3339 import rfc3339_ms  # noqa: E402
from streams.engine import state_codec  # noqa: E402
from streams.engine.timeline import DAY_MS  # noqa: E402
from streams.worker.state import COUNTERS_PREFIX, WorkerBook, partition_of  # noqa: E402
from streams.worker.state_parts import ROW_FORMAT  # noqa: E402
from tests.support.worker_book import Message, Table, worker_book  # noqa: E402

PARTITIONS = 4
ACCOUNT = "big-co"
T0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z


def one_row_bytes(book: WorkerBook, partition: int) -> int:
    """The account's size as one row (ROW_FORMAT | u32 | admission | engine)."""
    state = book._states[partition]  # noqa: SLF001 - a bench looks inside
    admission = state.admission_rows[ACCOUNT].to_bytes()
    engine = state_codec.account_to_bytes(state.engine_rows[ACCOUNT])
    return len(ROW_FORMAT) + struct.calcsize(">I") + len(admission) + len(engine)


def run(args: argparse.Namespace) -> list[dict]:
    rng = random.Random(args.seed)
    now = [T0]
    table = Table()
    book = worker_book(lambda: now[0], partitions=PARTITIONS, table=table)
    key = ACCOUNT.encode()
    partition = partition_of(key, PARTITIONS)
    offset = since = 0
    results: list[dict] = []
    for day in range(args.days):
        logins = sorted(
            (T0 + day * DAY_MS + rng.randrange(DAY_MS), user)
            for user in range(args.users)
            if rng.random() < 0.5
        )
        for at, user in logins:
            offset += 1
            now[0] = at + 60_000
            value = orjson.dumps(
                {
                    "event_id": f"e-{offset}",
                    "type": "login",
                    "occurred_at": rfc3339_ms(at),
                    "account_id": ACCOUNT,
                    "user_id": f"user-{user}",
                }
            )
            book.process(Message("pulse.logins", partition, offset, key, value), is_rekeyed=False)
            since += 1
            if since >= args.checkpoint_events:
                since = 0
                started = time.perf_counter()
                sends = book.checkpoint().get(partition, [])
                seconds = time.perf_counter() - started
                for row_key, row_value in book.take_committed(partition):
                    if row_value is None:
                        table.pop(row_key, None)
                    else:
                        table[row_key] = row_value
                encode_started = time.perf_counter()
                before = one_row_bytes(book, partition)
                before_seconds = time.perf_counter() - encode_started
                written = [
                    s
                    for s in sends
                    if s.topic == "changelog" and not s.key.startswith(COUNTERS_PREFIX)
                ]
                results.append(
                    {
                        "day": day + 1,
                        "events": offset,
                        "before": before,
                        "before_seconds": before_seconds,
                        "after": sum(len(s.value or b"") for s in written),
                        "records": len(written),
                        "largest": max((len(s.value or b"") for s in written), default=0),
                        "seconds": seconds,
                        "stored": sum(
                            len(v) for k, v in table.items() if not k.startswith(COUNTERS_PREFIX)
                        ),
                    }
                )
        if not results or results[-1]["day"] != day + 1:
            continue
        last = results[-1]
        print(
            f"day {last['day']:3d}: {last['events']:>9,} events, one row {last['before']:>12,} B, "
            f"written {last['after']:>10,} B in {last['records']:>6,} records (largest {last['largest']:,} B), "
            f"checkpoint {last['seconds'] * 1000:.0f} ms",
            file=sys.stderr,
        )
    return results


def table_markdown(results: list[dict], args: argparse.Namespace) -> str:
    by_day = {r["day"]: r for r in results}  # the last checkpoint of each day
    days = sorted({1, args.days // 2, args.days} & by_day.keys())
    lines = [
        f"{args.users:,} users, about half of them log in each day, a checkpoint every "
        f"{args.checkpoint_events:,} events ({platform.python_implementation()} {platform.python_version()})",
        "",
        "| day | events so far | before: one row written per checkpoint (B) | after: bytes written per checkpoint |"
        " records written | largest record (B) | encoding the one row (ms) | checkpoint with parts (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for day in days:
        r = by_day[day]
        lines.append(
            f"| {day} | {r['events']:,} | {r['before']:,} | {r['after']:,} | {r['records']:,} | "
            f"{r['largest']:,} | {r['before_seconds'] * 1000:.0f} | {r['seconds'] * 1000:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--checkpoint-events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(table_markdown(run(args), args))


if __name__ == "__main__":
    main()
