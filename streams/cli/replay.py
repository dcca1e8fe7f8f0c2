"""`pulse replay`: every metric from JSONL events, without Kafka, as Prometheus text.

Each input line is one message in the Kafka message format. Lines run, in file order,
through the worker's own per-message path (`streams.ingest.pipeline.Pipeline`: decode and
validate, de-duplicate, late and future policies, engine) and the exposition of every
metric as of the evaluation time is written out, with the worker's metric names.

- The topic of a line is the one its type belongs on (a file has no topics), so
  `wrong_topic` cannot happen; a rejected line's dead-letter record names the source as
  topic "replay:<file>", partition 0 and offset = the line number (1-based).
- `--as-of TIME` (RFC 3339 with an offset, or epoch milliseconds; an integer that looks
  like epoch seconds is refused): the evaluation time. A file holds the future of every
  instant before its end, so events after it are "after as-of": counted in the summary,
  neither applied nor rejected (no `future_timestamp`, no dead letter; a worker's frozen
  clock keeps the live rule). Default: the latest occurred_at applied.
- `--from A --to B --step 1h` writes a history instead: every series at every step, as
  OpenMetrics with timestamps for `promtool tsdb create-blocks-from openmetrics`, each
  step equal to a one-instant replay at it (`streams.cli.history`). `--format openmetrics`
  alone writes the one instant with its timestamp.
- `--jobs N` splits the accounts across N processes (streams/cli/replay_jobs.py), with
  the same output; the default `auto` runs one per core for files of 4 MB or more.
- Files (not stdin or a pipe) are read once first, for the event ids that occur more
  than once (`repeated_ids`): admission remembers only those, with the same verdicts.
- Inputs ending in `.gz` are read through gzip. `--out` is opened before any input is
  read, so a bad output path fails at once.
- Empty lines are skipped. Progress goes to stderr about every 2 seconds on long inputs,
  with the share done and an ETA when every input is a file; a summary line at the end.
  An input with no applied event is an error (exit 1): there is nothing to report.
- The exposition includes the global ratios (replay sees every account); `--no-ratios`
  prints exactly what a worker exports (docs/metrics.md, "Conventions").
- Exit codes follow `streams.errors.exit_code`: 2 for a bad option or input path, 1 when
  the run fails.
"""

from __future__ import annotations

import gc
import gzip
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, BinaryIO, TypeVar

import click
import orjson

from streams.cli import fail
from streams.cli.replay_jobs import (
    LINE_BITS,
    PROGRESS_SLOTS,
    JobIngest,
    JobSnapshot,
    JobSpec,
    LineOwner,
    OwnedLines,
    auto_jobs,
    merge_ingests,
    merge_snapshots,
    run_jobs,
)
from streams.contract.rfc3339 import parse_rfc3339_ms, rfc3339_ms
from streams.engine.account_metrics import AccountTally, account_row, account_samples
from streams.engine.engine import run_steps
from streams.engine.records import iter_account_records, to_json_ready
from streams.engine.samples import Sample
from streams.engine.timeline import NO_TIME
from streams.errors import PulseError, UsageError
from streams.exposition import Exposition, render_text
from streams.ingest.pipeline import Pipeline, Status
from streams.ingest.repeated_ids import GZIP_RATIO, filter_bits, line_blocks, repeated_keys
from streams.pulse_config import PulseConfig, load_config

PROGRESS_EVERY_S = 2.0
FIRST_READ = "replay, first read (which event ids repeat)"
_CHECK_CLOCK_EVERY = 4096  # lines between looks at the clock
SECONDS_LOOKALIKE_MS = 100_000_000_000
"""Integers below this (in absolute value) are refused as --as-of: as milliseconds they
fall within 1970-1973, as seconds they are 1973-5138, so they are seconds typed by mistake."""


class ReplayError(PulseError):
    """The run failed (output, nothing applied); the message is one sentence."""


class ReplayUsageError(UsageError):
    """A bad option value or input path; the message is one sentence."""


def parse_time(text: str, option: str = "--as-of") -> int:
    """Epoch milliseconds from RFC 3339 with a UTC offset, or from an integer of epoch ms;
    `option` names the option in the error sentence."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        value = int(stripped)
        if abs(value) < SECONDS_LOOKALIKE_MS:
            raise ReplayUsageError(
                f"{option} {stripped} looks like epoch seconds, but integers are epoch milliseconds: "
                f"give {value * 1000} or RFC 3339 ({rfc3339_ms(value * 1000)})."
            )
        return value
    try:
        return parse_rfc3339_ms(stripped)
    except ValueError:
        raise ReplayUsageError(
            f"{option} {text!r} is not a time: give RFC 3339 with an offset (2026-03-01T00:00:00Z) or epoch milliseconds."
        ) from None


@dataclass(slots=True)
class ReplaySummary:
    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    after_as_of: int = 0
    seconds: float = 0.0
    jobs: int = 1

    def line(self, as_of: int, dead_letter: str | None) -> str:
        rate = self.lines / self.seconds if self.seconds > 0 else 0.0
        kept = f" (dead letters in {dead_letter})" if dead_letter and self.rejected else ""
        later = f", {self.after_as_of} after --as-of not applied" if self.after_as_of else ""
        jobs = f" ({self.jobs} jobs)" if self.jobs > 1 else ""
        return (
            f"replay: {self.lines} lines, {self.applied} applied, {self.duplicates} duplicates, "
            f"{self.rejected} rejected{kept}{later}; metrics as of {rfc3339_ms(as_of)}; "
            f"{rate:,.0f} lines/s in {self.seconds:.1f} s{jobs}"
        )


@dataclass(slots=True)
class Input:
    """One opened input: its lines, and how far into its bytes reading is (None: unknown)."""

    path: str
    lines: Iterable[bytes]
    size: int | None = None
    position: Callable[[], int] | None = None
    read: Callable[[int], bytes] | None = None
    """Its bytes in blocks (a file, not stdin): what the first read reads."""


def _open_input(path: str, stack: ExitStack) -> Input:
    if path == "-":
        return Input(path, click.get_binary_stream("stdin"))
    try:
        raw = stack.enter_context(open(path, "rb"))  # noqa: SIM115 - closed by the stack
    except FileNotFoundError:
        raise ReplayUsageError(
            f"Input file {path} does not exist: pass the path of a JSONL file, or - for stdin."
        ) from None
    except IsADirectoryError:
        raise ReplayUsageError(
            f"Input path {path} is a directory: pass the path of a JSONL file."
        ) from None
    except OSError as error:
        raise ReplayUsageError(
            f"Input file {path} cannot be read ({error.strerror}): check the path and permissions."
        ) from None
    size = os.fstat(raw.fileno()).st_size if os.path.isfile(path) else None
    position = raw.tell if raw.seekable() else None  # a named pipe has no position
    if path.endswith(".gz"):
        # progress follows the compressed bytes read, the only size known in advance
        unzipped = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        return Input(path, _gunzipped(path, unzipped), size, position, unzipped.read)
    return Input(path, raw, size, position, raw.read)


def _gunzipped(path: str, lines: Iterable[bytes]) -> Iterator[bytes]:
    """The lines (or blocks) of a gzip file; a file that is not gzip, or is cut short, is
    one sentence."""
    try:
        yield from lines
    except (OSError, EOFError, zlib.error) as error:
        raise ReplayError(
            f"Input file {path} is not a complete gzip file ({error}): compress it with gzip, or drop the .gz suffix."
        ) from None


def _open_output(path: str, what: str, stack: ExitStack) -> BinaryIO:
    """Open an output before any input is read, so a bad path fails at once."""
    if path == "-":
        return click.get_binary_stream("stdout")
    try:
        return stack.enter_context(open(path, "wb"))  # noqa: SIM115 - closed by the stack
    except OSError as error:
        raise ReplayError(
            f"Cannot write the {what} file {path} ({error.strerror}): pass a writable path."
        ) from None


@contextmanager
def young_collections_only() -> Iterator[None]:
    """Run the block with the cyclic garbage collector's full collections off.

    Replay builds millions of long-lived objects (admission's remembered ids, the
    engine's per-user records) that hold no reference cycles; the automatic full
    collections re-scan all of them again and again and cost about 40 % of a long
    replay. `ingest` collects the young generations itself every few thousand lines, so
    short-lived cycles are still freed; the collector is restored afterwards. The
    evaluation after the last line (the snapshot, every account's record) runs inside it
    too: it builds no cycles, and each full collection there re-scanned the whole state
    (two of them, 2.6 % of a 20,000-user replay).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class Progress:
    """Bytes done out of the inputs' total, when every input's size is known."""

    inputs: list[Input]
    started: float = field(default_factory=time.monotonic)
    finished_bytes: int = 0
    label: str = "replay"

    @property
    def total(self) -> int | None:
        sizes = [item.size for item in self.inputs]
        known = [size for size in sizes if size is not None]
        return sum(known) if len(known) == len(sizes) else None

    def done(self, current: Input | None) -> int | None:
        """Bytes of the inputs read so far (None: unknown)."""
        if current is None or current.position is None:
            return None
        return self.finished_bytes + current.position()

    def line(self, lines: int, rate: float, current: Input | None, now: float) -> str:
        return self.line_at(lines, rate, self.done(current), now)

    def line_at(self, lines: int, rate: float, done: int | None, now: float) -> str:
        text = f"{self.label}: {lines:,} lines, {rate:,.0f} lines/s"
        total = self.total
        if not total or done is None or done <= 0:
            return text
        eta = (now - self.started) * (total - done) / done
        return f"{text}, {min(done / total, 1.0):.0%} of {total / 1e6:,.1f} MB, ETA {max(eta, 0.0):,.0f} s"


@dataclass(slots=True)
class JobPart:
    """One job's share of a `--jobs N` replay (streams/cli/replay_jobs.py): the lines it owns,
    where it reports progress, and its dead letters."""

    owned: OwnedLines
    progress: Any  # shared array, PROGRESS_SLOTS per job (replay_jobs.py)
    dead_letters: list[tuple[int, bytes]] = field(default_factory=list)  # (position, record)


def input_lines(
    opened: list[Input], progress: Progress | None = None, owned: OwnedLines | None = None
) -> Iterator[tuple[int, Input, str, int, bytes]]:
    """(input index, input, source, line number, line) of every non-empty line of every
    input, in order: the one reader of the messages every file-based command runs through
    the pipeline. `source` names the input in dead letters ("replay:<path>"); the line
    number (1-based, counting empty lines) is the dead letter's offset. Each input's size
    is added to `progress` once it is read. With `owned` (a job of `--jobs N`), the lines
    its marks give to other jobs are skipped before they are looked at."""
    for index, current in enumerate(opened):
        source = f"replay:{current.path}"
        numbered = enumerate(current.lines, 1)
        for line_number, line in numbered if owned is None else owned.unskipped(index, numbered):
            raw = line.rstrip(b"\r\n")
            if not raw or raw.isspace():  # as `not raw.strip()`, without copying the line
                continue
            yield index, current, source, line_number, raw
        if progress is not None and current.size is not None:
            progress.finished_bytes += current.size


@dataclass(slots=True)
class LineClock:
    """What a long read does every `_CHECK_CLOCK_EVERY` lines (`due`): a young-generation
    collection, and with `progress`, a line on stderr about every 2 seconds."""

    progress: Progress | None
    shared: tuple[Any, int] | None = None
    """(shared array, slot): a job of `--jobs N` writes its bytes done there, not to stderr."""
    last_report: float = field(default_factory=time.monotonic)
    reported: int = 0

    @staticmethod
    def due(lines: int) -> bool:
        return lines % _CHECK_CLOCK_EVERY == 0

    def tick(self, lines: int, current: Input) -> None:
        gc.collect(1)
        if self.progress is None:
            return
        if self.shared is not None:
            shared, slot = self.shared
            shared[slot] = self.progress.done(current) or 0
            return
        now = time.monotonic()
        if now - self.last_report >= PROGRESS_EVERY_S:
            rate = (lines - self.reported) / max(now - self.last_report, 1e-9)
            click.echo(self.progress.line(lines, rate, current, now), err=True)
            self.last_report, self.reported = now, lines


def message_lines(
    opened: list[Input], progress: Progress | None = None
) -> Iterator[tuple[str, int, bytes]]:
    """(source, line number, line) of every non-empty line of every input, in order (see
    `input_lines`). With `progress`, reports on stderr about every 2 seconds."""
    clock = LineClock(progress)
    lines = input_lines(opened, progress)
    for count, (_index, current, source, line_number, raw) in enumerate(lines, 1):
        yield source, line_number, raw
        if clock.due(count):
            clock.tick(count, current)


def opened_inputs(inputs: Iterable[tuple[str, Iterable[bytes]] | Input]) -> list[Input]:
    return [item if isinstance(item, Input) else Input(*item) for item in inputs]


def ingest(
    pipeline: Pipeline,
    inputs: Iterable[tuple[str, Iterable[bytes]] | Input],
    summary: ReplaySummary,
    dead_letters: BinaryIO | None = None,
    part: JobPart | None = None,
) -> None:
    """Run every non-empty line of every input (an `Input` or (path, lines)) through the
    pipeline, in order; count outcomes in `summary`, write dead letters, report progress
    on stderr (with a total and an ETA when every input's size is known). With `part`,
    only the lines that job owns, keeping dead letters in `part` and reporting progress
    into its shared array."""
    opened = opened_inputs(inputs)
    progress = Progress(opened)
    clock = LineClock(progress if part is None else None)  # a job reports into `part`
    process = pipeline.process
    owns, job = (part.owned.owns, part.owned.job) if part is not None else (None, 0)
    applied, duplicate, rejected = Status.APPLIED, Status.DUPLICATE, Status.REJECTED
    with young_collections_only():
        lines = input_lines(opened, progress, part.owned if part is not None else None)
        for index, current, source, line_number, raw in lines:
            if owns is not None and not owns(index, line_number, raw):
                continue
            summary.lines += 1
            outcome = process(raw, source, 0, line_number)
            status = outcome.status
            if status is applied:
                summary.applied += 1
            elif status is duplicate:
                summary.duplicates += 1
            elif status is rejected:
                summary.rejected += 1
                if outcome.dead_letter is not None:
                    if part is not None:
                        position = (index << LINE_BITS) | line_number
                        part.dead_letters.append((position, outcome.dead_letter))
                    elif dead_letters is not None:
                        dead_letters.write(outcome.dead_letter + b"\n")
            else:
                summary.after_as_of += 1
            if not summary.lines % _CHECK_CLOCK_EVERY:  # `LineClock.due`, inlined: per line
                clock.tick(summary.lines, current)
                if part is not None:
                    part.progress[PROGRESS_SLOTS * job] = summary.lines
                    part.progress[PROGRESS_SLOTS * job + 1] = progress.done(current) or 0
    if part is not None:
        part.progress[PROGRESS_SLOTS * job] = summary.lines
        part.progress[PROGRESS_SLOTS * job + 1] = progress.finished_bytes


def evaluation_time(pipeline: Pipeline, as_of: int | None) -> int:
    """--as-of, else the latest applied occurred_at (the epoch when nothing was applied)."""
    if as_of is not None:
        return as_of
    return 0 if pipeline.latest_applied == NO_TIME else pipeline.latest_applied


def replay_pipeline(
    config: PulseConfig, as_of: int | None, may_repeat: set[int] | None = None
) -> Pipeline:
    """The pipeline every file-based command runs (replay, accounts, reports). No admission
    clock: nothing in a file is "in the future"; events after --as-of are kept out before
    admission (Pipeline.apply_until); a file carries no topics to check. `may_repeat`: see
    `repeated_ids`."""
    return Pipeline(config, clock=None, apply_until=as_of, check_topic=False, may_repeat=may_repeat)


def repeated_ids(
    paths: Sequence[str],
    config: PulseConfig,
    report: bool = True,
    owned: OwnedLines | None = None,
    shared: tuple[Any, int] | None = None,
) -> set[int] | None:
    """The keys of the event ids that can occur more than once in the files `paths`, from
    a first read of every line (streams/ingest/repeated_ids.py): admission then remembers
    only those, with the same verdicts. None (every id remembered) when an input cannot be
    read twice: stdin, a pipe. With `report`, progress on stderr as for the run itself.
    With `owned` (a job of `--jobs N`), only the job's own lines count, and `owned` keeps
    which they are; with `shared`, progress goes there (`LineClock.shared`)."""
    if not paths or not all(os.path.isfile(path) for path in paths):
        return None  # decided before opening: a named pipe opened once has lost its bytes
    with ExitStack() as stack:
        opened = [_open_input(path, stack) for path in paths]
        input_bytes = sum(
            (GZIP_RATIO if item.path.endswith(".gz") else 1) * (item.size or 0) for item in opened
        )
        progress = Progress(opened, label=FIRST_READ)
        clock = LineClock(progress if report or shared else None, shared)
        blocks = _blocks(opened, clock, owned)
        return repeated_keys(blocks, filter_bits(input_bytes), config.decoder().decode)


def _blocks(
    opened: list[Input], clock: LineClock, owned: OwnedLines | None = None
) -> Iterator[bytes]:
    """Every line of every input as read, in blocks of whole lines (line breaks and empty
    lines included: the first read needs no more), or with `owned` only a job's own;
    `clock` ticks after every block."""
    count = 0
    for current in opened:
        if current.read is None:  # not a file: `repeated_ids` reads files only
            continue
        blocks = line_blocks(current.read)
        if current.path.endswith(".gz"):
            blocks = _gunzipped(current.path, blocks)
        for block in blocks if owned is None else owned.select(blocks):
            yield block
            count += block.count(b"\n")
            clock.tick(count, current)
        if clock.progress is not None and current.size is not None:
            clock.progress.finished_bytes += current.size


def run_job(spec: JobSpec, progress: Any) -> tuple[JobIngest, Pipeline]:
    """One child of `--jobs N`: the lines of its accounts; what it hands back, and its
    pipeline for `job_snapshot`."""
    owned = OwnedLines(LineOwner(spec.jobs), spec.job)
    slot = (progress, PROGRESS_SLOTS * spec.job + 2)
    may_repeat = repeated_ids(spec.paths, spec.config, report=False, owned=owned, shared=slot)
    pipeline = replay_pipeline(spec.config, spec.as_of, may_repeat)
    summary = ReplaySummary()
    part = JobPart(owned, progress)
    with ExitStack() as stack:
        ingest(pipeline, [_open_input(path, stack) for path in spec.paths], summary, part=part)
    ingested = JobIngest(
        summary.lines,
        summary.applied,
        summary.duplicates,
        summary.rejected,
        summary.after_as_of,
        pipeline.latest_applied,
        pipeline.counters,
        part.dead_letters if spec.keep_dead_letters else [],
    )
    return ingested, pipeline


def job_snapshot(pipeline: Pipeline, as_of: int, config: PulseConfig) -> JobSnapshot:
    """A child's share of the evaluation at `as_of`, pruned as one process prunes first."""
    engine = pipeline.engine
    engine.prune()
    feature_sets = {} if engine.config.features else engine.window_feature_sets(as_of)
    totals = run_steps(engine.tally_steps(as_of, 0, keep_evaluations=False))
    accounts = AccountTally(config.accounts.watchlist)
    rows = []
    for record in pipeline_records(pipeline, as_of, config):
        rows.append(account_row(record))
        accounts.add_candidate(record)
    return JobSnapshot(totals, feature_sets, rows, accounts.candidates())


def job_records(
    pipeline: Pipeline, as_of: int, config: PulseConfig, size: int
) -> Iterator[list[tuple[str, bytes]]]:
    """A child's account records at `as_of` (`pulse accounts --jobs N`) in slices of `size`,
    each record as (account_id, the JSON-ready record's compact JSON), in account_id order,
    pruned as one process prunes first. As JSON a record is about 3 KB, against about
    17 KB as Python objects."""
    pipeline.engine.prune()
    records = (
        (record["account_id"], orjson.dumps(to_json_ready(record)))
        for record in pipeline_records(pipeline, as_of, config)
    )
    while slice_ := list(islice(records, size)):
        yield slice_


F = TypeVar("F", bound=Callable[..., None])


def jobs_option(what: str) -> Callable[[F], F]:
    """`--jobs N|auto` of the commands that split accounts across processes (replay, accounts)."""
    return click.option(
        "--jobs",
        type=JobsParam(),
        default="auto",
        show_default=True,
        help="Processes to split the accounts across (by the partition the worker would read them "
        f"from); {what} is the same as with one. auto: one per core (at most 8) when the inputs "
        "are files of 4 MB or more, else one. A number above 1 needs files, not stdin.",
    )


def resolved_jobs(files: tuple[str, ...], jobs: int | None) -> int:
    """The number of processes of `--jobs` (None: auto, `auto_jobs`); above 1 only for
    files, which each job reads again."""
    if jobs is None:
        jobs = auto_jobs(files)
    if jobs > 1 and (not files or "-" in files):
        raise ReplayUsageError(
            "--jobs above 1 reads each input once per job: pass files, not stdin (-)."
        )
    return jobs


def run_in_jobs(
    jobs: int,
    inputs: list[Input],
    config: PulseConfig,
    as_of: int | None,
    pipeline: Pipeline,
    summary: ReplaySummary,
    dead_letters: BinaryIO | None,
    *,
    on_records: Callable[[Iterator[tuple[str, bytes]]], None] | None = None,
    require_applied: bool = True,
) -> tuple[int, list[Any]]:
    """`ingest` and the evaluation across `jobs` processes (streams/cli/replay_jobs.py):
    the evaluation time (the one process's) and each job's `JobSnapshot` in job order, or,
    with `on_records`, nothing: the jobs' records go to `on_records` (`run_jobs`).
    `pipeline` (fresh) gets the jobs' counters and `summary` their lines;
    `require_applied`: no applied event ends the run as it ends one process's replay."""
    progress = Progress(inputs)
    files = tuple(item.path for item in inputs)
    last = [time.monotonic(), 0]

    def report(shared: list[int]) -> None:
        now, lines = time.monotonic(), sum(shared[0::PROGRESS_SLOTS])
        if not lines:  # the jobs are starting, or in their first read
            first_read, total = min(shared[2::PROGRESS_SLOTS]), progress.total
            if first_read and total:
                click.echo(
                    f"{FIRST_READ}: {min(first_read / total, 1.0):.0%} of {total / 1e6:,.1f} MB",
                    err=True,
                )
            progress.started = last[0] = now  # the lines' rate and ETA count from here
            return
        rate = (lines - last[1]) / max(now - float(last[0]), 1e-9)
        click.echo(progress.line_at(lines, rate, min(shared[1::PROGRESS_SLOTS]), now), err=True)
        last[0], last[1] = now, lines

    def evaluation_time_of(ingests: list[JobIngest]) -> int:
        for _, record in merge_ingests(pipeline, ingests):
            dead_letters.write(record + b"\n")  # type: ignore[union-attr]
        for ingested in ingests:
            summary.lines += ingested.lines
            summary.applied += ingested.applied
            summary.duplicates += ingested.duplicates
            summary.rejected += ingested.rejected
            summary.after_as_of += ingested.after_as_of
        if require_applied and not summary.applied:
            raise ReplayError(_nothing_applied(summary))
        evaluated_at = evaluation_time(pipeline, as_of)
        _say_evaluating(
            progress.started,
            evaluated_at,
            "every account's record"
            if on_records is not None
            else "the metrics and every account's record",
        )
        return evaluated_at

    answers = run_jobs(
        jobs,
        files,
        config,
        as_of,
        dead_letters is not None,
        evaluation_time_of,
        report,
        PROGRESS_EVERY_S,
        on_records,
    )
    return evaluation_time(pipeline, as_of), answers


def _replay_jobs(
    jobs: int,
    inputs: list[Input],
    config: PulseConfig,
    as_of: int | None,
    pipeline: Pipeline,
    summary: ReplaySummary,
    dead_letters: BinaryIO | None,
) -> tuple[int, list[Sample]]:
    """`run_in_jobs`, the jobs' snapshots merged: the evaluation time and the samples,
    the same as one process's."""
    evaluated_at, snapshots = run_in_jobs(
        jobs, inputs, config, as_of, pipeline, summary, dead_letters
    )
    merged = merge_snapshots(snapshots, config.accounts.watchlist)
    samples = [
        *pipeline.engine.samples(merged.totals, evaluated_at, merged.feature_sets),
        *merged.accounts.samples(config.accounts),
    ]
    return evaluated_at, samples


def run_replay(
    files: tuple[str, ...],
    as_of_text: str | None,
    out: str,
    dead_letter: str | None,
    config_path: str | None,
    ratios: bool = True,
    fmt: str = "text",
    jobs: int | None = 1,
) -> ReplaySummary:
    """`pulse replay` at one instant; `jobs` None: `--jobs auto` (`auto_jobs`)."""
    as_of = parse_time(as_of_text) if as_of_text is not None else None
    config = load_config(config_path)
    jobs = resolved_jobs(files, jobs)
    summary = ReplaySummary(jobs=jobs)
    started = time.monotonic()
    with ExitStack() as stack:
        inputs = [_open_input(path, stack) for path in (files or ("-",))]
        output = _open_output(out, "output", stack)
        dead_letters = _open_output(dead_letter, "dead-letter", stack) if dead_letter else None
        # each job finds its own repeated ids (replay_jobs.py); one process finds them here
        pipeline = replay_pipeline(config, as_of, None if jobs > 1 else repeated_ids(files, config))
        stack.enter_context(young_collections_only())
        if jobs > 1:  # the children open the inputs again; these only gave their sizes
            evaluated_at, samples = _replay_jobs(
                jobs, inputs, config, as_of, pipeline, summary, dead_letters
            )
        else:
            ingest(pipeline, inputs, summary, dead_letters)
            if not summary.applied:
                raise ReplayError(_nothing_applied(summary))
            evaluated_at = evaluation_time(pipeline, as_of)
            _say_evaluating(started, evaluated_at)
            pipeline.engine.prune()  # as the worker does at its checkpoints: nothing within the horizon changes
            samples = [
                *pipeline.engine.snapshot(evaluated_at, keep_evaluations=False),
                *_account_samples(pipeline, evaluated_at, config),
            ]
        exposition = Exposition(ratios=ratios, currency=config.revenue.reporting_currency)
        if fmt == "openmetrics":
            from streams.cli.history import OpenMetricsHistory
            from streams.exposition import metric_families

            history = OpenMetricsHistory()
            history.add(evaluated_at, metric_families(samples, pipeline.counters, exposition))
            history.write(output)
        else:
            output.write(render_text(samples, pipeline.counters, exposition))
        output.flush()
    summary.seconds = time.monotonic() - started
    click.echo(summary.line(evaluated_at, dead_letter), err=True)
    return summary


def _say_evaluating(
    started: float, as_of: int, what: str = "the metrics and every account's record"
) -> None:
    """On a run long enough to report progress, say what the silent last part does (on
    100,000 users, the records take tens of seconds after the last line)."""
    if time.monotonic() - started >= PROGRESS_EVERY_S:
        click.echo(
            f"replay: every line run; {what} as of {rfc3339_ms(as_of)} next",
            err=True,
        )


def _account_samples(pipeline: Pipeline, as_of: int, config: PulseConfig) -> list[Sample]:
    """The account layer's aggregates and watchlist (streams/engine/account_metrics.py), as a
    worker owning every partition exports them."""
    return account_samples(pipeline_records(pipeline, as_of, config), config.accounts)


def pipeline_records(
    pipeline: Pipeline, as_of: int, config: PulseConfig
) -> Iterator[dict[str, Any]]:
    """Every account's record at `as_of`, sorted by account_id, one at a time; each
    account's revenue evaluation is dropped once its record is made (one record each)."""
    engine = pipeline.engine
    states = [
        (account_id, engine.store.get(account_id)) for account_id in list(engine.store.keys())
    ]
    return iter_account_records(
        [(a, s) for a, s in states if s is not None],
        as_of,
        engine.config,
        engine.revenue_config,
        config.accounts,
        keep_evaluations=False,
    )


def _nothing_applied(summary: ReplaySummary) -> str:
    if not summary.lines:
        return "The input holds no event (no non-empty line): pass a JSONL file with one event per line."
    return (
        f"No event was applied: of {summary.lines} lines, {summary.rejected} were rejected, "
        f"{summary.duplicates} duplicates and {summary.after_as_of} after --as-of; "
        "check --as-of and the dead letters (--dead-letter PATH)."
    )


class JobsParam(click.ParamType):
    """`--jobs`: a number of processes (1 or more), or `auto` (None: see `auto_jobs`)."""

    name = "N|auto"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[N|auto]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return None
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is neither a number of processes (1 or more) nor auto.", param, ctx)


@click.command("replay")
@click.argument("files", nargs=-1, metavar="[FILE ...|-]")
@click.option(
    "--as-of",
    "as_of",
    metavar="TIME",
    help="Evaluation time: RFC 3339 with an offset, or epoch milliseconds (not seconds). Later events are "
    "counted as after --as-of, not applied and not rejected. Default: the latest applied occurred_at.",
)
@click.option(
    "--out",
    default="-",
    metavar="PATH",
    show_default=True,
    help="Where to write the Prometheus text exposition (- = stdout).",
)
@click.option(
    "--dead-letter",
    "dead_letter",
    metavar="PATH",
    help="Write a dead-letter record (JSONL) for every rejected line here.",
)
@click.option(
    "--config", "config_path", metavar="PATH", help="TOML file with [policy], [engine], [revenue]."
)
@click.option(
    "--ratios/--no-ratios",
    default=True,
    show_default=True,
    help="Also print the global ratios (stickiness, adoption, CSAT, NPS, CES, NRR, GRR, churn, ARPA, "
    "quick ratio) computed over every input event; --no-ratios prints what a worker exports.",
)
@click.option(
    "--from",
    "from_",
    metavar="TIME",
    help="With --to and --step: the first step of a history (RFC 3339 or epoch ms).",
)
@click.option(
    "--to",
    "to",
    metavar="TIME",
    help="With --from and --step: the last step is the latest step at or before it.",
)
@click.option(
    "--step",
    metavar="DURATION",
    help="With --from and --to: every metric at every step (1h, 1d, 15m), "
    "as OpenMetrics with timestamps for promtool tsdb create-blocks-from openmetrics.",
)
@click.option(
    "--account-series/--no-account-series",
    "account_series",
    default=False,
    show_default=True,
    help="With --step: also write, at every step, the account layer's aggregates and watchlist "
    "(pulse_accounts, pulse_accounts_mrr, pulse_mrr_at_risk, pulse_onboarding_*, "
    "pulse_watchlist_account_*), so each step equals pulse replay --as-of T in full. Every "
    "account's record is recomputed at every step: far slower (docs/operations.md).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "openmetrics"]),
    help="text: the Prometheus text format (default for one instant); openmetrics: with a timestamp per "
    "sample (the only format with --step).",
)
@jobs_option("the output")
def replay(
    files: tuple[str, ...],
    as_of: str | None,
    out: str,
    dead_letter: str | None,
    config_path: str | None,
    ratios: bool,
    from_: str | None,
    to: str | None,
    step: str | None,
    fmt: str | None,
    jobs: int | None,
    account_series: bool,
) -> None:
    """Compute every metric from JSONL events (the Kafka message format, one per line).

    Lines go through the worker's decode, validate, de-duplicate and late policies and
    its metric engine, in file order; the metrics as of --as-of are written as Prometheus
    text. Reads stdin when no FILE (or -) is given; FILE may be gzip-compressed (.gz).
    Files are read twice: first for the event ids that occur more than once, the only
    ones de-duplication then keeps in memory (stdin: every id, as a worker does).
    Exit status: 0 done, 1 the run failed (e.g. no event applied), 2 a bad option or path.
    """
    try:
        if from_ is None and to is None and step is None:
            if account_series:
                raise ReplayUsageError(
                    "--account-series belongs to a history (a one-instant replay always prints "
                    "the account series): add --from, --to and --step, or drop --account-series."
                )
            run_replay(files, as_of, out, dead_letter, config_path, ratios, fmt or "text", jobs)
            return
        if jobs is not None and jobs > 1:
            raise ReplayUsageError(
                "--jobs applies to one instant, not to a history (--from/--to/--step): drop --jobs."
            )
        from streams.cli.history import check_history_options, run_history

        check_history_options(from_, to, step, fmt, as_of, dead_letter)
        run_history(files, from_, to, step, out, config_path, ratios, account_series)  # type: ignore[arg-type]
    except PulseError as error:
        fail(error)
