"""History cost: `pulse replay --from --to --step` next to one plain replay of the same events.

    python bench/bench_history.py [--accounts 1000] [--days 90] [--step 1h] [--seed 1] [--write-docs]

1. Generates `--accounts` accounts over `--days` days with `streams.generator` in a child
   process (its memory is not counted), as a JSONL file.
2. One plain replay, as `pulse replay FILE` runs it: decode, admission, engine, prune, one
   snapshot, the text exposition.
3. The history over the same events, as `pulse replay FILE --from --to --step --format
   openmetrics` runs it: a step every `--step` over the last `--days` days (2,160 steps for
   90 days hourly), split into decode and sort, including events (admission and engine),
   snapshots (incremental: streams/engine/incremental.py), and building and writing the
   OpenMetrics text; wall-clock and CPU seconds of the process (the machine may be shared).
4. Prints the figures, the ratio history / plain replay and the command; with
   --write-docs, writes them under "## History" in docs/performance.md.

With --account-series (and --steps N: only the last N steps, as every account's record is
recomputed at each of them), the history also writes the account layer's series, and the
CPU seconds per step of those (`pulse replay --account-series`) are printed; the figure is
written by hand in docs/operations.md ("Backfilling history"), not by --write-docs.

Figures are measurements of one run on one machine: nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shared import generate_dataset, write_performance_section  # noqa: E402
from streams.cli.history import OpenMetricsHistory, decode_inputs, parse_step, stepped_snapshots  # noqa: E402
from streams.cli.replay import ReplaySummary, evaluation_time, ingest  # noqa: E402
from streams.exposition import Exposition, metric_families, render_text  # noqa: E402
from streams.ingest.pipeline import Pipeline  # noqa: E402
from streams.pulse_config import PulseConfig  # noqa: E402


def plain_replay(path: Path, config: PulseConfig) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), time.process_time()
    pipeline = Pipeline(config, clock=None, check_topic=False)
    summary = ReplaySummary()
    with path.open("rb") as lines:
        ingest(pipeline, [(str(path), lines)], summary)
    as_of = evaluation_time(pipeline, None)
    pipeline.engine.prune()
    render_text(pipeline.engine.snapshot(as_of), pipeline.counters, Exposition(ratios=True))
    return time.perf_counter() - started, time.process_time() - cpu, summary.applied


def history(
    path: Path, config: PulseConfig, steps: list[int], out: Path, account_series: bool = False
) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as lines:
        decoded = decode_inputs([(str(path), lines)], config, steps[-1])
    decoding = time.process_time() - cpu
    writer, exposition, families_s = OpenMetricsHistory(), Exposition(ratios=True), 0.0
    replay = None
    for as_of, samples, counters, replay in stepped_snapshots(  # noqa: B007 - the last one is kept
        decoded, config, steps, account_series
    ):
        mark = time.process_time()
        writer.add(as_of, metric_families(samples, counters, exposition))
        families_s += time.process_time() - mark
    mark = time.process_time()
    with out.open("wb") as output:
        writer.write(output)
    families_s += time.process_time() - mark
    assert replay is not None
    return {
        "total": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "decode": decoding,
        "include": replay.include_seconds,
        "snapshots": replay.snapshot_seconds,
        "accounts": replay.account_seconds,
        "openmetrics": families_s,
        "bytes": out.stat().st_size,
        "series_points": writer.point_count,
        "recounted": replay.incremental.recounted,
        "units": len(replay.incremental.shares),
    }


def report(
    plain: tuple[float, float],
    events: int,
    figures: dict[str, float],
    steps: int,
    args: argparse.Namespace,
    command: str,
) -> str:
    plain_wall, plain_cpu = plain
    ratio, cpu_ratio = figures["total"] / plain_wall, figures["cpu"] / plain_cpu
    per_step_ms = figures["snapshots"] / steps * 1000
    per_step_recounts = figures["recounted"] / steps
    return f"""## History

`pulse replay FILE --from A --to B --step {args.step} --format openmetrics` over {args.accounts:,}
generated accounts and {args.days} days ({events:,} events), {steps:,} steps, next to one plain
`pulse replay FILE` of the same file, in one process, one after the other
(Python {platform.python_version()}, {platform.machine()}, a 2-core machine shared with other work, so
the CPU seconds of the process are given next to the wall-clock ones):

| run | seconds | CPU seconds |
|---|---|---|
| one plain replay (decode, admit, engine, one snapshot, text) | {plain_wall:.1f} | {plain_cpu:.1f} |
| history, total | {figures["total"]:.1f} | {figures["cpu"]:.1f} |
| - decode every line once and sort by time | | {figures["decode"]:.1f} |
| - include the events step by step (admission, engine) | | {figures["include"]:.1f} |
| - {steps:,} snapshots ({per_step_ms:.1f} ms of CPU each) | | {figures["snapshots"]:.1f} |
| - OpenMetrics families and writing ({figures["bytes"] / 2**20:.0f} MB, \
{figures["series_points"]:,.0f} points) | | {figures["openmetrics"]:.1f} |

**History / one replay: {ratio:.1f}x wall clock, {cpu_ratio:.1f}x CPU** (the target: at most 3x for
2,160 hourly steps). Peak resident memory of the whole run:
{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB.

Command: `{command}`

How the cost grows: decoding, admission and the engine see each event once, as in one
replay. A snapshot is a sum of shares (each user's activity, login counts, sessions and
adoption, each account's support, surveys, lifecycle and revenue), and a share only
changes when an event of a type its family reads reaches its unit (a logout touches only
the sessions, a login not the adoption) or time crosses one of its window edges (a
login leaving the 1- or 7-day window, a day with activity entering or leaving the 30
local days, a session closing after 30 quiet minutes, an MRR step reaching T - 30d, ...;
each family's `next_change` says when, exactly for sessions: a user's sessions are
walked once per change of the user and kept, so every later step reads them by
bisection). The history keeps every share with the time it stays valid until and
recounts, at each step, only the units touched since the previous step or whose time has
come (streams/engine/incremental.py): here {per_step_recounts:,.0f} recounts per step on
average out of {figures["units"]:,.0f} shares, instead of all of them. Cost ~ events x (1 + the
window edges each crosses) + steps x (families' samples + OpenMetrics lines), not steps x
live users: more steps over the same events add the per-step samples and lines and split
the same recounts over more snapshots; more events add recounts in proportion.
tests/test_incremental.py checks the incremental snapshot against the full one at every
window edge, and tests/test_history.py the steps against separate one-instant replays.
Accounts re-judged because a late line sat earlier in the file than events already
included are counted in `pulse replay`'s summary line; the generated file here has none
(a late line that sits in the file before newer events of its account re-judges that one
account when it is included, and rebuilds its engine state if an event it had admitted
is now too late or a duplicate; tests/test_history.py covers both).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--step", default="1h")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--account-series", action="store_true")
    parser.add_argument("--steps", type=int, default=0, help="only the last N steps (0: all)")
    args = parser.parse_args()
    if args.account_series and args.write_docs:
        parser.error("--account-series figures go in docs/operations.md by hand: drop --write-docs")
    command = f"python bench/bench_history.py --accounts {args.accounts} --days {args.days} --step {args.step} --seed {args.seed}"
    config = PulseConfig()
    step = parse_step(args.step)
    with tempfile.TemporaryDirectory(prefix="pulse-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        data = scratch / "events.jsonl"
        end = generate_dataset(args.accounts, args.days, args.seed, data).end_ms
        first = end - args.days * 86_400_000 + step
        steps = list(range(first, end + 1, step))
        if args.steps:
            steps = steps[-args.steps :]
        plain_wall, plain_cpu, events = plain_replay(data, config)
        plain = (plain_wall, plain_cpu)
        print(f"plain replay: {plain_wall:.1f} s ({plain_cpu:.1f} s CPU)", file=sys.stderr)
        figures = history(data, config, steps, scratch / "history.om", args.account_series)
    if args.account_series:
        command += f" --account-series --steps {len(steps)}"
        print(
            f"account series: {figures['accounts']:.1f} s CPU over {len(steps)} steps, "
            f"{figures['accounts'] / len(steps):.2f} s CPU per step; history total "
            f"{figures['cpu']:.1f} s CPU, one plain replay {plain_cpu:.1f} s CPU; {command}",
            file=sys.stderr,
        )
        return
    section = report(plain, events, figures, len(steps), args, command)
    print(section)
    if args.write_docs:
        print(f"written to {write_performance_section(section)}", file=sys.stderr)


if __name__ == "__main__":
    main()
