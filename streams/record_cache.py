"""The worker's cache of account records: computed once per account and evaluation step.

Why: an account record costs about half a millisecond (three evaluations: now, 7 and 30
days earlier, for the trend), so 10,000 accounts cost seconds, far too slow for every
scrape of /metrics and every portfolio query. Records are therefore evaluated at a
stepped time and kept until the account changes or the step moves on:

- The evaluation time is the worker's clock rounded down to `step_ms` (default one
  minute), or the frozen clock exactly (`--frozen-clock`), so that a record does not
  change between two requests for nothing but the clock's milliseconds.
- An account's record is computed again when an event changed the account (the book's
  `touched` set, filled as events are applied and pruned) or when the step moved on.
- The cache is emptied whenever the book reloads its partitions (a rebalance).
- `refresh` computes stale records ahead of requests in small slices of time, so a
  scrape or a portfolio query right after a step finds them ready (the worker runs it
  as a background task).
The records themselves come from `streams.engine.records.account_record` unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from streams.accounts_cli import to_json_ready
from streams.engine.records import account_record

DEFAULT_STEP_MS = 60_000


class RecordCache:
    def __init__(self, book, clock: Callable[[], int], *, frozen: bool, step_ms: int = DEFAULT_STEP_MS) -> None:
        self.book = book
        self.clock = clock
        self.frozen = frozen
        self.step_ms = step_ms
        self._records: dict[str, tuple[int, dict[str, Any]]] = {}
        self._json: dict[str, tuple[int, dict[str, Any]]] = {}
        self._generation = -1

    def as_of(self) -> int:
        now = self.clock()
        return now if self.frozen else now - now % self.step_ms

    def _sync(self) -> None:
        book = self.book
        if book.generation != self._generation:  # the partitions were reloaded
            self._records.clear()
            self._json.clear()
            self._generation = book.generation
        if book.touched:
            for account_id in book.touched:
                self._records.pop(account_id, None)
                self._json.pop(account_id, None)
            book.touched.clear()

    def record(self, account_id: str, as_of: int) -> dict[str, Any] | None:
        """The record (Decimal money, epoch-ms times) of one account at `as_of`, or None."""
        self._sync()
        cached = self._records.get(account_id)
        if cached is not None and cached[0] == as_of:
            return cached[1]
        state = self.book.account_state(account_id)
        if state is None:
            return None
        config = self.book.config
        record = account_record(account_id, state, as_of, config.engine, config.revenue, config.accounts)
        self._records[account_id] = (as_of, record)
        return record

    def json_record(self, account_id: str, as_of: int) -> dict[str, Any] | None:
        """The record as `pulse accounts --format json` renders it."""
        self._sync()
        cached = self._json.get(account_id)
        if cached is not None and cached[0] == as_of and account_id in self._records:
            return cached[1]
        record = self.record(account_id, as_of)
        if record is None:
            return None
        ready = to_json_ready(record)
        self._json[account_id] = (as_of, ready)
        return ready

    def records(self, as_of: int) -> list[dict[str, Any]]:
        """Every loaded account's record at `as_of`, sorted by account_id."""
        self._sync()
        ids = sorted(account_id for account_id, _state in self.book.account_states())
        return [r for r in (self.record(account_id, as_of) for account_id in ids) if r is not None]

    def json_records(self, as_of: int) -> list[dict[str, Any]]:
        self._sync()
        ids = sorted(account_id for account_id, _state in self.book.account_states())
        return [r for r in (self.json_record(account_id, as_of) for account_id in ids) if r is not None]

    def refresh(self, budget_s: float) -> bool:
        """Compute stale records for at most `budget_s` seconds; True when none is left."""
        self._sync()
        as_of = self.as_of()
        deadline = time.perf_counter() + budget_s
        for account_id, _state in self.book.account_states():
            cached = self._json.get(account_id)
            if cached is not None and cached[0] == as_of and account_id in self._records:
                continue
            self.json_record(account_id, as_of)
            if time.perf_counter() >= deadline:
                return False
        return True
