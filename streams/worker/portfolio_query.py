"""The portfolio query of the account API: parse `GET /accounts?...`, select, sort, merge.

Pure (no HTTP, no Faust), so the worker's view, the merge across workers and the tests
share one definition. A query works on records as `pulse accounts --format json` prints
them (streams.engine.records.to_json_ready: times are RFC 3339 strings, money numbers) or
as the engine computes them (epoch ms, Decimal money): every filter and sort key reads
the same in both (no sort key is a time), so a worker selects before it renders.

- Filters (each optional, values comma-separated, a record matches any of them):
  `band` (red, yellow, green, unknown: the health band), `segment`, `owner`, `stage`
  (trial, onboarding, active, churned), `plan`.
- `sort`: one of SORT_KEYS, `-` in front for descending (default `account_id`).
  Accounts without a value (None) come last in both directions; ties go to the smaller
  account_id, so the order is total and the same on every worker.
- `limit`: 1..MAX_LIMIT (default 50).
Every other parameter, or a bad value, is a QueryError naming the parameter (HTTP 400).

Merging: each worker selects from its own partitions with the same query (its top
`limit`); the union of those answers, sorted again and cut at `limit`, is the answer over
every account, because each account lives in exactly one partition.

Speed: a worker keeps each cached record's `portfolio_row` (the record and the values the
filters and sort keys read, as a flat tuple), so a query reads no nested dict; it filters
the rows with one list comprehension per filter and takes the top `limit` with a heap
(`heapq`), sorting only the rows that reach the cut-off value, instead of sorting every
account: one query over 10,000 accounts is a few milliseconds of the worker's event loop.
The answer is exactly `order(matching)[:limit]` (tests/test_portfolio.py checks it).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

BANDS = frozenset({"red", "yellow", "green", "unknown"})
STAGES = frozenset({"trial", "onboarding", "active", "churned"})
FILTERS: tuple[str, ...] = ("band", "segment", "owner", "stage", "plan")
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
# sort key -> path in the record
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "account_id": ("account_id",),
    "name": ("name",),
    "segment": ("segment",),
    "owner": ("owner",),
    "stage": ("stage",),
    "plan": ("plan",),
    "mrr": ("mrr",),
    "arr": ("arr",),
    "score": ("health", "score"),
    "trend_7d": ("health", "trend_7d"),
    "trend_30d": ("health", "trend_30d"),
    "tenure_days": ("tenure_days",),
    "days_to_renewal": ("days_to_renewal",),
    "days_since_activity": ("days_since_activity",),
    "days_past_due": ("days_past_due",),
    "active_users_30d": ("active_users_30d",),
    "license_utilisation": ("license_utilisation",),
    "tickets_open": ("tickets_open",),
}
# filter -> path in the record
FILTER_PATHS: dict[str, tuple[str, ...]] = {
    "band": ("health", "band"),
    "segment": ("segment",),
    "owner": ("owner",),
    "stage": ("stage",),
    "plan": ("plan",),
}
# A portfolio row: (the record, then the value of each of these paths in the record)
_ROW_PATHS: tuple[tuple[str, ...], ...] = (*FILTER_PATHS.values(), *SORT_KEYS.values())
FILTER_COLUMNS: dict[str, int] = {name: 1 + index for index, name in enumerate(FILTER_PATHS)}
SORT_COLUMNS: dict[str, int] = {
    name: 1 + len(FILTER_PATHS) + index for index, name in enumerate(SORT_KEYS)
}
PortfolioRow = tuple[Any, ...]


def portfolio_row(record: Mapping[str, Any]) -> PortfolioRow:
    """The record and every value a filter or a sort key reads of it (see the module header)."""
    return (record, *(_value(record, path) for path in _ROW_PATHS))


class QueryError(ValueError):
    """A bad query parameter: `parameter` names it, the message says what is accepted."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class PortfolioQuery:
    filters: tuple[tuple[str, frozenset[str]], ...] = ()
    sort: str = "account_id"
    descending: bool = False
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(cls, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> PortfolioQuery:
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
        seen: set[str] = set()
        filters: list[tuple[str, frozenset[str]]] = []
        sort, descending, limit = "account_id", False, DEFAULT_LIMIT
        for name, value in items:
            if name in seen:
                raise QueryError(
                    name, f"parameter {name} is given twice: give it once (values comma-separated)"
                )
            seen.add(name)
            if name in FILTERS:
                values = frozenset(v.strip() for v in value.split(",") if v.strip())
                if not values:
                    raise QueryError(
                        name, f"parameter {name} is empty: give one or more values, comma-separated"
                    )
                allowed = BANDS if name == "band" else STAGES if name == "stage" else None
                if allowed is not None and not values <= allowed:
                    bad = sorted(values - allowed)[0]
                    raise QueryError(
                        name, f"{name}={bad} is not one of {', '.join(sorted(allowed))}"
                    )
                filters.append((name, values))
            elif name == "sort":
                descending = value.startswith("-")
                sort = value[1:] if descending else value
                if sort not in SORT_KEYS:
                    raise QueryError(
                        name,
                        f"sort={value} is not a sort key: use one of {', '.join(SORT_KEYS)}, "
                        f"with - in front for descending",
                    )
            elif name == "limit":
                if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
                    raise QueryError(
                        name, f"limit={value} is not a whole number from 1 to {MAX_LIMIT}"
                    )
                limit = int(value)
            else:
                raise QueryError(
                    name, f"unknown parameter {name}: use {', '.join((*FILTERS, 'sort', 'limit'))}"
                )
        return cls(tuple(filters), sort, descending, limit)

    def matches(self, record: Mapping[str, Any]) -> bool:
        return all(_value(record, FILTER_PATHS[name]) in values for name, values in self.filters)

    def order(self, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Sorted by the query's key (None last in both directions), ties by account_id."""
        path = SORT_KEYS[self.sort]
        valued: list[Mapping[str, Any]] = []
        missing: list[Mapping[str, Any]] = []
        for record in records:
            (missing if _value(record, path) is None else valued).append(record)
        valued.sort(key=lambda r: r["account_id"])
        valued.sort(
            key=lambda r: _value(r, path), reverse=self.descending
        )  # stable: ties keep account_id order
        missing.sort(key=lambda r: r["account_id"])
        return valued + missing

    def select(self, records: Iterable[Mapping[str, Any]]) -> tuple[int, list[Mapping[str, Any]]]:
        """(how many records match, the first `limit` of them in order)."""
        return self.select_rows([portfolio_row(record) for record in records])

    def select_rows(self, rows: Iterable[PortfolioRow]) -> tuple[int, list[Mapping[str, Any]]]:
        """`select` over rows made by `portfolio_row` (a worker keeps them with its records)."""
        matching = rows if isinstance(rows, list) else list(rows)
        for name, values in self.filters:
            column = FILTER_COLUMNS[name]
            matching = [row for row in matching if row[column] in values]
        return len(matching), [row[0] for row in self._top(matching)]

    def _top(self, rows: list[PortfolioRow]) -> list[PortfolioRow]:
        """`order(rows)[:limit]` without sorting every row: a heap finds the value of the
        `limit`-th row; only rows at or before that value are sorted."""
        column, limit, descending = SORT_COLUMNS[self.sort], self.limit, self.descending
        by_value, by_id = itemgetter(column), itemgetter(SORT_COLUMNS["account_id"])
        valued = [row for row in rows if row[column] is not None]
        if len(valued) >= limit:
            pick = heapq.nlargest if descending else heapq.nsmallest
            edge = by_value(pick(limit, valued, key=by_value)[-1])
            if descending:
                valued = [row for row in valued if row[column] >= edge]
            else:
                valued = [row for row in valued if row[column] <= edge]
            missing: list[PortfolioRow] = []
        else:
            missing = sorted((row for row in rows if row[column] is None), key=by_id)
        valued.sort(key=by_id)
        valued.sort(key=by_value, reverse=descending)  # stable: ties keep account_id order
        return (valued + missing)[:limit]

    def merge(
        self, answers: Iterable[tuple[int, list[Mapping[str, Any]]]]
    ) -> tuple[int, list[Mapping[str, Any]]]:
        """Several workers' (total, top records) -> the answer over all of them."""
        total, pooled = 0, []
        for count, records in answers:
            total += count
            pooled += records
        return total, self.order(pooled)[: self.limit]


def _value(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
