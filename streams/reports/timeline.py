"""The account records and the engine's snapshot at the instants of a report's period.

One pass over the events (`streams.cli.history.stepped_states`: decoded once, applied once
in time order, judged as a one-instant replay at each instant would be), and at each
instant the records of `streams.engine.records` (the function `pulse accounts` and the
worker's API call) plus, for the portfolio, the global snapshot (`Engine.snapshot`, what
`pulse replay --as-of` prints). The state is pruned as `pulse accounts` prunes it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from streams.cli.history import (
    PRUNE_EVERY_MS,
    decode_inputs,
    parse_step,
    step_times,
    stepped_states,
)
from streams.cli.replay import ReplayError, ReplayUsageError, _open_input, parse_time
from streams.contract.rfc3339 import rfc3339_ms
from streams.engine import support
from streams.engine.records import account_band_and_mrr, account_records
from streams.engine.samples import Sample
from streams.engine.timeline import DAY_MS
from streams.pulse_config import PulseConfig

DAILY_UP_TO_DAYS = 120
"""Periods up to this long are sampled daily, longer ones weekly (charts stay readable)."""


@dataclass(frozen=True, slots=True)
class Period:
    start: int
    end: int

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        period = cls(parse_time(start, "--from"), parse_time(end, "--to"))
        if period.end <= period.start:
            raise ReplayUsageError(
                f"--to {rfc3339_ms(period.end)} is not after --from {rfc3339_ms(period.start)}: give --to after --from."
            )
        return period

    def instants(self, weekly_after_days: int = DAILY_UP_TO_DAYS) -> list[int]:
        """Daily (weekly for long periods) from the start, always ending with the end."""
        step = parse_step("1d" if self.end - self.start <= weekly_after_days * DAY_MS else "7d")
        times = step_times(self.start, self.end, step)
        return times if times[-1] == self.end else [*times, self.end]


@dataclass(slots=True)
class Point:
    """One instant of a period: the records there (one account's, or all) and optionally the snapshot."""

    at: int
    records: list[dict[str, Any]]
    samples: list[Sample] | None = None
    support: dict[str, support.SupportTotals] = field(default_factory=dict)
    """Each account's support totals at `at` (every account of `records`)."""
    bands: list[tuple[str, Any]] = field(default_factory=list)
    """Each account's (health band, MRR) at `at`, in account_id order: from `records`, or
    alone at an instant whose records were not asked for (`iter_points`)."""


def points(
    files: tuple[str, ...],
    config: PulseConfig,
    instants: list[int],
    account_id: str | None = None,
    snapshots: bool = False,
) -> list[Point]:
    """Every point of `iter_points`, each with its records."""
    return list(iter_points(files, config, instants, account_id, snapshots))


def iter_points(
    files: tuple[str, ...],
    config: PulseConfig,
    instants: list[int],
    account_id: str | None = None,
    snapshots: bool = False,
    records_at: Collection[int] | None = None,
) -> Iterator[Point]:
    """The records (of `account_id` only, when given) at each instant, one point at a
    time; with `snapshots`, the global snapshot too. Per account, the support totals
    (tickets, response and resolution times) with the engine's own tally. `records_at`:
    the instants that get whole records (None: every one); the others get each account's
    band and MRR alone (`Point.bands`), the same as their records would give."""
    with ExitStack() as stack:
        inputs = [(path, _open_input(path, stack).lines) for path in (files or ("-",))]
        decoded = decode_inputs(inputs, config, instants[-1])
    if not decoded.events:
        raise ReplayError(
            f"No event occurred at or before --to {rfc3339_ms(instants[-1])}: check --to and the input."
        )
    for as_of, replay in stepped_states(decoded, config, instants):
        engine = replay.engine
        # the history's incremental snapshot (it prunes as a history does)
        samples = replay.snapshot(as_of) if snapshots else None
        engine.prune(step_ms=PRUNE_EVERY_MS)
        states = _states(engine.store, account_id)
        setting = (engine.config, engine.revenue_config, config.accounts)
        tallies: dict[str, support.SupportTotals] = {}
        for key, state in states:
            totals = support.SupportTotals()
            support.tally(state.tickets, as_of, totals)
            tallies[key] = totals
        if records_at is None or as_of in records_at:
            records = account_records(states, as_of, *setting)
            bands = [(record["health"]["band"], record["mrr"]) for record in records]
            yield Point(as_of, records, samples, tallies, bands)
        else:
            bands = [
                account_band_and_mrr(key, state, as_of, *setting)
                for key, state in sorted(states, key=lambda item: item[0])
            ]
            yield Point(as_of, [], samples, tallies, bands)


def _states(store: Any, account_id: str | None) -> list[tuple[str, Any]]:
    if account_id is not None:
        state = store.get(account_id)
        return [] if state is None else [(account_id, state)]
    return [(key, state) for key in list(store.keys()) if (state := store.get(key)) is not None]


def sample_value(samples: Iterable[Sample], name: str, **labels: str) -> float | None:
    """The value of one series of a snapshot (None when absent)."""
    wanted = tuple(sorted(labels.items()))
    for sample in samples:
        if sample.name == name and tuple(sorted(sample.labels)) == wanted:
            return float(sample.value)
    return None
