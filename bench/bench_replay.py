"""Replay throughput, peak memory per user and the speed-up of --jobs (default: ~100k users, 30 days).

    python bench/bench_replay.py [--users 100000] [--days 30] [--seed 1] [--jobs 2] [--rounds 3]
        [--command replay|accounts] [--write-docs]

1. Generates a dataset with `streams.generator` in a child process (so the generator's
   memory is not counted), about `--users` users over `--days` days, as a JSONL file;
   the account count is fitted to the user target.
2. Runs, `--rounds` times, `pulse replay FILE` as a child process and then `pulse replay
   FILE --jobs N`, alternately (a shared machine's speed drifts: each round's speed-up is
   a ratio of two neighbouring runs), each measured by the kernel (`os.wait4`: CPU time of
   every process, peak resident memory of the largest), and checks that every run wrote
   the same bytes.
3. Measures the machine's own ceiling for N jobs: N one-process replays of the same file
   side by side. With no contention each would take as long as one alone; the ceiling is
   N x (alone) / (slowest of them), what no split of the work can beat here (cores that a
   virtual machine shares, memory bandwidth, caches).
4. Prints, side by side: events/s (wall clock and per CPU second), peak RSS and RSS per
   user, each round's speed-up and their median, the ceiling, the machine's load average,
   and the command to reproduce; with --write-docs, writes them under "## Replay: the benchmark's last run" in
   docs/performance.md.

`--command accounts` measures `pulse accounts FILE` (every account's record, as JSON) the
same way, under "## Accounts: the benchmark's last run".

Figures are measurements of one run on one machine: nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shared import generate_dataset, write_performance_section  # noqa: E402


def dataset(users: int, days: int, seed: int, path: Path) -> tuple[int, int]:
    """Write a dataset of about `users` active users; return (accounts, users).

    Account sizes are heavy-tailed, so the account count is estimated from a sample and
    corrected (at most twice) until the user count is within 10 % of the target."""
    accounts = 1000
    found = generate_dataset(accounts, days, seed, path).active_users
    for _ in range(3):
        accounts = max(1, round(accounts * users / max(found, 1)))
        found = generate_dataset(accounts, days, seed, path).active_users
        if abs(found - users) <= users / 10:
            break
    return accounts, found


COMMANDS = {
    "replay": ("Replay", ".prom", "Replay"),
    "accounts": ("Accounts", ".json", "`pulse accounts --jobs N`"),
}
"""The measured subcommand -> (the title of its docs section, its output's suffix, the
hand-written section that quotes it)."""


@dataclass(frozen=True)
class Run:
    jobs: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    output: bytes
    load_average: float


def replay(
    path: Path, jobs: int, scratch: Path, name: str | None = None, command: str = "replay"
) -> Run:
    """`pulse replay` (or `command`) of the file in a child process, measured by the kernel."""
    return finish(start(path, jobs, scratch, name, command))


def start(
    path: Path, jobs: int, scratch: Path, name: str | None = None, command: str = "replay"
) -> tuple[Any, ...]:
    out = scratch / f"out-{name or jobs}{COMMANDS[command][1]}"
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.cli",
            command,
            str(path),
            "--jobs",
            str(jobs),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return process, jobs, out, load_average, started, command


def finish(started_run: tuple[Any, ...]) -> Run:
    process, jobs, out, load_average, started, command = started_run
    _, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(
            f"pulse {command} --jobs {jobs} failed (exit {process.returncode}): run it by hand to see why."
        )
    return Run(
        jobs,
        wall_s,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        out.read_bytes(),
        load_average,
    )


def ceiling(
    path: Path, jobs: int, scratch: Path, command: str = "replay"
) -> tuple[float, float, list[float]]:
    """One run alone, then N side by side: (N x alone / slowest, alone, their walls)."""
    alone = replay(path, 1, scratch, "alone", command).wall_s
    runs = [
        finish(run) for run in [start(path, 1, scratch, f"side-{i}", command) for i in range(jobs)]
    ]
    walls = [run.wall_s for run in runs]
    return jobs * alone / max(walls), alone, walls


def report(
    ones: list[Run],
    manys: list[Run],
    side: tuple[float, float, list[float]],
    lines: int,
    users: int,
    accounts: int,
    days: int,
    command: str,
    subcommand: str = "replay",
) -> str:
    cpu = platform.processor() or platform.machine()
    jobs = manys[0].jobs
    same = "yes" if all(run.output == ones[0].output for run in [*ones, *manys]) else "NO"
    speedups = [one.wall_s / many.wall_s for one, many in zip(ones, manys, strict=True)]
    loads = [run.load_average for run in [*ones, *manys]]
    limit, alone, walls = side
    one, many = min(ones, key=lambda run: run.wall_s), min(manys, key=lambda run: run.wall_s)
    rounds = " / ".join(f"{s:.2f}" for s in speedups)
    title, _, quoted_in = COMMANDS[subcommand]
    what = (
        "decode + validate + dedup + late policy + engine + exposition"
        if subcommand == "replay"
        else "the same path, then every account's record as JSON"
    )
    return f"""## {title}: the benchmark's last run

Written by `bench/bench_replay.py --write-docs` (the "{quoted_in}" section above is written
by hand and quotes it). `pulse {subcommand}` ({what}), on
generated data: {users:,} users in {accounts:,} accounts over {days} days,
{lines:,} events. Python {platform.python_version()}, {cpu}, {os.cpu_count()} cores;
1-minute load average {min(loads):.1f} to {max(loads):.1f} before the runs.
{len(ones)} rounds, each one process then `--jobs {jobs}`; each run is a child process
measured by the kernel (`os.wait4`); the columns show each kind's fastest run.

| figure | one process | --jobs {jobs} |
|---|---|---|
| wall clock | {one.wall_s:.1f} s | {many.wall_s:.1f} s |
| events/s, wall clock | {lines / one.wall_s:,.0f} | {lines / many.wall_s:,.0f} |
| events per CPU second (all processes) | {lines / one.cpu_s:,.0f} | {lines / many.cpu_s:,.0f} |
| peak RSS (largest process) | {one.peak_rss_mb:.0f} MB | {many.peak_rss_mb:.0f} MB |
| peak RSS per user | {one.peak_rss_mb * 2**20 / users:,.0f} bytes | {many.peak_rss_mb * 2**20 / users:,.0f} bytes |
| speed-up (wall clock), each round | 1.00 | {rounds} |
| **speed-up, median of the rounds** | 1.00 | **{statistics.median(speedups):.2f}** |
| this machine's ceiling: {jobs} one-process runs side by side | - | {limit:.2f} ({", ".join(f"{w:.1f}" for w in walls)} s against {alone:.1f} s alone) |
| output identical to one process | - | {same} |

Reproduce: `{command}`
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=3, help="one-process and --jobs runs, alternately"
    )
    parser.add_argument(
        "--command",
        choices=sorted(COMMANDS),
        default="replay",
        help="the subcommand to measure: replay (the metrics) or accounts (the records)",
    )
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    command = f"python bench/bench_replay.py --users {args.users} --days {args.days} --seed {args.seed} --jobs {args.jobs} --rounds {args.rounds}"
    if args.command != "replay":
        command += f" --command {args.command}"
    with tempfile.TemporaryDirectory(prefix="pulse-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        data = scratch / "events.jsonl"
        accounts, users = dataset(args.users, args.days, args.seed, data)
        print(
            f"generated {users:,} users in {accounts:,} accounts ({data.stat().st_size / 2**20:.0f} MB)",
            file=sys.stderr,
        )
        lines = sum(1 for line in data.open("rb") if line.strip())
        ones: list[Run] = []
        manys: list[Run] = []
        for round_number in range(1, args.rounds + 1):
            ones.append(replay(data, 1, scratch, command=args.command))
            manys.append(replay(data, args.jobs, scratch, command=args.command))
            print(
                f"round {round_number}: one process {ones[-1].wall_s:.1f} s, "
                f"--jobs {args.jobs} {manys[-1].wall_s:.1f} s",
                file=sys.stderr,
            )
        side = ceiling(data, args.jobs, scratch, args.command)
    section = report(ones, manys, side, lines, users, accounts, args.days, command, args.command)
    print(section)
    if args.write_docs:
        print(f"written to {write_performance_section(section)}", file=sys.stderr)


if __name__ == "__main__":
    main()
