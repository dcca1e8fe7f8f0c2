"""The independent oracle: every business metric of a JSONL event file as of time T,
computed by DuckDB SQL (the files in `sql/`) from the metric definitions alone.

Used only by tests, to check the engine. It shares no code with the engine or the decoder:
the edge (which lines are valid) is `edge.py` over the JSON Schema, admission and every
metric are SQL. Each metric query returns rows `(name, labels, numerator, denominator,
unit)` in exact integers; this module turns them into values:

- `count` -> int;
- `cents` -> Decimal in major units of the reporting currency (exact cents);
- `ratio` -> Fraction numerator/denominator, 0 when the denominator is 0.

Run order: the edge and events.sql (typed events) once per file; then, per evaluation
time, admission.sql (verdicts, the clock, applied events) -> revenue.sql (MRR step
functions) -> one query per metric family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from importlib.resources import files
from pathlib import Path

import duckdb

from streams.engine.engine_config import ACTIVITY_EVENT_TYPES
from tests.oracle.edge import rejection_reason

MetricKey = tuple[str, tuple[tuple[str, str], ...]]
MetricValue = int | Decimal | Fraction

DAY_MS = 86_400_000

SETUP_SCRIPTS = ("admission.sql", "activity_events.sql", "revenue.sql")
METRIC_QUERIES = (
    "activity.sql",
    "adoption.sql",
    "sessions.sql",
    "support.sql",
    "satisfaction.sql",
    "lifecycle.sql",
    "revenue_metrics.sql",
    "counters.sql",
    "clock.sql",
)

# The scales revenue.sql multiplies by before going to integers (see its header).
AMOUNT_DECIMALS = 4
RATE_DECIMALS = 8


@dataclass(frozen=True)
class Policy:
    """The admission policy's defaults from the contract (docs/events.md), and the
    revenue and engine knobs the oracle follows."""

    future_tolerance_ms: int = 5 * 60_000
    activity_horizon_ms: int = 35 * DAY_MS
    survey_horizon_ms: int = 95 * DAY_MS
    free_subscriptions: str = "active"
    """The [revenue] knob of the same name: "active" or "churned"."""
    backdated_cancellations: str = "when_known"
    """The [revenue] knob of the same name: "when_known" or "rewrite"."""
    dunning_window_days: int | None = 15
    """The [revenue] knob of the same name (None: "off")."""
    time_zone: str = "UTC"
    """The [engine] knob of the same name: calendar days of the averaged stickiness."""
    activity_types: tuple[str, ...] = ACTIVITY_EVENT_TYPES
    """The [engine] knob of the same name: the event types that make a user active."""
    core_features: tuple[str, ...] = ()
    """The [engine] knob of the same name (empty: every feature)."""


def _sql(name: str) -> str:
    return files("tests.oracle").joinpath("sql", name).read_text(encoding="utf-8")


def _split_lines(data: bytes) -> list[bytes]:
    """JSONL: one message per line; a trailing newline does not start another line."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _exact_scale(value: Decimal, decimals: int, what: str) -> None:
    if value != value.quantize(Decimal(1).scaleb(-decimals)):
        raise ValueError(
            f"the oracle computes {what} with at most {decimals} decimals, got {value}"
        )


ALWAYS = -(1 << 62)
"""valid_from of a rate that holds at every date."""
RateRow = tuple[int, str, Decimal]
"""(valid from, epoch ms; currency; units of the reporting currency per unit)."""
Rates = Mapping[str, Decimal] | Sequence[RateRow]


def rate_rows(rates: Rates) -> list[RateRow]:
    """Dated rows from either form: a static table holds at every date."""
    if isinstance(rates, Mapping):
        return [(ALWAYS, code, Decimal(rate)) for code, rate in rates.items()]
    return [(int(start), code, Decimal(rate)) for start, code, rate in rates]


def usd_rate_rows(table_csv: str) -> list[RateRow]:
    """The rows of a rates table in the documented CSV form (`date,currency,usd_per_unit`,
    a rate from 00:00 UTC of its date), for a USD report; USD itself is 1 at every date."""
    rows: list[RateRow] = [(ALWAYS, "USD", Decimal(1))]
    lines = [line for line in table_csv.splitlines() if line.strip() and not line.startswith("#")]
    for line in lines[1:]:
        day, code, rate = (cell.strip() for cell in line.split(","))
        start = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 1000
        rows.append((start, code, Decimal(rate)))
    return rows


def _load_lines(connection: duckdb.DuckDBPyConnection, data: bytes, rates: Rates) -> None:
    """The edge, once per file: valid lines go to `lines`, the others to `edge_rejections`."""
    rows = rate_rows(rates)
    valid_numbers: list[int] = []
    valid_texts: list[str] = []
    rejected_numbers: list[int] = []
    rejected_reasons: list[str] = []
    for number, raw in enumerate(_split_lines(data), start=1):
        reason = rejection_reason(raw, rows)
        if reason is None:
            valid_numbers.append(number)
            valid_texts.append(raw.decode("utf-8"))
        else:
            rejected_numbers.append(number)
            rejected_reasons.append(reason)
    connection.execute(
        "CREATE TABLE lines AS SELECT unnest($1::BIGINT[]) AS line_no, unnest($2::VARCHAR[]) AS raw",
        [valid_numbers, valid_texts],
    )
    connection.execute(
        "CREATE TABLE edge_rejections AS "
        "SELECT unnest($1::BIGINT[]) AS line_no, unnest($2::VARCHAR[]) AS reason",
        [rejected_numbers, rejected_reasons],
    )
    for _start, _code, rate in rows:
        _exact_scale(rate, RATE_DECIMALS, "exchange rates")
    connection.execute(
        "CREATE TABLE rates AS SELECT unnest($1::BIGINT[]) AS valid_from, unnest($2::VARCHAR[]) AS currency, "
        "unnest($3::VARCHAR[])::DECIMAL(38, 12) AS rate",
        [
            [start for start, _c, _r in rows],
            [code for _s, code, _r in rows],
            [str(rate) for _s, _c, rate in rows],
        ],
    )


def _check_money_scales(connection: duckdb.DuckDBPyConnection) -> None:
    for column in ("amount", "discount_percent"):
        for (value,) in connection.execute(
            f"SELECT DISTINCT {column} FROM events WHERE {column} IS NOT NULL"
        ).fetchall():
            _exact_scale(value, AMOUNT_DECIMALS, column)


def _value(numerator: int, denominator: int, unit: str) -> MetricValue:
    if unit == "count":
        return int(numerator)
    if unit == "cents":
        return Decimal(int(numerator)).scaleb(-2)
    return Fraction(int(numerator), int(denominator)) if denominator else Fraction(0)


class Oracle:
    """One JSONL file, read and checked at the edge once, evaluated at any T."""

    def __init__(self, jsonl_path: str | Path, *, rates: Rates, policy: Policy = Policy()) -> None:
        """`rates`: the reporting currency's rates (units of the reporting currency per
        unit), a static table or dated rows (`RateRow`: a rate holds from its valid_from
        until the currency's next row). Money converts at the rate in force at its event's
        occurred_at; the edge rejects a currency that is neither ISO 4217 nor in the table
        (`unknown_currency`) and one with no rate in force then (`no_exchange_rate`)."""
        self._policy = policy
        self._connection = duckdb.connect(":memory:")
        _load_lines(self._connection, Path(jsonl_path).read_bytes(), rates)
        self._connection.execute(_sql("events.sql"))
        _check_money_scales(self._connection)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Oracle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def metrics(self, as_of_ms: int | None) -> dict[MetricKey, MetricValue]:
        """Every metric as of `as_of_ms` (None: the latest accepted occurred_at, with no
        future check), keyed by (name, sorted label pairs)."""
        connection = self._connection
        connection.execute(
            "CREATE OR REPLACE TABLE params AS SELECT $1::BIGINT AS as_of_ms, "
            "$2::BIGINT AS future_tolerance_ms, $3::BIGINT AS activity_horizon_ms, "
            "$4::BIGINT AS survey_horizon_ms, $5::VARCHAR AS free_subscriptions, "
            "$6::VARCHAR AS backdated_cancellations, $7::BIGINT AS dunning_window_ms, "
            "$8::VARCHAR AS time_zone, $9::VARCHAR[] AS activity_types, "
            "$10::VARCHAR[] AS core_features",
            [
                as_of_ms,
                self._policy.future_tolerance_ms,
                self._policy.activity_horizon_ms,
                self._policy.survey_horizon_ms,
                self._policy.free_subscriptions,
                self._policy.backdated_cancellations,
                None
                if self._policy.dunning_window_days is None
                else self._policy.dunning_window_days * DAY_MS,
                self._policy.time_zone,
                list(self._policy.activity_types),
                list(self._policy.core_features),
            ],
        )
        for script in SETUP_SCRIPTS:
            connection.execute(_sql(script))
        metrics: dict[MetricKey, MetricValue] = {}
        for query in METRIC_QUERIES:
            for name, labels, numerator, denominator, unit in connection.execute(
                _sql(query)
            ).fetchall():
                key = (name, tuple(sorted(labels.items())))
                if key in metrics:
                    raise AssertionError(f"{query} returned {key} twice")
                metrics[key] = _value(numerator, denominator, unit)
        return metrics


def oracle_metrics(
    jsonl_path: str | Path,
    as_of_ms: int | None,
    *,
    rates: Rates,
    policy: Policy = Policy(),
) -> dict[MetricKey, MetricValue]:
    """Every metric of the file as of `as_of_ms`; see `Oracle`."""
    with Oracle(jsonl_path, rates=rates, policy=policy) as oracle:
        return oracle.metrics(as_of_ms)
