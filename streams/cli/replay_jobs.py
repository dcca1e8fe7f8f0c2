"""`pulse replay --jobs N`: the accounts of the inputs split across N processes, merged.

Everything the pipeline keeps is per account (admission lanes, engine rows), so a replay
splits exactly by account: job j runs the lines of the accounts whose Kafka partition
among N partitions is j (`streams.kafka.topics.partition_of`, the partitioner the worker's
messages go through), each child reading every input and skipping the lines it does not
own. Two steps, so that no process ever holds every account's state:

1. Each child runs its lines and hands back its counters, its latest applied time and its
   dead letters (`JobIngest`). The parent sums the counters, takes the evaluation time
   (--as-of, else the latest applied time over every child) and sends it to them.
2. Each child prunes its engine as one process would and hands back its share of the
   evaluation at that time (`JobSnapshot`): the engine's sums (`Engine.tally_steps`,
   integers only), the sets of features its users used in the window (what the
   unlabelled `other` adoption count needs once the labels are known), what the account
   aggregates read of each of its accounts' records (`account_metrics.account_row`, in
   account_id order) and its watchlist candidates (a few whole records). The parent adds
   the sums (`sum_totals`), tallies the rows merged by account_id and the candidates
   (`AccountTally`, the tally one process makes of its records) and builds the samples
   with the code one process uses (`Engine.samples`, `AccountTally.samples`). No process
   holds every account's record (about 7 KB each).

So the output is the very bytes one process writes: every figure is an exact sum, or a
ratio of exact sums, and the dead letters come out in line order.

`pulse accounts --jobs N` runs the same two steps; at the second each child sends its
accounts' records instead (`JobSpec.records`: compact JSON, in account_id order, in slices
of RECORD_SLICE as they are made), and the parent merges the children's streams
(`merge_records`) a record at a time as it writes them: every account is one child's, so
the merge is the order one process makes them in, and no process holds every record.

Which account a line belongs to is read from its bytes without decoding it
(`LineOwner`): a line without escapes and with exactly one `"account_id"` token, written
`"account_id":"...`, is that account's; anything else is parsed with orjson; a line
without a top-level string account_id goes to job 0. Such a line is rejected by the
contract whichever job reads it, so only accepted and state-dependent outcomes (too_late,
duplicate) need the owner to be exact, and for them it is.

Ctrl-C: the children ignore SIGINT; the parent stops them and re-raises, so the command
ends as a one-process replay does. A child that fails ends the run with one sentence.
"""

from __future__ import annotations

import heapq
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from streams.engine.account_metrics import AccountRow, AccountTally
from streams.engine.accounts_config import WatchlistConfig
from streams.engine.engine import Totals
from streams.engine.incremental import sum_totals
from streams.engine.timeline import NO_TIME
from streams.errors import PulseError
from streams.ingest.counters import PipelineCounters
from streams.ingest.pipeline import Pipeline
from streams.ingest.repeated_ids import GZIP_RATIO
from streams.kafka.topics import partition_of
from streams.pulse_config import PulseConfig

_ACCOUNT_TOKEN = b'"account_id"'
_ACCOUNT_FIELD = b'"account_id":"'
_FIRST_ACCOUNTS = re.compile(rb'"account_id":"([^"\n]*)"[^\n]*\n')
"""The first `"account_id":"..."` of each line of a block that has one (a match runs to
the end of its line, so two never come from one line)."""
PROGRESS_SLOTS = 3
"""Per job in the shared progress array: lines run, bytes run, bytes of the first read."""
LINE_BITS = 40
"""A line's position is (input index << LINE_BITS) | line number: file order as one int."""
AUTO_MIN_BYTES = 4 << 20
"""`--jobs auto` splits inputs of at least this many bytes (about 25,000 lines): below it
the jobs' start and their extra reads take about as long as the work they share
(docs/performance.md, "`pulse replay --jobs N`")."""
AUTO_MAX_JOBS = 8
"""`--jobs auto` starts at most this many jobs: each one reads every input, so past a few
the reads grow while each job's share of the work shrinks."""


class ReplayJobError(PulseError):
    """A child process failed; the message is one sentence."""


def auto_jobs(paths: Sequence[str]) -> int:
    """How many jobs `--jobs auto` runs: one per core this process may use (`usable_cores`, at most
    AUTO_MAX_JOBS) when every input is a regular file and together they hold at least
    AUTO_MIN_BYTES (a gzip file counted as GZIP_RATIO times its size); else one. Stdin
    and pipes can be read only once, so one job reads them."""
    if not paths or not all(os.path.isfile(path) for path in paths):
        return 1
    size = sum(
        os.path.getsize(path) * (GZIP_RATIO if path.endswith(".gz") else 1) for path in paths
    )
    if size < AUTO_MIN_BYTES:
        return 1
    return max(1, min(usable_cores(), AUTO_MAX_JOBS))


CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores(cgroup: Path | None = None) -> int:
    """The cores this process may run on (its CPU affinity), fewer when its cgroup's CPU
    quota allows less (a container's CPU limit: cgroup v2 `cpu.max`, v1
    `cpu/cpu.cfs_quota_us` over `cpu.cfs_period_us`), rounded up; at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cpu_quota(cgroup or CGROUP_ROOT)
    if quota is not None:
        cores = min(cores or 1, math.ceil(quota))
    return max(1, cores or 1)


def _cpu_quota(cgroup: Path) -> float | None:
    """The cgroup's CPU quota in cores, or None when it has none (or none can be read)."""
    try:
        if (cgroup / "cpu.max").exists():
            quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        else:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1") or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None


def line_account(raw: bytes) -> bytes | None:
    """The account_id a line's decoded event would carry (UTF-8), or None when it has no
    top-level string account_id (then the contract rejects it whatever its state)."""
    at = raw.find(_ACCOUNT_FIELD)
    # find() over `in` and the field before the rest: about 0.3 us less a line (measured)
    if at >= 0 and raw.find(b"\\") < 0 and raw.count(_ACCOUNT_TOKEN) == 1:
        start = at + len(_ACCOUNT_FIELD)
        end = raw.find(b'"', start)
        if end >= 0:
            return raw[start:end]
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    account = obj.get("account_id") if type(obj) is dict else None
    return account.encode() if type(account) is str else None


def block_accounts(block: bytes, lines: int) -> list[bytes] | None:
    """The account_id of each of the `lines` lines of a block (UTF-8, each line ending with
    a line break), when every line is plain as `line_account` reads it (no backslash in the
    block, one `"account_id"` token per line, written `"account_id":"...`): one scan for
    the whole block. Else None. (A match per line and as many tokens as lines: every line
    has exactly one, so the i-th value is the i-th line's.)"""
    accounts: list[bytes] = _FIRST_ACCOUNTS.findall(block)
    if len(accounts) == lines and block.count(_ACCOUNT_TOKEN) == lines and block.find(b"\\") < 0:
        return accounts
    return None


class LineOwner:
    """raw line -> the job that runs it, with the partition of each account cached."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.owners: dict[bytes | None, int] = {None: 0}

    def __call__(self, raw: bytes) -> int:
        return self.of_account(line_account(raw))

    def of_account(self, account: bytes | None) -> int:
        job = self.owners.get(account)
        if job is None:
            job = self.owners[account] = (
                partition_of(account, self.jobs) if account is not None else 0
            )
        return job


@dataclass(slots=True)
class OwnedLines:
    """Which lines of each input one job runs, found by reading each line's account once.

    A job's first read (which ids repeat, `streams.cli.replay.repeated_ids`) reads every
    line anyway: it passes the blocks of lines through `select`, which marks each line (one
    byte per line, 1 = this job's) and keeps only the job's own, so the first read sees
    only the ids the job's admission can meet. The run then looks its lines up in the
    marks instead of reading each line's account a second time: `unskipped` drops the
    other jobs' lines in C, `owns` checks the rest. Without marks (an input that was not
    read first), `owns` reads the account."""

    owner: LineOwner
    job: int
    marks: list[bytearray] = field(default_factory=list)
    """Per input, per line as read (empty lines too), 1 when the job owns it."""

    def select(self, blocks: Iterable[bytes]) -> Iterator[bytes]:
        """The job's own lines of one input's blocks (whole lines, each ending with a line
        break), as blocks; marks every line of the input."""
        marks = bytearray()
        self.marks.append(marks)
        owner, job = self.owner, self.job
        for block in blocks:
            lines = block.split(b"\n")
            lines.pop()  # after the last line break
            accounts = block_accounts(block, len(lines))
            owners = map(owner, lines) if accounts is None else map(owner.of_account, accounts)
            flags = bytes([owned == job for owned in owners])
            marks += flags
            own = [line for line, flag in zip(lines, flags, strict=True) if flag]
            if own:
                own.append(b"")
                yield b"\n".join(own)

    def unskipped(
        self, index: int, numbered: Iterator[tuple[int, bytes]]
    ) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of input `index` without the lines marked for other jobs,
        skipped in C (`itertools.compress`); lines past the marks are all kept, for `owns`."""
        if index >= len(self.marks):
            return numbered
        return compress(numbered, chain(self.marks[index], repeat(1)))

    def owns(self, index: int, line_number: int, raw: bytes) -> bool:
        """Whether the job runs line `line_number` (1-based) of input `index`."""
        if index < len(self.marks) and line_number <= len(self.marks[index]):
            return self.marks[index][line_number - 1] == 1
        return self.owner(raw) == self.job  # not read first (or grown since)


@dataclass(slots=True)
class JobIngest:
    """What one child hands back once it has run its lines."""

    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    after_as_of: int = 0
    latest_applied: int = NO_TIME
    counters: PipelineCounters = field(default_factory=PipelineCounters)
    dead_letters: list[tuple[int, bytes]] = field(default_factory=list)
    """(position of the line, dead-letter record)."""


@dataclass(slots=True)
class JobSnapshot:
    """One child's share of the evaluation at T, over its accounts."""

    totals: Totals
    """The engine's sums (`Engine.tally_steps`)."""
    feature_sets: dict[frozenset[str], int]
    """`Engine.window_feature_sets` (empty when the features are listed in the config)."""
    rows: list[AccountRow]
    """What the account aggregates read of each record, sorted by account_id."""
    candidates: list[Mapping[str, Any]]
    """The job's watchlist candidates (`AccountTally.candidates`)."""


@dataclass(slots=True)
class MergedSnapshot:
    """The jobs' shares added up: what one process holding every account would count."""

    totals: Totals
    feature_sets: dict[frozenset[str], int]
    accounts: AccountTally


def merge_ingests(pipeline: Pipeline, ingests: list[JobIngest]) -> list[tuple[int, bytes]]:
    """Sum the children's counters into `pipeline` (fresh); return the dead letters in
    line order."""
    counters = pipeline.counters
    dead_letters: list[tuple[int, bytes]] = []
    for ingest in ingests:
        for event_type, count in ingest.counters.events_by_type.items():
            counters.events_by_type[event_type] = counters.events_by_type.get(event_type, 0) + count
        for reason, count in ingest.counters.rejected_by_reason.items():
            counters.rejected_by_reason[reason] = counters.rejected_by_reason.get(reason, 0) + count
        counters.duplicates += ingest.counters.duplicates
        pipeline.latest_applied = max(pipeline.latest_applied, ingest.latest_applied)
        dead_letters += ingest.dead_letters
    dead_letters.sort(key=lambda item: item[0])
    return dead_letters


def merge_snapshots(snapshots: list[JobSnapshot], watchlist: WatchlistConfig) -> MergedSnapshot:
    """The share of the union of the children's accounts: what one process holding them
    all would count (every sum is exact; the account rows are summed in account_id order,
    as one process sums its records)."""
    feature_sets: dict[frozenset[str], int] = {}
    for snapshot in snapshots:
        for used, users in snapshot.feature_sets.items():
            feature_sets[used] = feature_sets.get(used, 0) + users
    accounts = AccountTally(watchlist)
    for row in heapq.merge(*(snapshot.rows for snapshot in snapshots), key=itemgetter(0)):
        accounts.add_row(row)
    for snapshot in snapshots:
        for record in snapshot.candidates:
            accounts.add_candidate(record)
    return MergedSnapshot(
        sum_totals(snapshot.totals for snapshot in snapshots), feature_sets, accounts
    )


# --------------------------------------------------------------------------- the processes


@dataclass(frozen=True, slots=True)
class JobSpec:
    job: int
    jobs: int
    paths: tuple[str, ...]
    config: PulseConfig
    as_of: int | None
    keep_dead_letters: bool
    records: bool = False
    """Send the job's account records (`pulse accounts`), not its `JobSnapshot`."""


RECORD_SLICE = 500
"""Records per message from a job of `pulse accounts --jobs N` (about 1.5 MB of JSON)."""


def merge_records(parts: Iterable[Iterable[tuple[str, bytes]]]) -> Iterator[tuple[str, bytes]]:
    """The (account_id, record) of every job, each job's in account_id order, in
    account_id order, one at a time."""
    return heapq.merge(*parts, key=itemgetter(0))


def _record_stream(connection: multiprocessing.connection.Connection, job: int) -> Iterator[Any]:
    """The records a job sends, slice by slice, until its end mark."""
    while True:
        status, payload = _receive(connection, job)
        if status != "slice":
            return
        yield from payload


def _receive(connection: multiprocessing.connection.Connection, job: int) -> tuple[str, Any]:
    """One message of a job, (status, payload); a job that failed, or ended without a
    message, ends the run with one sentence."""
    try:
        status, payload = connection.recv()
    except EOFError:
        raise ReplayJobError(
            f"Replay job {job} ended without a result: run with --jobs 1 to see why."
        ) from None
    if status == "error":
        raise ReplayJobError(f"Replay job {job} failed: {payload}")
    return status, payload


def _child(spec: JobSpec, progress: Any, connection: multiprocessing.connection.Connection) -> None:
    """Run the job's lines, hand back `JobIngest`, wait for the evaluation time, hand back
    `JobSnapshot`, or the records with `spec.records` (an error at either step: one
    sentence instead)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C ends
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked since the fork
    try:
        from streams.cli.replay import job_records, job_snapshot, run_job, young_collections_only

        with young_collections_only():
            ingested, pipeline = run_job(spec, progress)
            connection.send(("ok", ingested))
            try:
                as_of: int = connection.recv()
            except EOFError:
                return  # the parent ended the run (nothing applied, Ctrl-C, another job failed)
            if spec.records:
                for records in job_records(pipeline, as_of, spec.config, RECORD_SLICE):
                    connection.send(("slice", records))
                connection.send(("ok", None))
            else:
                connection.send(("ok", job_snapshot(pipeline, as_of, spec.config)))
    except PulseError as error:
        connection.send(("error", str(error)))
    except BaseException as error:  # noqa: BLE001 - reported by the parent in one sentence
        connection.send(("error", f"job {spec.job} failed ({type(error).__name__}: {error})"))
        traceback.print_exc()
    finally:
        connection.close()


def run_jobs(
    jobs: int,
    paths: tuple[str, ...],
    config: PulseConfig,
    as_of: int | None,
    keep_dead_letters: bool,
    evaluation_time: Callable[[list[JobIngest]], int],
    report: Callable[[list[int]], None],
    report_every_s: float,
    on_records: Callable[[Iterator[tuple[str, bytes]]], None] | None = None,
) -> list[Any]:
    """Run the N children: hand their `JobIngest`s to `evaluation_time` (which may raise
    to end the run), send the time it gives them, return their `JobSnapshot`s in job
    order; with `on_records`, the children send their records instead, which
    `on_records` gets merged, a record at a time, while the children run (returns []).
    While the lines run, calls `report(progress)` about every `report_every_s` with the
    shared progress array (`PROGRESS_SLOTS` per job)."""
    context: Any = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    progress: Any = context.Array("q", PROGRESS_SLOTS * jobs, lock=False)
    children: list[tuple[Any, multiprocessing.connection.Connection]] = []
    finished = False
    try:
        for job in range(jobs):
            parent_end, child_end = context.Pipe()
            spec = JobSpec(
                job, jobs, paths, config, as_of, keep_dead_letters, on_records is not None
            )
            process = context.Process(
                target=_child, args=(spec, progress, child_end), name=f"pulse-replay-{job}"
            )
            # SIGINT blocked from before the fork until the child ignores it: a Ctrl-C
            # landing in between (in the interpreter's at-fork handlers) printed a
            # KeyboardInterrupt traceback from the child. The parent gets it once unblocked.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            child_end.close()
            children.append((process, parent_end))
        connections = [connection for _, connection in children]
        ingests: list[JobIngest] = _answers(
            connections, lambda: report(list(progress)), report_every_s
        )
        evaluated_at = evaluation_time(ingests)
        for connection in connections:
            connection.send(evaluated_at)
        answers: list[Any] = []
        if on_records is not None:
            on_records(merge_records(_record_stream(c, job) for job, c in enumerate(connections)))
        else:
            answers = _answers(connections, lambda: None, report_every_s)
        finished = True
        return answers
    finally:
        for process, connection in children:
            if process.is_alive() and not finished:
                process.terminate()
            process.join()
            connection.close()


def _answers(
    connections: list[multiprocessing.connection.Connection],
    waiting: Callable[[], None],
    every_s: float,
) -> list[Any]:
    """One answer from each child, in job order; `waiting()` every `every_s` without one."""
    answers: dict[int, Any] = {}
    pending: dict[Any, int] = {connection: job for job, connection in enumerate(connections)}
    while pending:
        ready = multiprocessing.connection.wait(list(pending), timeout=every_s)
        for connection in ready:
            job = pending.pop(connection)
            _, payload = _receive(connection, job)  # type: ignore[arg-type]
            answers[job] = payload
        if not ready:
            waiting()
    return [answers[job] for job in range(len(connections))]
