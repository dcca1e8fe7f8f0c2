"""The account layer while the worker consumes: API latency and what reading it costs throughput.

    .venv/bin/python bench/bench_accounts.py [--accounts 10000] [--days 7] [--bootstrap 127.0.0.1:19092] [--write]

One backlog of generated events (`--accounts` accounts over `--days` days) is produced once;
workers then consume it from the start, one after the other, each under its own app id, in
the same sitting (`--rounds` repeats the three, alternating their order):
(o) "off": `--no-account-records`, the account layer off (no record, no health, no
    account metrics); /metrics is polled every 2 s to follow progress;
(a) "not read": the account layer on; only /metrics is polled every 2 s (a scrape
    computes the account aggregates and the watchlist);
(b) "read": the same, while a client asks the account API without pause: alternately
    `GET /accounts/{id}` (a random account of the backlog) and
    `GET /accounts?band=red&sort=-mrr&limit=50` (the portfolio over every account).
Throughput is events/s from the first progress to the end of the backlog, wall clock and per
CPU second of the worker process (user + system, every thread, from /proc: the steadier
figure on a shared machine); the 1-minute load average is sampled at every poll. Latencies are
wall-clock per request, p50 and p99, over the requests made while (b) consumed, and again
over a burst after it caught up (all accounts loaded); only answered requests (200, and
404 for an account not consumed yet) count in the latencies, the other statuses are
listed. Not asserted anywhere: figures only.
The cost of the account state per event (journeys, CRM facts) is part of the engine and of
both runs; docs/performance.md reports it under the account layer's replay cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_worker import _scrape, _sum, produce_all  # noqa: E402
from bench.shared import worker_args, write_performance_section  # noqa: E402
from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS  # noqa: E402
from streams.devtools.localkafka import LocalKafka  # noqa: E402
from streams.generator import GeneratorConfig, generate  # noqa: E402
from tests.integration.helpers import WorkerProcess, create_topics, free_port, unique  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
PORTFOLIO = "/accounts?band=red&sort=-mrr&limit=50"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ask(port: int, path: str) -> tuple[int, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    except OSError:
        status = 0
    return status, time.perf_counter() - start


class Client(threading.Thread):
    """Asks the account API without pause until stopped; keeps (path kind, status, seconds)."""

    def __init__(self, port: int, accounts: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.accounts = port, accounts
        self.results: list[tuple[str, int, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        rng = random.Random(1)
        while not self.stopped.is_set():
            status, seconds = ask(self.port, f"/accounts/{rng.choice(self.accounts)}")
            self.results.append(("account", status, seconds))
            status, seconds = ask(self.port, PORTFOLIO)
            self.results.append(("portfolio", status, seconds))


def start_worker(
    bootstrap: str, prefix: str, tmp: Path, name: str, extra: tuple[str, ...] = ()
) -> tuple[WorkerProcess, int]:
    port = free_port()
    name = unique(name)
    args = worker_args(bootstrap, prefix, f"bench-{name}", port, tmp / f"{name}-data", *extra)
    return WorkerProcess(args, {"PULSE_WEB_TOKEN": TOKEN}, tmp / f"{name}.log"), port


LOADS: list[float] = []  # the 1-minute load average at every progress poll of every run


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (every thread), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def consume(process: WorkerProcess, port: int, total: int, what: str) -> tuple[float, float]:
    """(events/s wall clock, events per CPU second of the worker) from the first progress
    to the end of the backlog."""
    first = None
    last_log = 0.0
    deadline = time.monotonic() + 3600
    pid = process.process.pid
    while time.monotonic() < deadline:
        if not process.alive():
            raise SystemExit(f"{what} exited:\n{process.log_tail()}")
        count = int(_sum(_scrape(port), "pulse_events_processed"))
        now = time.perf_counter()
        cpu = cpu_seconds(pid)
        LOADS.append(os.getloadavg()[0])
        if count and first is None:
            first = (now, count, cpu)
        if count >= total:
            return (count - first[1]) / (now - first[0]), (count - first[1]) / (cpu - first[2])
        if now - last_log > 15:
            log(f"{what}: {count:,}/{total:,}")
            last_log = now
        time.sleep(2.0)
    raise SystemExit(f"{what} did not catch up")


def quantiles(
    results: list[tuple[str, int, float]], kind: str
) -> tuple[int, float, float, dict[int, int]]:
    times = sorted(seconds for k, status, seconds in results if k == kind and status in (200, 404))
    statuses: dict[int, int] = {}
    for k, status, _seconds in results:
        if k == kind:
            statuses[status] = statuses.get(status, 0) + 1
    if len(times) < 2:
        return len(times), float("nan"), float("nan"), statuses
    cut = statistics.quantiles(times, n=100, method="inclusive")
    return len(times), cut[49] * 1000, cut[98] * 1000, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument(
        "--burst", type=int, default=200, help="requests of each kind after catching up"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat off / not read / read, alternating the order"
    )
    parser.add_argument(
        "--write", action="store_true", help="replace the account section of docs/performance.md"
    )
    args = parser.parse_args()
    port = int(args.bootstrap.rsplit(":", 1)[1])
    LocalKafka(port=port).up(echo=lambda message: None)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / unique("bench-accounts")
    tmp.mkdir(parents=True)

    log(f"generating {args.accounts:,} accounts over {args.days} days")
    messages = list(generate(GeneratorConfig(accounts=args.accounts, days=args.days, seed=1)))
    accounts = sorted({message.key.decode() for message in messages if message.key})
    total = len(messages)
    prefix = unique("ba") + "."
    create_topics(
        args.bootstrap, [prefix + topic for topic in (*SOURCE_TOPICS, DEAD_LETTER_TOPIC)], 4
    )
    log(f"producing {total:,} events")
    asyncio.run(produce_all(args.bootstrap, prefix, messages))

    plain_runs: list[tuple[float, float]] = []
    off_runs: list[tuple[float, float]] = []
    read_runs: list[tuple[float, float]] = []
    during: list[tuple[str, int, float]] = []
    after: list[tuple[str, int, float]] = []
    for round_ in range(args.rounds):
        order = ("off", "plain", "read") if round_ % 2 == 0 else ("read", "plain", "off")
        for kind in order:
            if kind == "off":
                process, web = start_worker(
                    args.bootstrap, prefix, tmp, "off", ("--no-account-records",)
                )
                try:
                    off_runs.append(consume(process, web, total, "worker, account layer off"))
                finally:
                    process.stop()
            elif kind == "plain":
                process, web = start_worker(args.bootstrap, prefix, tmp, "not-read")
                try:
                    plain_runs.append(consume(process, web, total, "worker, account API not read"))
                finally:
                    process.stop()
            else:
                rate, d, a = read_run(args, prefix, tmp, total, accounts)
                read_runs.append(rate)
                during += d
                after += a
    rows = []

    def shown_runs(runs: list[float]) -> str:
        return "" if len(runs) < 2 else " (runs: " + ", ".join(f"{r:,.0f}" for r in runs) + ")"

    for index, unit in ((0, "events/s, wall clock"), (1, "events per CPU second of the worker")):
        off, plain, read = (
            statistics.mean(run[index] for run in runs)
            for runs in (off_runs, plain_runs, read_runs)
        )
        rows.append(
            f"| {unit}: account layer off (`--no-account-records`) | {off:,.0f}"
            f"{shown_runs([run[index] for run in off_runs])} |"
        )
        rows.append(
            f"| {unit}: account layer on, API not read | {plain:,.0f} "
            f"({(plain / off - 1) * 100:+.1f} %){shown_runs([run[index] for run in plain_runs])} |"
        )
        rows.append(
            f"| {unit}: account layer on, API read without pause | {read:,.0f} "
            f"({(read / off - 1) * 100:+.1f} %){shown_runs([run[index] for run in read_runs])} |"
        )
    rows.append(
        f"| 1-minute load average during the runs (2 cores) | {min(LOADS):.1f} to {max(LOADS):.1f} |"
    )
    for label, results in (("while consuming", during), ("after catching up", after)):
        for kind, name in (
            ("account", "`GET /accounts/{id}`"),
            ("portfolio", f"`GET {PORTFOLIO}`"),
        ):
            count, p50, p99, statuses = quantiles(results, kind)
            shown = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
            rows.append(
                f"| {name} {label} | p50 {p50:.1f} ms, p99 {p99:.1f} ms ({count} requests; {shown}) |"
            )
    table = "\n".join(["| what | figure |", "|---|---|", *rows])
    header = (
        f"{args.accounts:,} accounts, {total:,} events over {args.days} days, 4 partitions, one worker "
        f"(RocksDB, exactly-once), one sitting, {args.rounds} round(s); percentages against the layer off"
    )
    print(header + "\n\n" + table)
    if args.write:
        write_section(header, table, " ".join(["python bench/bench_accounts.py", *sys.argv[1:]]))


def read_run(
    args: argparse.Namespace, prefix: str, tmp: Path, total: int, accounts: list[str]
) -> tuple[tuple[float, float], list[tuple[str, int, float]], list[tuple[str, int, float]]]:
    """Consume the backlog while a client reads the API; then a burst of requests once caught up."""
    process, web = start_worker(args.bootstrap, prefix, tmp, "read")
    client = Client(web, accounts)
    try:
        while ask(web, "/healthz")[0] != 200:  # the client starts once the worker serves
            if not process.alive():
                raise SystemExit(f"the worker exited:\n{process.log_tail()}")
            time.sleep(0.5)
        client.start()
        read = consume(process, web, total, "worker, account API read without pause")
        client.stopped.set()
        client.join(120)
        after: list[tuple[str, int, float]] = []
        for index in range(args.burst):
            for kind, path in (
                ("account", f"/accounts/{accounts[index * 7919 % len(accounts)]}"),
                ("portfolio", PORTFOLIO),
            ):
                status, seconds = ask(web, path)
                after.append((kind, status, seconds))
    finally:
        process.stop()
    return read, client.results, after


def write_section(header: str, table: str, command: str) -> None:
    write_performance_section(
        f"## Account layer, live\n\nMeasured {time.strftime('%Y-%m-%d')}: {header}.\n\n{table}\n\n"
        f"Reproduce: `{command.replace('--write', '').strip()} --write`\n"
    )


if __name__ == "__main__":
    os.chdir(REPO)
    main()
