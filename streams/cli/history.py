"""`pulse replay --from A --to B --step 1h`: every series at every step, with timestamps.

What it computes: for each step T = A, A+step, ..., <= B, exactly the metrics a one-instant
`pulse replay FILE --as-of T` prints (same pipeline counters, same admission verdicts,
same engine snapshot), written as OpenMetrics text that
`promtool tsdb create-blocks-from openmetrics` turns into Prometheus blocks (the history
of a new deployment; docs/operations.md, "Backfilling history").

Why it is not a loop of one-instant replays: that costs steps x events. Here every line is
decoded once by replay's pipeline, the events are sorted by (occurred_at, line), and each
step only runs the events that occurred since the previous one through that pipeline
(admission, engine: `Pipeline.admit_and_apply`, the per-message path of the worker and of
replay); the snapshot at T is incremental (streams/engine/incremental.py): only the users
and accounts touched since the previous step, or whose window edges T has crossed, are
recounted. This module adds the stepping and nothing of the per-message path.

What a one-instant replay at T sees: the lines whose occurred_at <= T, judged in FILE
order. Adding events in time order judges them the same way as long as, within an
account, every newly included event comes after (in the file) every event already
included: then the new ones are simply appended to the file-order sequence. Admission is
per account (dedup and stream time are per (account, topic)), so this is checked per
account. When a newly included event sits earlier in the file than one already included
(a late delivery: the file holds a newer event first), the account's verdicts can change
for events already judged: an event accepted at an earlier step may become too late now
that a newer lane-mate precedes it, or a duplicate. Such an account is re-judged from
its included events in file order by a fresh pipeline of its own, and its admission
state is replaced; if events were only added to its accepted set they are applied,
otherwise the account's engine state is the fresh pipeline's (rebuilt from its accepted
events) (`rejudged` and `rebuilt` in
the summary count these). Accounts are independent in the engine too (a snapshot sums
over accounts), so nothing else is touched.

The account layer's aggregates and watchlist (`pulse_accounts`, `pulse_mrr_at_risk`, ...)
are opt-in (--account-series): each step then also holds the samples replay's
`_account_samples` gives at T (the same function), so the step is `pulse replay --as-of T`
in full; they are every account's record and health recomputed at every step, which costs
far more than the incremental global series (docs/operations.md, "Backfilling history").

Lines that fail decoding are counted at every step, as a one-instant replay counts them
(decoding happens before the --as-of cut). Events after B are "after as-of".
Cost: decode + sort (n log n) + apply once per event + per step the recounts of what
changed and the samples, i.e. O(events x (1 + window edges crossed) + steps x samples),
plus the re-judged accounts' events (docs/performance.md, "History").
"""

from __future__ import annotations

import heapq
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from operator import itemgetter
from typing import BinaryIO

import click
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

from streams.cli.replay import (
    ReplayError,
    ReplayUsageError,
    _account_samples,
    _open_input,
    _open_output,
    message_lines,
    opened_inputs,
    parse_time,
    replay_pipeline,
    young_collections_only,
)
from streams.contract.deadletter import rejected_reason_label
from streams.contract.decoding import Rejection
from streams.contract.model import Event
from streams.contract.rfc3339 import rfc3339_ms
from streams.engine.incremental import IncrementalSnapshot
from streams.engine.samples import Sample
from streams.engine.timeline import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from streams.exposition import Exposition, FamiliesCollector, metric_families
from streams.ingest.counters import PipelineCounters
from streams.ingest.pipeline import Outcome, Pipeline, Status
from streams.pulse_config import PulseConfig, load_config

STEP_UNITS_MS = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}
MAX_STEPS = 100_000
PRUNE_EVERY_MS = DAY_MS
"""Stream time between two prunes of an account (as the worker's checkpoints prune)."""

SOURCE = "replay:history"
"""The source a history's pipeline names (it writes no dead letters: --dead-letter is refused)."""
Key = tuple[str, str]
"""An outcome as counted by the pipeline counters: ("event", type), ("duplicate", ""), ("rejected", reason)."""


def parse_step(text: str) -> int:
    """A step like 1h, 1d, 15m, 30s -> milliseconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match or int(match.group(1)) == 0:
        raise ReplayUsageError(
            f"--step {text!r} is not a duration: give a positive whole number with s, m, h or d (1h, 1d)."
        )
    return int(match.group(1)) * STEP_UNITS_MS[match.group(2)]


def step_times(start: int, end: int, step: int) -> list[int]:
    if end < start:
        raise ReplayUsageError(
            f"--to {rfc3339_ms(end)} is before --from {rfc3339_ms(start)}: give --to at or after --from."
        )
    count = (end - start) // step + 1
    if count > MAX_STEPS:
        raise ReplayUsageError(
            f"--from/--to/--step give {count:,} steps, more than {MAX_STEPS:,}: use a longer --step or a shorter period."
        )
    return [start + i * step for i in range(count)]


def _key(outcome: Outcome) -> Key:
    """How the pipeline counters count an outcome."""
    status = outcome.status
    if status is Status.DUPLICATE:
        return ("duplicate", "")
    if status is Status.APPLIED and outcome.event is not None:
        return ("event", outcome.event.type)
    if outcome.rejection is not None:
        return ("rejected", rejected_reason_label(outcome.rejection.reason))
    raise RuntimeError(f"a {status.name} outcome without its event or rejection")


@dataclass(slots=True)
class _Account:
    """The events of one account included so far, in file order, and how they were judged."""

    included: list[tuple[int, Event]] = field(default_factory=list)
    accepted: set[int] = field(default_factory=set)
    counts: Counter[Key] = field(default_factory=Counter)

    @property
    def last_line(self) -> int:
        return self.included[-1][0] if self.included else -1


class SteppedReplay:
    """The one-instant replay at each step, computed incrementally (see the module header).

    Events go through `pipeline` (replay's, whose decoder already judged every line),
    whose counters are the ones a one-instant replay at the current step ends with."""

    def __init__(self, config: PulseConfig, pipeline: Pipeline | None = None) -> None:
        self.config = config
        self.pipeline = pipeline if pipeline is not None else replay_pipeline(config, None)
        self.engine = self.pipeline.engine
        self.incremental = IncrementalSnapshot(self.engine)
        self.accounts: dict[str, _Account] = {}
        self.rejudged = 0
        self.rebuilt = 0
        self.pruned_at: int | None = None
        self.include_seconds = 0.0
        self.snapshot_seconds = 0.0
        self.account_seconds = 0.0
        """CPU time spent including events, taking snapshots and (with --account-series)
        computing the account layer's samples (for the benchmark)."""

    def include(self, batch: Iterable[tuple[int, Event]]) -> None:
        """Include events (line index, event) that occurred at or before the next step."""
        started = time.process_time()
        by_account: dict[str, list[tuple[int, Event]]] = {}
        for item in batch:
            by_account.setdefault(item[1].account_id, []).append(item)
        for account_id, items in by_account.items():
            items.sort(key=itemgetter(0))
            account = self.accounts.get(account_id)
            if account is None:
                account = self.accounts[account_id] = _Account()
            if items[0][0] > account.last_line:
                self._append(account, items)
            else:
                self._rejudge(account_id, account, items)
        self.include_seconds += time.process_time() - started

    def _append(self, account: _Account, items: list[tuple[int, Event]]) -> None:
        admit_and_apply, touch = self.pipeline.admit_and_apply, self.incremental.touch
        counts = account.counts
        for index, event in items:
            outcome = admit_and_apply(event, b"", SOURCE, 0, index)
            counts[_key(outcome)] += 1
            if outcome.status is Status.APPLIED:
                account.accepted.add(index)
                touch(event)
        account.included.extend(items)

    def _rejudge(self, account_id: str, account: _Account, items: list[tuple[int, Event]]) -> None:
        """Judge the account's included events again in file order, with a pipeline of
        its own (fresh admission state, fresh engine), and take over its results."""
        self.rejudged += 1
        merged = list(heapq.merge(account.included, items, key=itemgetter(0)))
        fresh = replay_pipeline(self.config, None)
        counts: Counter[Key] = Counter()
        accepted: list[tuple[int, Event]] = []
        for index, event in merged:
            outcome = fresh.admit_and_apply(event, b"", SOURCE, 0, index)
            counts[_key(outcome)] += 1
            if outcome.status is Status.APPLIED:
                accepted.append((index, event))
        state = self.pipeline.admission.state
        admitted = fresh.admission.state.get(account_id)
        if admitted is not None:
            state[account_id] = admitted
        elif state.get(account_id) is not None:
            del state[account_id]
        accepted_lines = {index for index, _ in accepted}
        store = self.engine.store
        if account.accepted <= accepted_lines:
            for index, event in accepted:
                if index not in account.accepted:
                    self.engine.apply(event)
        else:  # an event applied before is no longer admitted: the fresh engine's state is right
            self.rebuilt += 1
            rebuilt = fresh.engine.store.get(account_id)
            if rebuilt is not None:
                store[account_id] = rebuilt
            elif store.get(account_id) is not None:
                del store[account_id]
        self.incremental.touch_account(account_id)
        _count_into(self.pipeline.counters, account.counts, -1)
        _count_into(self.pipeline.counters, counts, 1)
        account.included, account.accepted, account.counts = merged, accepted_lines, counts

    def counters(self) -> PipelineCounters:
        """The pipeline counters a one-instant replay at the current step ends with (a copy)."""
        counters = self.pipeline.counters
        return PipelineCounters(
            dict(counters.events_by_type), dict(counters.rejected_by_reason), counters.duplicates
        )

    def snapshot(self, as_of: int) -> list[Sample]:
        started = time.process_time()
        if self.pruned_at is None or as_of - self.pruned_at >= PRUNE_EVERY_MS:
            # pruning changes no snapshot at or after an account's clocks; a pass over the
            # accounts once per day of steps keeps memory bounded as the worker does
            self.engine.prune(step_ms=PRUNE_EVERY_MS)
            self.pruned_at = as_of
        samples = self.incremental.snapshot(as_of)
        self.snapshot_seconds += time.process_time() - started
        return samples

    def account_samples(self, as_of: int) -> list[Sample]:
        """The account layer's aggregates and watchlist at `as_of`, by the function a
        one-instant replay prints them with: every account's record and health, recomputed
        in full at every step (not incremental; docs/operations.md gives the cost)."""
        started = time.process_time()
        samples = _account_samples(self.pipeline, as_of, self.config)
        self.account_seconds += time.process_time() - started
        return samples

    @property
    def applied(self) -> int:
        return sum(self.pipeline.counters.events_by_type.values())


def _count_into(counters: PipelineCounters, counts: Counter[Key], sign: int) -> None:
    """Add (sign 1) or take back (sign -1) outcomes counted by `_key`."""
    for (kind, label), count in counts.items():
        if kind == "event":
            counters.events_by_type[label] = counters.events_by_type.get(label, 0) + sign * count
        elif kind == "duplicate":
            counters.duplicates += sign * count
        else:
            reasons = counters.rejected_by_reason
            reasons[label] = reasons.get(label, 0) + sign * count
            if not reasons[label]:
                del reasons[label]


@dataclass(slots=True)
class Decoded:
    """Every line of the inputs decoded once: events to include (sorted by time, then
    line), and the pipeline that decoded them (it has counted the lines it rejected)."""

    events: list[tuple[int, int, Event]]  # (occurred_at, line index, event)
    pipeline: Pipeline
    lines: int = 0
    after: int = 0


def decode_inputs(
    inputs: Iterable[tuple[str, Iterable[bytes]]], config: PulseConfig, until: int
) -> Decoded:
    """Decode every non-empty line with replay's pipeline (its decoder; a line it rejects
    is counted as replay counts it); events after `until` are only counted."""
    pipeline = replay_pipeline(config, None)
    decode, reject = pipeline.decode, pipeline.reject
    events: list[tuple[int, int, Event]] = []
    index = after = 0
    with young_collections_only():
        for source, line_number, raw in message_lines(opened_inputs(inputs)):
            index += 1
            decoded = decode(raw, None)
            if isinstance(decoded, Rejection):
                reject(raw, decoded, source, 0, line_number)
            elif decoded.occurred_at > until:
                after += 1
            else:
                events.append((decoded.occurred_at, index, decoded))
    events.sort(key=itemgetter(0, 1))
    return Decoded(events, pipeline, index, after)


def stepped_states(
    decoded: Decoded, config: PulseConfig, steps: list[int]
) -> Iterator[tuple[int, SteppedReplay]]:
    """(T, the replay holding the state a one-instant replay at T has) at each step T."""
    replay = SteppedReplay(config, decoded.pipeline)
    events, position = decoded.events, 0
    with young_collections_only():
        for as_of in steps:
            end = position
            while end < len(events) and events[end][0] <= as_of:
                end += 1
            if end > position:
                replay.include((index, event) for _, index, event in events[position:end])
                position = end
            yield as_of, replay


def stepped_snapshots(
    decoded: Decoded, config: PulseConfig, steps: list[int], account_series: bool = False
) -> Iterator[tuple[int, list[Sample], PipelineCounters, SteppedReplay]]:
    """(T, samples, counters, the replay) at each step T; with `account_series`, the
    samples also hold the account layer's, as a one-instant replay at T prints them."""
    for as_of, replay in stepped_states(decoded, config, steps):
        samples = replay.snapshot(as_of)
        if account_series:
            samples = [*samples, *replay.account_samples(as_of)]
        yield as_of, samples, replay.counters(), replay


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""A series of a family: (sample name, labels)."""


class OpenMetricsHistory:
    """Collects each step's families, samples stamped with the step's time, and writes them
    family by family (OpenMetrics wants a family's samples together), each series' points
    together in time order, ending with # EOF.

    prometheus_client writes every family's header and every series' name and labels (one
    sample per series, so its escaping runs once per series, not once per point); each
    point then repeats that series' text with its value (the client's float format) and
    timestamp, as the client writes them. A series that is absent at some steps simply
    has no point there."""

    def __init__(self) -> None:
        self.families: dict[str, Metric] = {}
        """Family name -> the family with its first sample of every series."""
        self.points: dict[str, dict[SeriesKey, list[tuple[float, float]]]] = {}
        """Family name -> series (sample name, labels) -> its (value, timestamp) points."""

    def add(self, as_of: int, families: Iterable[Metric]) -> None:
        seconds = as_of / 1000
        for family in families:
            kept = self.families.get(family.name)
            if kept is None:
                kept = self.families[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
                self.points[family.name] = {}
            series = self.points[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sample.labels.items()))
                points = series.get(key)
                if points is None:
                    points = series[key] = []
                    kept.samples.append(sample._replace(value=0.0, timestamp=None))
                points.append((sample.value, seconds))

    @property
    def point_count(self) -> int:
        return sum(len(points) for series in self.points.values() for points in series.values())

    def write(self, output: BinaryIO) -> None:
        for name, family in self.families.items():
            registry = CollectorRegistry(auto_describe=False)
            registry.register(FamiliesCollector.fixed([family]))
            lines = openmetrics_latest(registry).decode().split("\n")
            header = [line for line in lines if line.startswith("#") and line != "# EOF"]
            firsts = [line for line in lines if line and not line.startswith("#")]
            series = self.points[name]
            if len(firsts) != len(series):  # one line per series, in the order kept
                raise RuntimeError(f"{name}: {len(firsts)} lines for {len(series)} series")
            text = ["\n".join(header), "\n"]
            zero = " " + floatToGoString(0.0)
            for first, points in zip(firsts, series.values(), strict=True):
                prefix = first[: -len(zero)]
                text.extend(
                    f"{prefix} {floatToGoString(value)} {seconds}\n" for value, seconds in points
                )
            output.write("".join(text).encode())
        output.write(b"# EOF\n")


@dataclass(slots=True)
class HistorySummary:
    lines: int = 0
    steps: int = 0
    applied: int = 0
    after: int = 0
    rejudged: int = 0
    rebuilt: int = 0
    seconds: float = 0.0

    def line(self, start: int, end: int) -> str:
        return (
            f"replay: {self.lines} lines, {self.steps} steps from {rfc3339_ms(start)} to {rfc3339_ms(end)}, "
            f"{self.applied} applied at the last step, {self.after} after --to; "
            f"{self.rejudged} account re-judgements, {self.rebuilt} rebuilt; {self.seconds:.1f} s"
        )


def run_history(
    files: tuple[str, ...],
    from_text: str,
    to_text: str,
    step_text: str,
    out: str,
    config_path: str | None,
    ratios: bool = True,
    account_series: bool = False,
) -> HistorySummary:
    start, end = parse_time(from_text, "--from"), parse_time(to_text, "--to")
    steps = step_times(start, end, parse_step(step_text))
    config = load_config(config_path)
    summary = HistorySummary(steps=len(steps))
    started = time.monotonic()
    exposition = Exposition(ratios=ratios, currency=config.revenue.reporting_currency)
    history = OpenMetricsHistory()
    with ExitStack() as stack:
        inputs = [(path, _open_input(path, stack).lines) for path in (files or ("-",))]
        output = _open_output(out, "output", stack)
        decoded = decode_inputs(inputs, config, steps[-1])
        if not decoded.events:
            raise ReplayError(
                f"No event occurred at or before --to {rfc3339_ms(steps[-1])} among {decoded.lines} lines: "
                "check --to and the input."
            )
        replay = None
        for as_of, samples, counters, replay in stepped_snapshots(  # noqa: B007 - the last one is kept
            decoded, config, steps, account_series
        ):
            history.add(as_of, metric_families(samples, counters, exposition))
        history.write(output)
        output.flush()
    if replay is None:  # parse_step gives at least one step, so a snapshot was taken
        raise ReplayError("No step to evaluate: check --from, --to and --step.")
    summary.lines, summary.after = decoded.lines, decoded.after
    summary.applied, summary.rejudged, summary.rebuilt = (
        replay.applied,
        replay.rejudged,
        replay.rebuilt,
    )
    summary.seconds = time.monotonic() - started
    click.echo(summary.line(steps[0], steps[-1]), err=True)
    return summary


def check_history_options(
    start: str | None,
    end: str | None,
    step: str | None,
    fmt: str | None,
    as_of: str | None,
    dead_letter: str | None,
) -> None:
    """The option combinations of a history, each refusal one sentence naming the fix."""
    missing = [
        name
        for name, value in (("--from", start), ("--to", end), ("--step", step))
        if value is None
    ]
    if missing:
        raise ReplayUsageError(
            f"A history needs --from, --to and --step together: add {' and '.join(missing)}."
        )
    if as_of is not None:
        raise ReplayUsageError(
            "--as-of is one instant and --from/--to/--step a history: drop --as-of or the history options."
        )
    if fmt == "text":
        raise ReplayUsageError(
            "A history is written as OpenMetrics (timestamps per sample): use --format openmetrics."
        )
    if dead_letter is not None:
        raise ReplayUsageError(
            "--dead-letter belongs to one-instant replays (a history judges events once per step): "
            "run pulse replay FILE --as-of TIME --dead-letter PATH for the dead letters."
        )
