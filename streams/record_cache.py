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
  when an account changed since or the record is of the previous step; only an account
  never computed is computed on the spot. A background task (`refresh`, run by the
  worker in slices of a few milliseconds with pauses between them, so that it takes a
  bounded share of the event loop) computes the changed and outdated records again, so
  these answers lag the events by at most the time the refresh needs to go round.
- The cache is emptied whenever the book reloads its partitions (a rebalance).
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
        # account_id -> (as_of, record, the record as JSON-ready data or None until asked)
        self._entries: dict[str, list] = {}
        self._changed: set[str] = set()  # accounts changed since their entry was computed
        self._generation = -1

    def as_of(self) -> int:
        now = self.clock()
        return now if self.frozen else now - now % self.step_ms

    def _sync(self) -> None:
        book = self.book
        if book.generation != self._generation:  # the partitions were reloaded
            self._entries.clear()
            self._changed.clear()
            self._generation = book.generation
        if book.touched:
            self._changed |= book.touched
            book.touched.clear()

    def _compute(self, account_id: str, as_of: int) -> list | None:
        state = self.book.account_state(account_id)
        if state is None:
            self._entries.pop(account_id, None)
            self._changed.discard(account_id)
            return None
        config = self.book.config
        entry = [as_of, account_record(account_id, state, as_of, config.engine, config.revenue, config.accounts), None]
        self._entries[account_id] = entry
        self._changed.discard(account_id)
        return entry

    def _exact(self, account_id: str, as_of: int) -> list | None:
        self._sync()
        entry = self._entries.get(account_id)
        if entry is None or entry[0] != as_of or account_id in self._changed:
            entry = self._compute(account_id, as_of)
        return entry

    def record(self, account_id: str, as_of: int) -> dict[str, Any] | None:
        """One account's record at `as_of`, exact (Decimal money, epoch-ms times), or None."""
        entry = self._exact(account_id, as_of)
        return None if entry is None else entry[1]

    def json_record(self, account_id: str, as_of: int) -> dict[str, Any] | None:
        """One account's record at `as_of` as `pulse accounts --format json` renders it."""
        entry = self._exact(account_id, as_of)
        if entry is None:
            return None
        if entry[2] is None:
            entry[2] = to_json_ready(entry[1])
        return entry[2]

    def _cached(self, as_of: int) -> list[list]:
        """Every loaded account's entry as cached (computed now only when it has none)."""
        self._sync()
        out = []
        for account_id in sorted(account_id for account_id, _state in self.book.account_states()):
            entry = self._entries.get(account_id) or self._compute(account_id, as_of)
            if entry is not None:
                out.append(entry)
        return out

    def records(self, as_of: int) -> list[dict[str, Any]]:
        """Every loaded account's cached record (see the module header), by account_id."""
        return [entry[1] for entry in self._cached(as_of)]

    def json_records(self, as_of: int) -> list[dict[str, Any]]:
        out = []
        for entry in self._cached(as_of):
            if entry[2] is None:
                entry[2] = to_json_ready(entry[1])
            out.append(entry[2])
        return out

    def stale(self) -> int:
        """How many cached records are behind their account or the step."""
        self._sync()
        as_of = self.as_of()
        return sum(1 for account_id, entry in self._entries.items() if entry[0] != as_of or account_id in self._changed)

    def refresh(self, budget_s: float) -> bool:
        """Compute changed or outdated records for at most `budget_s` seconds; True when
        every loaded account's record is current."""
        self._sync()
        as_of = self.as_of()
        deadline = time.perf_counter() + budget_s
        for account_id, _state in self.book.account_states():
            entry = self._entries.get(account_id)
            if entry is not None and entry[0] == as_of and account_id not in self._changed:
                continue
            self._compute(account_id, as_of)
            if time.perf_counter() >= deadline:
                return False
        return True
