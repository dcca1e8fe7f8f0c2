"""Worker throughput on the real broker, side by side with its two ceilings, in one run.

    .venv/bin/python bench/bench_worker.py [--events 1000000] [--bootstrap 127.0.0.1:19092]

(a) physical limit: aiokafka `getmany` + orjson.loads over the six topics, no framework;
(b) framework ceiling: a stock Faust agent that only decodes (bench/faust_decode_app.py);
(c) `pulse worker` end to end until caught up, state durable (RocksDB + changelog,
    exactly-once): every message decoded, validated, admitted, applied and written;
(d) the ratios c/a and c/b; (e) the worker's peak RSS;
(g) the peer: a Quix Streams job (bench/quix_peer_app.py, PyPI `quixstreams` installed on
    demand into its own environment .cache/bench-quix, never a dependency of cs-pulse)
    reading the same six topics from the same backlog, a per-account RocksDB row with its
    changelog updated per event, exactly-once; and the ratio c/g;
(f) latency at a steady 5,000 events/s: produce -> state (the worker's own histogram) and
    produce -> visible on /metrics (probe events, scraped every 20 ms).
The same backlog (generated with `pulse generate`'s Python API, ~1M mixed events) feeds
(a), (b), (c) and (g). Starts the project's local broker when none answers. Prints a Markdown
table; with --write, replaces the "Worker" section of docs/performance.md.

    .venv/bin/python bench/bench_worker.py --scale 1,2,4 [--events 1000000]

measures only (c), with 1, 2 and 4 worker processes in one consumer group over one backlog
each (the "Scale" section of docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.shared import cpu_seconds, worker_args, write_performance_section  # noqa: E402
from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS  # noqa: E402
from streams.devtools.localkafka import LocalKafka  # noqa: E402
from streams.generator import GeneratorConfig, generate  # noqa: E402
from tests.integration.helpers import WorkerProcess, create_topics, free_port, http_get, unique  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def backlog(target: int) -> list:
    accounts = max(10, target // 330)  # about 330 events per account over 40 days
    messages = []
    seed = 1
    while len(messages) < target:
        messages += list(generate(GeneratorConfig(accounts=accounts, days=40, seed=seed)))
        seed += 1
    return messages[:target]


async def produce_all(bootstrap: str, prefix: str, messages) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024, acks=1
    )
    await producer.start()
    start = time.perf_counter()
    try:
        pending = []
        for message in messages:
            pending.append(
                await producer.send(prefix + message.topic, message.value, key=message.key)
            )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - start


async def physical_limit(bootstrap: str, topics: list[str], total: int) -> Rate:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=unique("bench-raw"),
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    seen, start, cpu_start = 0, None, 0.0
    loads = orjson.loads
    try:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                if start is None:
                    start, cpu_start = time.perf_counter(), time.process_time()
                for record in records:
                    loads(record.value)
                seen += len(records)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        await consumer.stop()
    return Rate(total / wall, total / cpu)


class Rate(NamedTuple):
    """Events per second of wall clock, and per CPU second of the process(es) measured."""

    wall: float
    cpu: float


def _progress_rate(read_count, total: int, process, what: str, timeout: float = 1800) -> Rate:
    """Events/s from the first observed progress until `read_count()` reaches total, by the
    wall clock and per CPU second of the process(es) over the same span. The CPU figure
    holds steadier on a machine shared with other work."""
    pids = [p.process.pid for p in getattr(process, "processes", [process])]
    first = None
    deadline = time.monotonic() + timeout
    last_log = 0.0
    while time.monotonic() < deadline:
        if not process.alive():
            raise SystemExit(f"{what} exited:\n{process.log_tail()}")
        count = read_count()
        now = time.perf_counter()
        if count and first is None:
            first = (now, count, sum(map(cpu_seconds, pids)))
        if count >= total:
            cpu = sum(map(cpu_seconds, pids)) - first[2]
            if now <= first[0] or cpu <= 0:
                return Rate(float("nan"), float("nan"))
            return Rate((count - first[1]) / (now - first[0]), (count - first[1]) / cpu)
        if now - last_log > 10:
            log(f"{what}: {count:,}/{total:,}")
            last_log = now
        time.sleep(2.0)  # a scrape renders every metric: poll gently, the same for both
    raise SystemExit(f"{what} did not catch up in {timeout:.0f} s")


def _scrape(port: int) -> dict:
    status, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    if status != 200:
        return {}
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def _sum(families: dict, name: str, **labels) -> float:
    family = families.get(name)
    if family is None:
        return 0.0
    return sum(
        s.value
        for s in family.samples
        if s.name in (name, name + "_total")
        and all(s.labels.get(k) == v for k, v in labels.items())
    )


def framework_ceiling(bootstrap: str, topics: list[str], total: int, tmp: Path) -> Rate:
    port = free_port()
    env = {
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_APP_ID": unique("bench-faust"),
        "BENCH_TOPICS": ",".join(topics),
        "BENCH_WEB_PORT": str(port),
    }
    process = WorkerProcess(
        ["bench/faust_decode_app.py", "worker", "-l", "warn"], env, tmp / "faust-decode.log"
    )

    def count() -> int:
        status, body = http_get(f"http://127.0.0.1:{port}/count")
        return orjson.loads(body)["count"] if status == 200 else 0

    try:
        return _progress_rate(count, total, process, "stock Faust")
    finally:
        process.stop()


def worker_run(bootstrap: str, prefix: str, total: int, tmp: Path, profile: str | None = None):
    processes, ports, rate = workers_run(bootstrap, prefix, total, tmp, 1, profile)
    return processes[0], ports[0], rate


def _py_spy(pid: int, output: str) -> subprocess.Popen:
    """py-spy sampling the worker and its threads (without pausing it) until interrupted;
    raw collapsed stacks, one line per stack with its sample count."""
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        raise SystemExit(
            "--profile needs py-spy in the project's environment: .venv/bin/pip install py-spy"
        )
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--nonblocking",
            "--threads",
            "--format",
            "raw",
            "--output",
            output,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class _Group:
    """Several worker processes seen as one by `_progress_rate`."""

    def __init__(self, processes: list[WorkerProcess]) -> None:
        self.processes = processes

    def alive(self) -> bool:
        return all(p.alive() for p in self.processes)

    def log_tail(self) -> str:
        return "\n".join(p.log_tail() for p in self.processes)


def workers_run(
    bootstrap: str, prefix: str, total: int, tmp: Path, count_of: int, profile: str | None = None
):
    """`count_of` worker processes of one app id (one consumer group) until together they
    processed `total` events; their processes, metrics ports and events/s."""
    app_id = unique("bench-worker")
    processes, ports = [], []
    for number in range(count_of):
        port = free_port()
        args = worker_args(
            bootstrap, prefix, app_id, port, tmp / f"worker-data-{count_of}-{number}"
        )
        processes.append(WorkerProcess(args, {}, tmp / f"worker-{count_of}-{number}.log"))
        ports.append(port)

    def count() -> int:
        return int(sum(_sum(_scrape(port), "pulse_events_processed") for port in ports))

    what = "pulse worker" if count_of == 1 else f"{count_of} pulse workers"
    spy = _py_spy(processes[0].process.pid, profile) if profile else None
    try:
        rate = _progress_rate(count, total, _Group(processes), what)
    except BaseException:
        for process in processes:
            process.stop()
        raise
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    return processes, ports, rate


def scale(bootstrap: str, messages: list, counts: list[int], tmp: Path, events: int) -> None:
    """(c) with each number of worker processes in `counts`, over one backlog read anew by
    each group; a Markdown table of events/s, speed-up and per-process peak RSS."""
    prefix = unique("bench") + "."
    topics = [prefix + t for t in SOURCE_TOPICS]
    create_topics(bootstrap, [*topics, prefix + DEAD_LETTER_TOPIC])
    seconds = asyncio.run(produce_all(bootstrap, prefix, messages))
    log(f"produced {len(messages):,} in {seconds:.1f} s")
    rows = [
        "| worker processes | events/s | events per CPU second (all processes) | speed-up "
        "| peak RSS per process |",
        "|---:|---:|---:|---:|---:|",
    ]
    first = None
    for count_of in counts:
        processes, _ports, rate = workers_run(bootstrap, prefix, len(messages), tmp, count_of)
        rss = [peak_rss_mib(p.process.pid) for p in processes]
        for process in processes:
            process.stop()
        first = first or rate.wall
        log(f"{count_of} worker(s): {rate.wall:,.0f}/s ({rate.cpu:,.0f} per CPU second)")
        rows.append(
            f"| {count_of} | {rate.wall:,.0f} | {rate.cpu:,.0f} | {rate.wall / first:.2f} | "
            f"{min(rss):,.0f}-{max(rss):,.0f} MiB |"
        )
    print("\n".join(rows))
    counted = ",".join(map(str, counts))
    print(
        f"\nreproduce: .venv/bin/python bench/bench_worker.py --scale {counted} --events {events}"
    )


QUIX_VERSION = "3.28.1"


def quix_python() -> Path:
    """The Python of the peer's own environment, created on first use (PyPI's quixstreams,
    pinned; never installed into the project's environment)."""
    venv = REPO / ".cache" / "bench-quix"
    python = venv / "bin" / "python"
    marker = venv / f".quixstreams-{QUIX_VERSION}"
    if not marker.exists():
        log(f"installing quixstreams {QUIX_VERSION} into {venv.relative_to(REPO)}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"quixstreams=={QUIX_VERSION}"],
            check=True,
        )
        marker.touch()
    return python


def quix_peer(
    bootstrap: str, topics: list[str], total: int, tmp: Path, timeout: float = 1800
) -> Rate:
    """(g): the Quix Streams job over the backlog; events/s from its first message to the
    one that reached `total` (as (c), the count of processed events, not of committed ones)."""
    python = quix_python()
    env = {
        **os.environ,
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_TOPICS": ",".join(topics),
        "BENCH_GROUP": unique("bench-quix"),
        "BENCH_STATE_DIR": str(tmp / "quix-state"),
        "BENCH_TOTAL": str(total),
    }
    log_path = tmp / "quix.log"
    with open(log_path, "wb") as err:
        done = subprocess.run(
            [str(python), str(REPO / "bench" / "quix_peer_app.py")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            timeout=timeout,
            cwd=tmp,
        )
    lines = done.stdout.decode().strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = log_path.read_text()[-3000:]
        raise SystemExit(f"the Quix job failed (exit {done.returncode}):\n{tail}")
    result = orjson.loads(lines[-1])
    if result["count"] < total:
        raise SystemExit(f"the Quix job stopped after {result['count']:,} of {total:,} events")
    return Rate(
        (total - 1) / (result["last"] - result["first"]),
        (total - 1) / (result["cpu_last"] - result["cpu_first"]),
    )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def steady_latency(
    bootstrap: str, prefix: str, port: int, rate: int, seconds: int, probes: int
) -> dict:
    """Feed `rate` events/s for `seconds`; meanwhile time `probes` survey responses from
    produce to visible on /metrics."""
    template = [
        m
        for m in backlog(min(rate * seconds, 200_000))
        if m.type in ("login", "feature_used", "logout")
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await producer.start()
    visible: list[float] = []
    stop = asyncio.Event()

    async def feed() -> None:
        start = time.perf_counter()
        sent = 0
        while not stop.is_set() and time.perf_counter() - start < seconds:
            due = int((time.perf_counter() - start) * rate)
            while sent < due:
                m = template[sent % len(template)]
                event = orjson.loads(m.value)
                event["event_id"] = f"steady-{sent}"
                event["occurred_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                await producer.send(prefix + m.topic, orjson.dumps(event), key=m.key)
                sent += 1
            await asyncio.sleep(0.005)

    async def probe() -> None:
        await asyncio.sleep(2)
        for number in range(probes):
            before = _sum(_scrape(port), "pulse_survey_responses", survey="ces")
            event = {
                "event_id": f"probe-{number}-{time.time_ns()}",
                "type": "survey_response",
                "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "account_id": "bench-probe",
                "survey": "ces",
                "score": 5,
            }
            sent_at = time.perf_counter()
            await producer.send_and_wait(
                prefix + "pulse.surveys", orjson.dumps(event), key=b"bench-probe"
            )
            while (
                _sum(await asyncio.to_thread(_scrape, port), "pulse_survey_responses", survey="ces")
                <= before
            ):
                await asyncio.sleep(0.02)
            visible.append(time.perf_counter() - sent_at)
            await asyncio.sleep(0.3)

    before = _buckets(_scrape(port).get("pulse_event_to_state_latency_seconds"))
    try:
        await asyncio.gather(feed(), probe())
    finally:
        stop.set()
        await producer.stop()
    after = _buckets(_scrape(port).get("pulse_event_to_state_latency_seconds"))
    steady = [(bound, count - before.get(bound, 0)) for bound, count in sorted(after.items())]
    return {
        "visible": visible,
        "state_p50": _quantile(steady, 0.5),
        "state_p99": _quantile(steady, 0.99),
    }


def _buckets(family) -> dict[float, float]:
    return (
        {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}
        if family
        else {}
    )


def _quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Upper bound of the histogram bucket holding quantile q (what histogram_quantile approximates)
    of the observations counted in `buckets` (cumulative, as Prometheus exports them)."""
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--bootstrap", default=None, help="default: the project's local broker on port 19092"
    )
    parser.add_argument("--steady-seconds", type=int, default=30)
    parser.add_argument(
        "--write", action="store_true", help="write the figures into docs/performance.md"
    )
    parser.add_argument(
        "--scale",
        default=None,
        metavar="N,N,...",
        help="measure only the worker, with each of these numbers of processes",
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="FILE",
        help="py-spy record the worker (its threads too) during (c), as collapsed stacks in FILE",
    )
    args = parser.parse_args()
    if args.bootstrap is not None:
        bench(args, args.bootstrap)
        return
    # The project's local broker: started here unless it runs already, and then stopped
    # here too, so that it does not hold the port `make test` starts its own broker on.
    broker = LocalKafka(port=19092)
    started = broker.pid() is None
    broker.up(echo=log)
    try:
        bench(args, broker.bootstrap)
    finally:
        if started:
            broker.down(echo=log)


def bench(args: argparse.Namespace, bootstrap: str) -> None:
    """(a), (b), (g), (c), (e), (f) in one run, or the scale runs (`--scale`)."""
    tmp = REPO / ".cache" / "bench" / unique("run")
    tmp.mkdir(parents=True)

    log(f"generating {args.events:,} events")
    messages = backlog(args.events)
    if args.scale:
        scale(bootstrap, messages, [int(n) for n in args.scale.split(",")], tmp, args.events)
        return
    prefix = unique("bench") + "."
    topics = [prefix + t for t in SOURCE_TOPICS]
    create_topics(bootstrap, [*topics, prefix + DEAD_LETTER_TOPIC])
    seconds = asyncio.run(produce_all(bootstrap, prefix, messages))
    log(f"produced {len(messages):,} in {seconds:.1f} s")

    a = asyncio.run(physical_limit(bootstrap, topics, len(messages)))
    log(f"(a) aiokafka + orjson: {a.wall:,.0f}/s")
    b = framework_ceiling(bootstrap, topics, len(messages), tmp)
    log(f"(b) stock Faust, decode only: {b.wall:,.0f}/s")
    g = quix_peer(bootstrap, topics, len(messages), tmp)
    log(f"(g) Quix Streams, stateful, exactly-once: {g.wall:,.0f}/s")
    process, port, c = worker_run(bootstrap, prefix, len(messages), tmp, profile=args.profile)
    log(f"(c) pulse worker: {c.wall:,.0f}/s")
    try:
        rss = peak_rss_mib(process.process.pid)
        latency = asyncio.run(
            steady_latency(bootstrap, prefix, port, 5000, args.steady_seconds, probes=20)
        )
    finally:
        process.stop()
    visible = sorted(latency["visible"])
    p50 = statistics.median(visible)
    p99 = visible[min(len(visible) - 1, int(0.99 * len(visible)))]
    table = "\n".join(
        [
            "| figure | events/s (wall clock) | events per CPU second |",
            "|---|---|---|",
            f"| events in the backlog | {len(messages):,} (6 topics x 4 partitions) | |",
            f"| (a) physical limit: aiokafka getmany + orjson.loads | {a.wall:,.0f} | {a.cpu:,.0f} |",
            f"| (b) framework ceiling: stock Faust agent, decode only | {b.wall:,.0f} | {b.cpu:,.0f} |",
            f"| (c) pulse worker end to end, exactly-once, RocksDB + changelog | {c.wall:,.0f} "
            f"| {c.cpu:,.0f} |",
            f"| (g) peer: Quix Streams {QUIX_VERSION}, per-account RocksDB row + changelog, "
            f"exactly-once | {g.wall:,.0f} | {g.cpu:,.0f} |",
            f"| (d) c/a, c/b | {c.wall / a.wall:.3f}, {c.wall / b.wall:.2f} "
            f"| {c.cpu / a.cpu:.3f}, {c.cpu / b.cpu:.2f} |",
            f"| **(h) c/g: worker / Quix Streams** | **{c.wall / g.wall:.2f}** | **{c.cpu / g.cpu:.2f}** |",
            "",
            "| figure | value |",
            "|---|---|",
            f"| (e) worker peak RSS | {rss:,.0f} MiB |",
            f"| (f) at 5,000 events/s: produce -> state, p50 / p99 (histogram bucket bound) | {latency['state_p50']} s / {latency['state_p99']} s |",
            f"| (f) at 5,000 events/s: produce -> visible on /metrics, p50 / p99 of {len(visible)} probes | {p50 * 1000:.0f} ms / {p99 * 1000:.0f} ms |",
        ]
    )
    command = f".venv/bin/python bench/bench_worker.py --events {args.events}"
    print(table)
    print(f"\nreproduce: {command}")
    if args.write:
        write_performance_section(
            f"## Worker\n\nMeasured {time.strftime('%Y-%m-%d')} on this project's machine kind (2 cores), "
            f"one run, all figures side by side against the local Apache Kafka broker.\n\n{table}\n\n"
            f"Reproduce: `{command}`\n"
        )


if __name__ == "__main__":
    os.chdir(REPO)
    main()
