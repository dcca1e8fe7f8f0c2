"""Stock Faust vs Faust with streams.worker.faust.fastpath, decode-only agent, side by side in one run.

    .venv/bin/python bench/bench_fastpath.py [--events 300000] [--rounds 2] [--port 19392]

Starts the project's local broker on --port (`pulse dev kafka up`) and stops it at the end
(`pulse dev kafka down`; --keep-broker leaves it up), produces one backlog of generated
events (bench_worker.backlog: `pulse generate`'s Python API) to the six source topics,
then runs bench/faust_decode_app.py over the whole backlog, alternating stock and
BENCH_FAST_DRAIN=1, each run with a fresh consumer group. For each run: events/s from the
first decoded event to the last (wall clock), and events per CPU second of the Faust
process (less sensitive to other load on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_worker import backlog, log, produce_all  # noqa: E402
from bench.shared import cpu_seconds  # noqa: E402
from streams.contract.model import SOURCE_TOPICS  # noqa: E402
from tests.integration.helpers import WorkerProcess, create_topics, free_port, http_get, unique  # noqa: E402

PULSE = str(REPO / ".venv" / "bin" / "pulse")


def decode_run(
    bootstrap: str, topics: list[str], total: int, fast: bool, log_path: Path, timeout: float = 900
) -> dict:
    port = free_port()
    env = {
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_APP_ID": unique("bench-fastpath"),
        "BENCH_TOPICS": ",".join(topics),
        "BENCH_WEB_PORT": str(port),
        "BENCH_FAST_DRAIN": "1" if fast else "0",
    }
    process = WorkerProcess(["bench/faust_decode_app.py", "worker", "-l", "warn"], env, log_path)
    what = "fast path" if fast else "stock"

    def read() -> dict:
        status, body = http_get(f"http://127.0.0.1:{port}/count")
        return orjson.loads(body) if status == 200 else {"count": 0}

    try:
        first = None
        deadline = time.monotonic() + timeout
        last_log = time.monotonic()
        while time.monotonic() < deadline:
            if not process.alive():
                raise SystemExit(f"{what} exited:\n{process.log_tail()}")
            body = read()
            count, now, cpu = body["count"], time.perf_counter(), cpu_seconds(process.process.pid)
            if count and first is None:
                first = (now, count, cpu)
            if count >= total:
                assert body.get("fast_drain", False) == fast, body
                return {
                    "fast": fast,
                    "rate": (count - first[1]) / (now - first[0]),
                    "per_cpu": (count - first[1]) / max(cpu - first[2], 1e-9),
                    "count": count,
                    "drain": body.get("drain"),
                }
            if time.monotonic() - last_log > 10:
                log(f"{what}: {count:,}/{total:,}")
                last_log = time.monotonic()
            time.sleep(0.25)
        raise SystemExit(f"{what} did not finish in {timeout:.0f} s:\n{process.log_tail()}")
    finally:
        process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant, alternating")
    parser.add_argument(
        "--port", type=int, default=19392, help="local broker port (never 19092: shared)"
    )
    parser.add_argument(
        "--keep-broker", action="store_true", help="leave the broker running at the end"
    )
    args = parser.parse_args()
    if args.port == 19092:
        raise SystemExit("port 19092 is the test suite's broker; pick another --port")

    subprocess.run([PULSE, "dev", "kafka", "up", "--port", str(args.port)], check=True, cwd=REPO)
    bootstrap = f"127.0.0.1:{args.port}"
    tmp = REPO / ".cache" / "bench" / unique("fastpath")
    tmp.mkdir(parents=True)
    try:
        log(f"generating {args.events:,} events")
        messages = backlog(args.events)
        prefix = unique("fastpath") + "."
        topics = [prefix + t for t in SOURCE_TOPICS]
        create_topics(bootstrap, topics)
        seconds = asyncio.run(produce_all(bootstrap, prefix, messages))
        log(f"produced {len(messages):,} in {seconds:.1f} s")

        results = []
        for number in range(args.rounds * 2):
            fast = number % 2 == 1
            result = decode_run(bootstrap, topics, len(messages), fast, tmp / f"run-{number}.log")
            log(
                f"run {number + 1}: {'fast path' if fast else 'stock'}: {result['rate']:,.0f} events/s, "
                f"{result['per_cpu']:,.0f} events/CPU-s, drain={result['drain']}"
            )
            results.append(result)
    finally:
        if not args.keep_broker:
            subprocess.run([PULSE, "dev", "kafka", "down", "--port", str(args.port)], cwd=REPO)

    stock = [r for r in results if not r["fast"]]
    fast = [r for r in results if r["fast"]]
    med = {
        key: (statistics.median(r[key] for r in stock), statistics.median(r[key] for r in fast))
        for key in ("rate", "per_cpu")
    }
    print(
        f"| variant (decode-only agent, {len(messages):,} events, 6 topics x 4 partitions) "
        "| events/s per run | median events/s | median events per CPU-s |"
    )
    print("|---|---|---|---|")
    for name, runs, column in (
        ("stock Faust 0.15.3", stock, 0),
        ("with faust_fastpath.install()", fast, 1),
    ):
        per_run = ", ".join(f"{r['rate']:,.0f}" for r in runs)
        print(
            f"| {name} | {per_run} | {med['rate'][column]:,.0f} | {med['per_cpu'][column]:,.0f} |"
        )
    print(
        f"| ratio fast / stock | | {med['rate'][1] / med['rate'][0]:.2f} | {med['per_cpu'][1] / med['per_cpu'][0]:.2f} |"
    )
    for r in fast:
        print(f"fast-path run: drain paths {r['drain']}")
    print(
        f"\nreproduce: .venv/bin/python bench/bench_fastpath.py --events {args.events} --rounds {args.rounds} "
        f"--port {args.port}"
    )


if __name__ == "__main__":
    os.chdir(REPO)
    main()
