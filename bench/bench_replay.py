"""Replay throughput, peak memory per user and the speed-up of --jobs (default: ~100k users, 30 days).

    python bench/bench_replay.py [--users 100000] [--days 30] [--seed 1] [--jobs 2] [--write-docs]

1. Generates a dataset with `streams.generator` in a child process (so the generator's
   memory is not counted), about `--users` users over `--days` days, as a JSONL file;
   the account count is fitted to the user target.
2. Runs `pulse replay FILE` as a child process, then `pulse replay FILE --jobs N`, each
   measured by the kernel (`os.wait4`: CPU time, peak resident memory of the largest
   process), and checks that both wrote the same bytes.
3. Prints, side by side: events/s (wall clock and per CPU second of the one-process run),
   peak RSS and RSS per user, the --jobs run's time and its speed-up, the machine's load
   average, and the command to reproduce; with --write-docs, writes them under "## Replay"
   in docs/performance.md.

Figures are measurements of one run on one machine: nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Run:
    jobs: int
    lines: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    output: bytes
    load_average: float


def replay(path: Path, jobs: int, scratch: Path) -> Run:
    """`pulse replay` of the file in a child process, measured by the kernel."""
    out = scratch / f"out-{jobs}.prom"
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "replay",
            str(path),
            "--jobs",
            str(jobs),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall_s = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"pulse replay --jobs {jobs} failed:\n{stderr}")
    lines = int(re.findall(r"replay: (\d+) lines, \d+ applied", stderr)[-1])
    return Run(
        jobs,
        lines,
        wall_s,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        out.read_bytes(),
        load_average,
    )


def report(one: Run, many: Run, users: int, accounts: int, days: int, command: str) -> str:
    cpu = platform.processor() or platform.machine()
    same = "yes" if one.output == many.output else "NO"
    return f"""## Replay

`pulse replay` (decode + validate + dedup + late policy + engine + exposition), on
generated data: {users:,} users in {accounts:,} accounts over {days} days,
{one.lines:,} events. Python {platform.python_version()}, {cpu}, {os.cpu_count()} cores;
1-minute load average {one.load_average:.1f} before the one-process run and
{many.load_average:.1f} before the --jobs run (above the core count, other work shared the
machine: wall-clock rates are lower bounds, the CPU-time rate is the steadier figure).
Each run is a child process measured by the kernel (`os.wait4`).

| figure | one process | --jobs {many.jobs} |
|---|---|---|
| wall clock | {one.wall_s:.1f} s | {many.wall_s:.1f} s |
| events/s, wall clock | {one.lines / one.wall_s:,.0f} | {many.lines / many.wall_s:,.0f} |
| events per CPU second (all processes) | {one.lines / one.cpu_s:,.0f} | {many.lines / many.cpu_s:,.0f} |
| peak RSS (largest process) | {one.peak_rss_mb:.0f} MB | {many.peak_rss_mb:.0f} MB |
| peak RSS per user | {one.peak_rss_mb * 2**20 / users:,.0f} bytes | {many.peak_rss_mb * 2**20 / users:,.0f} bytes |
| speed-up (wall clock) | 1.00 | {one.wall_s / many.wall_s:.2f} |
| output identical to one process | - | {same} |

Reproduce: `{command}`
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    command = f"python bench/bench_replay.py --users {args.users} --days {args.days} --seed {args.seed} --jobs {args.jobs}"
    with tempfile.TemporaryDirectory(prefix="pulse-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        data = scratch / "events.jsonl"
        accounts, users = dataset(args.users, args.days, args.seed, data)
        print(
            f"generated {users:,} users in {accounts:,} accounts ({data.stat().st_size / 2**20:.0f} MB)",
            file=sys.stderr,
        )
        one = replay(data, 1, scratch)
        many = replay(data, args.jobs, scratch)
    section = report(one, many, users, accounts, args.days, command)
    print(section)
    if args.write_docs:
        print(f"written to {write_performance_section(section)}", file=sys.stderr)


if __name__ == "__main__":
    main()
