"""`pulse replay --jobs N`: the accounts of the inputs split across N processes, merged.

Everything the pipeline keeps is per account (admission lanes, engine rows), so a replay
splits exactly by account: job j runs the lines of the accounts whose Kafka partition
among N partitions is j (`streams.kafka.topics.partition_of`, the partitioner the worker's
messages go through), each child reading every input and skipping the lines it does not
own. The parent then builds one pipeline from the children's results and writes the very
output one process would:

- engine rows: restored from the worker's own row codec (`engine/state_codec.py`), in the
  order one process would have created them (the position of each account's first
  applied line), so every sum in the snapshot runs in the same order;
- counters summed, the latest applied time the maximum, dead letters in line order.

Which account a line belongs to is read from its bytes without decoding it
(`line_owner`): a line without escapes and with exactly one `"account_id"` token, written
`"account_id":"...`, is that account's; anything else is parsed with orjson; a line
without a top-level string account_id goes to job 0. Such a line is rejected by the
contract whichever job reads it, so only accepted and state-dependent outcomes (too_late,
duplicate) need the owner to be exact, and for them it is.

Ctrl-C: the children ignore SIGINT; the parent stops them and re-raises, so the command
ends as a one-process replay does. A child that fails ends the run with one sentence.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.engine import state_codec
from streams.engine.timeline import NO_TIME
from streams.errors import PulseError
from streams.ingest.counters import PipelineCounters
from streams.ingest.pipeline import Pipeline
from streams.kafka.topics import partition_of
from streams.pulse_config import PulseConfig

_ACCOUNT_TOKEN = b'"account_id"'
_ACCOUNT_FIELD = b'"account_id":"'
LINE_BITS = 40
"""A line's position is (input index << LINE_BITS) | line number: file order as one int."""


class ReplayJobError(PulseError):
    """A child process failed; the message is one sentence."""


def line_account(raw: bytes) -> bytes | None:
    """The account_id a line's decoded event would carry (UTF-8), or None when it has no
    top-level string account_id (then the contract rejects it whatever its state)."""
    if b"\\" not in raw and raw.count(_ACCOUNT_TOKEN) == 1:
        at = raw.find(_ACCOUNT_FIELD)
        if at >= 0:
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


def line_owner(jobs: int) -> Callable[[bytes], int]:
    """raw line -> the job that runs it, with the partition of each account cached."""
    owners: dict[bytes | None, int] = {None: 0}

    def owner(raw: bytes) -> int:
        account = line_account(raw)
        job = owners.get(account)
        if job is None:
            job = owners[account] = partition_of(account, jobs) if account is not None else 0
        return job

    return owner


@dataclass(slots=True)
class JobResult:
    """What one child hands back: enough to rebuild its part of the pipeline."""

    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    after_as_of: int = 0
    latest_applied: int = NO_TIME
    counters: PipelineCounters = field(default_factory=PipelineCounters)
    rows: list[tuple[int, str, bytes]] = field(default_factory=list)
    """(position of the account's first applied line, account_id, engine row)."""
    dead_letters: list[tuple[int, bytes]] = field(default_factory=list)


def merge(pipeline: Pipeline, results: list[JobResult]) -> list[tuple[int, bytes]]:
    """Fill `pipeline` (fresh) with the children's results; return the dead letters in
    line order."""
    counters = pipeline.counters
    rows: list[tuple[int, str, bytes]] = []
    dead_letters: list[tuple[int, bytes]] = []
    for result in results:
        for event_type, count in result.counters.events_by_type.items():
            counters.events_by_type[event_type] = counters.events_by_type.get(event_type, 0) + count
        for reason, count in result.counters.rejected_by_reason.items():
            counters.rejected_by_reason[reason] = counters.rejected_by_reason.get(reason, 0) + count
        counters.duplicates += result.counters.duplicates
        pipeline.latest_applied = max(pipeline.latest_applied, result.latest_applied)
        rows += result.rows
        dead_letters += result.dead_letters
    rows.sort(key=lambda row: row[0])
    store = pipeline.engine.store
    for _, account_id, data in rows:
        store[account_id] = state_codec.account_from_bytes(data)
    dead_letters.sort(key=lambda item: item[0])
    return dead_letters


# --------------------------------------------------------------------------- the processes


@dataclass(frozen=True, slots=True)
class JobSpec:
    job: int
    jobs: int
    paths: tuple[str, ...]
    config: PulseConfig
    as_of: int | None
    keep_dead_letters: bool


def _child(spec: JobSpec, progress: Any, sender: multiprocessing.connection.Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C ends
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked since the fork
    try:
        from streams.cli.replay import run_job

        sender.send(("ok", run_job(spec, progress)))
    except PulseError as error:
        sender.send(("error", str(error)))
    except BaseException as error:  # noqa: BLE001 - reported by the parent in one sentence
        sender.send(("error", f"job {spec.job} failed ({type(error).__name__}: {error})"))
        traceback.print_exc()
    finally:
        sender.close()


def run_jobs(
    jobs: int,
    paths: tuple[str, ...],
    config: PulseConfig,
    as_of: int | None,
    keep_dead_letters: bool,
    report: Callable[[list[int]], None],
    report_every_s: float,
) -> list[JobResult]:
    """Run the N children, calling `report(progress)` about every `report_every_s` with
    the shared progress array (per job: lines run, bytes done); their results in job order."""
    context: Any = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    progress: Any = context.Array("q", 2 * jobs, lock=False)
    children: list[tuple[Any, multiprocessing.connection.Connection]] = []
    try:
        for job in range(jobs):
            receiver, sender = context.Pipe(duplex=False)
            spec = JobSpec(job, jobs, paths, config, as_of, keep_dead_letters)
            process = context.Process(
                target=_child, args=(spec, progress, sender), name=f"pulse-replay-{job}"
            )
            # SIGINT blocked from before the fork until the child ignores it: a Ctrl-C
            # landing in between (in the interpreter's at-fork handlers) printed a
            # KeyboardInterrupt traceback from the child. The parent gets it once unblocked.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            sender.close()
            children.append((process, receiver))
        results: dict[int, JobResult] = {}
        pending: dict[Any, int] = {receiver: job for job, (_, receiver) in enumerate(children)}
        while pending:
            ready = multiprocessing.connection.wait(list(pending), timeout=report_every_s)
            for connection in ready:
                job = pending.pop(connection)
                try:
                    answer: tuple[str, Any] = connection.recv()  # type: ignore[union-attr,call-arg,assignment]
                except EOFError:
                    raise ReplayJobError(
                        f"Replay job {job} ended without a result: run with --jobs 1 to see why."
                    ) from None
                status, payload = answer
                if status != "ok":
                    raise ReplayJobError(f"Replay job {job} failed: {payload}")
                results[job] = payload
            if not ready:
                report(list(progress))
        return [results[job] for job in range(jobs)]
    finally:
        for process, receiver in children:
            if process.is_alive():
                process.terminate()
            process.join()
            receiver.close()
