"""Soak: a year of generated telemetry through the worker's path, state measured as it goes.

    python bench/bench_soak.py [--accounts 1000] [--days 365] [--seed 1] [--every 30]
                               [--checkpoint-events 20000] [--growing]

1. Generates `--days` days of telemetry for `--accounts` accounts (`streams.generator`:
   users join their accounts over weeks, accounts churn, and their users go quiet, and
   some come back; tickets, billing, surveys) in a child process, as a file of (topic,
   message) lines, so the generator's memory is not counted. By default the customer
   base is steady: every account was acquired in the year before the soak starts, so the
   number of live users stays about flat and flat state means state that does not grow
   with time. `--growing` keeps the generator's own world, a business whose acquisitions
   rise through the soak (state then grows with the live users; bytes per live user
   should stay flat).
2. Feeds every message, in order, through the path the worker uses, without Kafka: a
   `WorkerBook` (the per-event pipeline over the cached rows of every partition) and its
   checkpoints every `--checkpoint-events` events, whose changelog rows go into a dict
   standing in for the table's local store (a tombstone deletes). The checkpoint prunes
   the accounts it writes, as the worker's does.
3. Every `--every` simulated days prints the stored state: its rows (stored parts, and
   how many of them are groups of remembered ids) and their bytes by kind (remembered
   ids; users; tickets; headers, which hold the rest of the engine state, revenue
   included, and the admission stream times), the users active over 30 days (the live
   users), the open tickets, the accounts quiet for 65 days with their parts and bytes
   (nothing of theirs ages out until they have events again: every horizon counts from
   the account's own latest events), and the process's resident memory now (not its peak); then
   the table in Markdown with the spread of each from day 120 on (docs/performance.md,
   "Soak", holds a run with its reading). Live users and open tickets come from a
   scrape's snapshot of the worker's own in-memory rows, so the resident memory is the
   worker's plus the dict of stored rows (as the local store).

Figures are measurements of one run on one machine: nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.engine.timeline import DAY_MS  # noqa: E402
from streams.pulse_config import PulseConfig  # noqa: E402
from streams.worker.scrape import book_families  # noqa: E402
from streams.worker.state import partition_of  # noqa: E402
from streams.worker.state_parts import HASHED_IDS, HEADER, IDS, TICKET, USER, account_of  # noqa: E402
from tests.support.worker_book import Message, Table, worker_book  # noqa: E402

PARTITIONS = 4
QUIET_MS = 65 * DAY_MS
"""An account with no event in this long (the activity horizon plus the longest window)
is counted apart as quiet: every horizon counts from the account's own latest events, so
nothing of a quiet account ages out until it has events again."""
GENERATE = """
import sys
from streams.generator import GeneratorConfig, generate, simulation, world
accounts, days, seed, path, steady = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
if steady:  # every account acquired in the year before the soak's first day (or as much
    # of it as the generator's timeline holds: `span` days before the end)
    simulation.build_accounts = lambda rng, count, end, span: world.build_accounts(
        rng, count, end - days * 86_400_000, min(365, span - days))
    from streams.generator.support import Support
    Support.stale_close_median_ms = 45 * 86_400_000  # the helpdesk closes stale tickets
config = GeneratorConfig(accounts=accounts, days=days, seed=seed)
with open(path, "wb") as out:
    for message in generate(config):
        out.write(message.topic.encode() + b"\\t" + message.value + b"\\n")
print(config.window_start)
"""
_OCCURRED = re.compile(rb'"occurred_at":"([^"]+)"')


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def generate(accounts: int, days: int, seed: int, path: Path, steady: bool) -> int:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            GENERATE,
            str(accounts),
            str(days),
            str(seed),
            str(path),
            "1" if steady else "0",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return int(result.stdout.strip().splitlines()[-1])


def _ms(text: bytes) -> int:
    from streams.cli.replay import parse_time

    return parse_time(text.decode())


class Soak:
    def __init__(self, checkpoint_events: int) -> None:
        self.now = 0
        self.config = PulseConfig()
        self.table = Table()
        self.book = worker_book(
            lambda: self.now, partitions=PARTITIONS, config=self.config, table=self.table
        )
        self.checkpoint_events = checkpoint_events
        self.since_checkpoint = 0
        self.offsets = [0] * PARTITIONS
        self.events = 0

    def feed(self, topic: str, value: bytes, at: int) -> None:
        self.now = max(self.now, at + 60_000)
        key = _account_key(value)
        partition = partition_of(key, PARTITIONS)
        self.offsets[partition] += 1
        self.book.process(
            Message(topic, partition, self.offsets[partition], key, value), is_rekeyed=False
        )
        self.events += 1
        self.since_checkpoint += 1
        if self.since_checkpoint >= self.checkpoint_events:
            self.checkpoint()

    def checkpoint(self) -> None:
        self.since_checkpoint = 0
        for partition, sends in self.book.checkpoint().items():
            for send in sends:
                if send.topic != "changelog":
                    continue
                if send.value is None:
                    self.table.pop(send.key, None)
            for key, value in self.book.take_committed(partition):
                if value is None:
                    self.table.pop(key, None)
                else:
                    self.table[key] = value

    def measure(self) -> dict[str, float]:
        """The stored parts (rows) and their bytes by kind, the live users and open
        tickets (a scrape's snapshot of the worker's rows), the resident memory."""
        kinds = {IDS: "ids", HASHED_IDS: "ids", USER: "users", TICKET: "tickets", HEADER: "header"}
        sizes = dict.fromkeys(kinds.values(), 0)
        quiet = {
            account_id
            for account_id, state in self.book.account_states()
            if state.stream_time < self.now - QUIET_MS
        }
        rows = id_rows = quiet_rows = quiet_bytes = 0
        for key, value in self.table.items():
            located = account_of(key)  # an account's part (streams/worker/state_parts.py)
            if located is None:  # a counters row
                continue
            rows += 1
            kind = kinds[located[1][:1]]
            sizes[kind] += len(value)
            id_rows += kind == "ids"
            if located[0] in quiet:
                quiet_rows += 1
                quiet_bytes += len(value)
        families = {family.name: family for family in book_families(self.book, self.now)}
        live = next(
            sample.value
            for sample in families["pulse_active_users"].samples
            if sample.labels == {"window": "30d"}
        )
        open_tickets = sum(sample.value for sample in families["pulse_tickets_open"].samples)
        gc.collect()
        return {
            "rows": rows,
            "id_rows": id_rows,
            **sizes,
            "state": sum(sizes.values()),
            "quiet_accounts": len(quiet),
            "quiet_rows": quiet_rows,
            "quiet": quiet_bytes,
            "active": sum(sizes.values()) - quiet_bytes,
            "active_rows": rows - quiet_rows,
            "live": live,
            "open_tickets": open_tickets,
            "rss": rss_mib(),
        }


_ACCOUNT = re.compile(rb'"account_id":"([^"]+)"')


def _account_key(value: bytes) -> bytes:
    match = _ACCOUNT.search(value)
    return match.group(1) if match else b""


def run(args: argparse.Namespace) -> list[tuple[int, int, dict[str, float]]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "soak.tsv"
        started = time.monotonic()
        start = generate(args.accounts, args.days, args.seed, path, not args.growing)
        print(
            f"generated {args.days} days for {args.accounts} accounts in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        soak = Soak(args.checkpoint_events)
        table: list[tuple[int, int, dict[str, float]]] = []
        next_day = args.every
        started = time.monotonic()
        with open(path, "rb") as lines:
            for line in lines:
                topic, _, value = line.rstrip(b"\n").partition(b"\t")
                match = _OCCURRED.search(value)
                at = _ms(match.group(1)) if match else soak.now
                while at >= start + next_day * DAY_MS:
                    soak.checkpoint()
                    table.append((next_day, soak.events, soak.measure()))
                    print(row_text(*table[-1]), file=sys.stderr)
                    next_day += args.every
                soak.feed(topic.decode(), value, at)
        soak.checkpoint()
        table.append((args.days, soak.events, soak.measure()))
        print(row_text(*table[-1]), file=sys.stderr)
        print(f"fed {soak.events:,} events in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return table


TABLE_HEADER = (
    "| day | events fed | parts | id parts | state MiB | ids MiB | users MiB | tickets MiB | header MiB | quiet accounts | their parts | their MiB | live users (30d) | open tickets | state bytes per live user | RSS MiB |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def row_text(day: int, events: int, m: dict[str, float]) -> str:
    per_user = f"{m['state'] / m['live']:,.0f}" if m["live"] else "n/a"
    mib = " | ".join(
        f"{m[kind] / 2**20:.2f}" for kind in ("state", "ids", "users", "tickets", "header")
    )
    return (
        f"| {day} | {events:,} | {m['rows']:,} | {m['id_rows']:,} | {mib} | "
        f"{m['quiet_accounts']:,} | {m['quiet_rows']:,} | {m['quiet'] / 2**20:.2f} | {m['live']:,.0f} | "
        f"{m['open_tickets']:,.0f} | {per_user} | {m['rss']:.0f} |"
    )


def flatness(table: list[tuple[int, int, dict[str, float]]], from_day: int = 120) -> str:
    later = [m for day, _, m in table if day >= from_day]
    if len(later) < 2:
        return ""

    def spread(name: str) -> str:
        values = [m[name] for m in later]
        low, high = min(values), max(values)
        return f"{(high - low) / low * 100:.1f} %" if low else "n/a"

    names = (
        ("state bytes", "state"),
        ("parts", "rows"),
        ("RSS", "rss"),
        ("live users", "live"),
        ("ids", "ids"),
        ("id parts", "id_rows"),
        ("users", "users"),
        ("tickets", "tickets"),
        ("header", "header"),
        ("open tickets", "open_tickets"),
        ("state bytes of the accounts not quiet", "active"),
        ("their parts", "active_rows"),
    )
    return (
        f"From day {from_day} on, max/min - 1: "
        + ", ".join(f"{label} {spread(name)}" for label, name in names)
        + "."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--every", type=int, default=30)
    parser.add_argument("--checkpoint-events", type=int, default=20_000)
    parser.add_argument(
        "--growing", action="store_true", help="the generator's growing business, not a steady one"
    )
    args = parser.parse_args()
    table = run(args)
    command = (
        f"python bench/bench_soak.py --accounts {args.accounts} --days {args.days} --seed {args.seed} "
        f"--every {args.every} --checkpoint-events {args.checkpoint_events}{' --growing' if args.growing else ''}"
    )
    lines = [TABLE_HEADER, *(row_text(*row) for row in table)]
    summary = flatness(table)
    text = "\n".join(lines) + "\n\n" + summary + "\n"
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(f"Reproduce: `{command}` ({machine}).\n\n{text}")


if __name__ == "__main__":
    main()
