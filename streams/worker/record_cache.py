"""The worker's cache of account records: computed ahead, in the background, within a budget.

Why: an account record costs about half a millisecond (three evaluations: now, 7 and 30
days earlier, for the trend), so 10,000 accounts cost seconds: far too slow to compute
for every scrape of /metrics or every portfolio query, and a worker catching up on a
backlog changes every account between two scrapes. So:

- The evaluation time is the worker's clock rounded down to `step_ms` (default one
  minute), or the frozen clock exactly (`--frozen-clock`).
- One account (`GET /accounts/{id}`) is always exact: computed again when an event changed
  the account (the book's `touched` set) or the step moved on.
- The whole portfolio and the account metrics read the cached records as they are, even
  when an account changed since or the record is of the previous step, and compute
  nothing: an account never computed yet is not in them until the refresh has computed
  it (as if its first events had not arrived yet). A background task (`refresh`, run by
  the worker in slices of a few milliseconds with pauses between them, so that it takes a
  bounded share of the event loop while events arrive) computes the new, changed and
  outdated records, so these answers lag the events by at most the time the refresh
  needs to go round. Computing on the spot the accounts a backlog brings faster than
  the refresh made a portfolio query take seconds (docs/performance.md).
- The cache is emptied whenever the book reloads its partitions (a rebalance).
- The refresh works through a queue built once per round (not a scan of every account
  per slice): accounts never computed first, so that a query rarely has one to compute
  on the spot, then changed and outdated ones.
- Each entry keeps, besides the record, its portfolio row (`streams.worker.portfolio_query.portfolio_row`:
  what the filters and sort keys read), so a portfolio query reads flat tuples, and the
  record's JSON bytes once asked, so `GET /accounts/{id}` of an unchanged account renders
  nothing.
- The account metrics (`account_samples`, what a scrape of /metrics adds over the records)
  are computed from the cached records once, then reused until a refresh round completes
  having computed something (or the partitions are reloaded): a scrape reads them as they
  were at the end of the last round, as the portfolio reads the records.
The records themselves come from `streams.engine.records.account_record` unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from streams.engine.account_metrics import account_samples_steps
from streams.engine.engine import Steps, run_steps
from streams.engine.records import account_record, to_json_ready
from streams.engine.samples import Sample
from streams.worker.portfolio_query import PortfolioRow, portfolio_row

DEFAULT_STEP_MS = 60_000


class _Entry:
    """One account's cached record at `as_of`, its portfolio row and (once asked) its JSON."""

    __slots__ = ("as_of", "json_bytes", "json_ready", "record", "row")

    def __init__(self, as_of: int, record: dict[str, Any]) -> None:
        self.as_of = as_of
        self.record = record
        self.row: PortfolioRow = portfolio_row(record)
        self.json_ready: dict[str, Any] | None = None
        self.json_bytes: bytes | None = None

    def rendered(self) -> dict[str, Any]:
        if self.json_ready is None:
            self.json_ready = to_json_ready(self.record)
        return self.json_ready


class RecordCache:
    def __init__(
        self, book: Any, clock: Callable[[], int], *, frozen: bool, step_ms: int = DEFAULT_STEP_MS
    ) -> None:
        self.book = book
        self.clock = clock
        self.frozen = frozen
        self.step_ms = step_ms
        self._entries: dict[str, _Entry] = {}  # only accounts loaded in the book (see `_sync`)
        self._rows: dict[str, PortfolioRow] = {}  # each entry's portfolio row, kept alongside
        self._changed: set[str] = set()  # accounts changed since their entry was computed
        self._generation = -1
        self._queue: list[str] = []  # the refresh's round, taken from the end (see the header)
        self._computed = 0  # records computed so far (moves on with every `_compute`)
        self._samples_of = -1  # `_computed` when the account samples were last made...
        self._samples_due = True  # ...and whether a round has completed with more since
        self._samples: tuple[tuple[int, int, int], list[Sample]] | None = None

    def as_of(self) -> int:
        now = self.clock()
        return now if self.frozen else now - now % self.step_ms

    def _sync(self) -> None:
        book = self.book
        if book.generation != self._generation:  # the partitions were reloaded
            self._entries.clear()
            self._rows.clear()
            self._changed.clear()
            self._queue = []
            self._generation = book.generation
            book.gone.clear()
        if book.gone:  # deleted by pruning: no longer in any answer
            for account_id in book.gone:
                self._drop(account_id)
            book.gone.clear()
        if book.touched:
            self._changed |= book.touched
            book.touched.clear()

    def _compute(self, account_id: str, as_of: int) -> _Entry | None:
        state = self.book.account_state(account_id)
        if state is None:
            self._drop(account_id)
            return None
        config = self.book.config
        record = account_record(
            account_id, state, as_of, config.engine, config.revenue, config.accounts
        )
        entry = _Entry(as_of, record)
        self._entries[account_id] = entry
        self._rows[account_id] = entry.row
        self._changed.discard(account_id)
        self._computed += 1
        return entry

    def _drop(self, account_id: str) -> None:
        self._entries.pop(account_id, None)
        self._rows.pop(account_id, None)
        self._changed.discard(account_id)

    def _current(self, account_id: str, entry: _Entry | None, as_of: int) -> bool:
        return entry is not None and entry.as_of == as_of and account_id not in self._changed

    def _exact(self, account_id: str, as_of: int) -> _Entry | None:
        self._sync()
        entry = self._entries.get(account_id)
        if not self._current(account_id, entry, as_of):
            entry = self._compute(account_id, as_of)
        return entry

    def record(self, account_id: str, as_of: int) -> dict[str, Any] | None:
        """One account's record at `as_of`, exact (Decimal money, epoch-ms times), or None."""
        entry = self._exact(account_id, as_of)
        return None if entry is None else entry.record

    def json_record(self, account_id: str, as_of: int) -> dict[str, Any] | None:
        """One account's record at `as_of` as `pulse accounts --format json` renders it."""
        entry = self._exact(account_id, as_of)
        return None if entry is None else entry.rendered()

    def json_bytes(self, account_id: str, as_of: int) -> bytes | None:
        """`json_record` serialised (orjson), kept until the account or the step changes."""
        entry = self._exact(account_id, as_of)
        if entry is None:
            return None
        if entry.json_bytes is None:
            entry.json_bytes = orjson.dumps(entry.rendered())
        return entry.json_bytes

    def _cached(self) -> list[_Entry]:
        """The entry of every loaded account the refresh has computed, as cached: after
        `_sync` the entries are of loaded accounts only (a reload empties them, a deleted
        account's entry goes with it), so no walk over the book's accounts is needed."""
        self._sync()
        return list(self._entries.values())

    def records(self, as_of: int) -> list[dict[str, Any]]:
        """Every loaded account's cached record (see the module header), by account_id;
        `as_of` is the step asked for: the records may be of an earlier one."""
        entries = sorted(self._cached(), key=lambda entry: entry.record["account_id"])
        return [entry.record for entry in entries]

    def rows(self, as_of: int) -> list[PortfolioRow]:
        """Every loaded account's cached portfolio row, in no particular order (the
        portfolio's order is total: streams/worker/portfolio_query.py)."""
        self._sync()
        return list(self._rows.values())

    def account_samples(self, owned: int, partitions: int) -> list[Sample]:
        """The account metrics over the cached records (see the module header)."""
        return run_steps(self.account_samples_steps(owned, partitions, 0))

    def account_samples_steps(
        self, owned: int, partitions: int, records_per_step: int
    ) -> Steps[list[Sample]]:
        """`account_samples` in steps of `records_per_step` records (0: at once), for a
        scrape that serves requests between them (0.1 s at 10,000 records otherwise)."""
        self._sync()
        key = (self._generation, owned, partitions)
        if self._samples is None or self._samples[0] != key or self._samples_due:
            computed, self._samples_due = self._computed, False  # (a round may end meanwhile)
            records = [entry.record for entry in self._cached()]  # sums and sorts need no order
            samples = yield from account_samples_steps(
                records, self.book.config.accounts, owned, partitions, records_per_step
            )
            self._samples = (key, samples)
            self._samples_of = computed
        return self._samples[1]

    def rendered(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Records taken from `rows` as `pulse accounts --format json` renders them, each
        rendered once per computation and kept with its entry."""
        out = []
        for record in records:
            entry = self._entries.get(record["account_id"])
            out.append(
                entry.rendered()
                if entry is not None and entry.record is record
                else to_json_ready(record)
            )
        return out

    def json_records(self, as_of: int) -> list[dict[str, Any]]:
        return [to_json_ready(record) for record in self.records(as_of)]

    def stale(self) -> int:
        """How many cached records are behind their account or the step."""
        self._sync()
        as_of = self.as_of()
        return sum(
            1
            for account_id, entry in self._entries.items()
            if not self._current(account_id, entry, as_of)
        )

    def _round(self, as_of: int) -> list[str]:
        """The accounts to compute, as a stack: never computed on top, then changed or outdated."""
        entries, new, old = self._entries, [], []
        for account_id in self.book.account_ids():
            entry = entries.get(account_id)
            if entry is None:
                new.append(account_id)
            elif not self._current(account_id, entry, as_of):
                old.append(account_id)
        return old[::-1] + new[::-1]

    def refresh(self, budget_s: float) -> bool:
        """Compute changed or outdated records for at most `budget_s` seconds; True when
        every loaded account's record is current."""
        self._sync()
        as_of = self.as_of()
        deadline = time.perf_counter() + budget_s
        queue = self._queue
        while True:
            if not queue:  # a round is done (or none began): the next one, if anything is due
                if self._computed != self._samples_of:
                    self._samples_due = True
                queue = self._queue = self._round(as_of)
                if not queue:
                    return True
            account_id = queue.pop()
            if self._current(account_id, self._entries.get(account_id), as_of):
                continue
            self._compute(account_id, as_of)
            if time.perf_counter() >= deadline:
                return False
