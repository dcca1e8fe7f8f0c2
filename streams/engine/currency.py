"""Dated exchange rates and the arithmetic that moves money between currencies.

Definition: money arrives in the producer's currency (ISO 4217 code, upper case) in major
units; MRR, ARPA and payment amounts are reported in one reporting currency. A rate is the
number of units of the reporting currency that one unit of the other currency is worth.

Rates are dated. A rates table lists `date,currency,usd_per_unit` rows: the rate is in
force from 00:00 UTC of its date until the next date listed for that currency. Money is
converted at the rate in force at its event's `occurred_at` (the subscription_started /
subscription_changed that set the terms, or the payment): the latest rate dated on or
before it. So a subscription's MRR moves with FX only when its terms change, as
ChartMogul converts each invoice at its own date's rate. A currency with no rate dated on
or before the event has no rate: the decoder dead-letters the event (`no_exchange_rate`).

Rates from the configuration (`[revenue.rates]`, in units of the reporting currency) hold
at every date and override the table for their currency. The shipped default table is
`data/rates.csv` (approximate mid-market rates, see its header).
"""

from __future__ import annotations

import csv
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal, InvalidOperation
from importlib.resources import files
from types import MappingProxyType
from typing import Any

BASE_CURRENCY = "USD"
"""The currency the rates table is expressed in (its rate is 1 at every date)."""
ALWAYS = -(1 << 62)
"""The start of a rate that holds at every date (a configured one, or the base's 1)."""
RATES_HEADER = ("date", "currency", "usd_per_unit")
DEFAULT_RATES_FILE = "rates.csv"

DatedRate = tuple[int, str, Decimal]
"""(in force from, epoch ms at 00:00 UTC of its date; currency; US dollars per unit)."""

# Rebasing divides; 34 significant digits keep a cross rate far below a cent's resolution.
_RATE_CONTEXT = Context(prec=34)


def is_currency_code(code: object) -> bool:
    """Three upper-case ASCII letters, the shape of an ISO 4217 code."""
    return (
        isinstance(code, str)
        and len(code) == 3
        and code.isascii()
        and code.isalpha()
        and code.isupper()
    )


def parse_rate(value: Any) -> Decimal:
    """A positive, finite rate from a config value (string, integer or float).

    A float is read through its shortest repr, so `1.08` means exactly 1.08, not the
    binary approximation. Raises ValueError for anything else.
    """
    if isinstance(value, bool):
        raise ValueError("a rate must be a number")
    try:
        if isinstance(value, float):
            rate = Decimal(repr(value))
        elif isinstance(value, int | str | Decimal):
            rate = Decimal(value)
        else:
            raise ValueError("a rate must be a number")
    except InvalidOperation as error:
        raise ValueError("a rate must be a number") from error
    if not rate.is_finite() or rate <= 0:
        raise ValueError("a rate must be a positive number")
    return rate


def rebase(rates: Mapping[str, Decimal], reporting_currency: str) -> dict[str, Decimal]:
    """The same table in units of `reporting_currency`, which must be one of its keys.

    A table that already has rate 1 for the reporting currency is returned unchanged.
    """
    base = rates[reporting_currency]
    if base == 1:
        return dict(rates)
    return {code: _RATE_CONTEXT.divide(rate, base) for code, rate in rates.items()}


def parse_rates_table(text: str) -> list[DatedRate]:
    """The rows of a rates table (CSV `date,currency,usd_per_unit`; `#` lines are comments).

    Raises ValueError with the line number and what is wrong.
    """
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ValueError("it has no rows")
    header_number, header = lines[0]
    if tuple(cell.strip() for cell in header.split(",")) != RATES_HEADER:
        raise ValueError(f"line {header_number} must be the header {','.join(RATES_HEADER)}")
    rows: list[DatedRate] = []
    seen: set[tuple[int, str]] = set()
    for (number, _line), cells in zip(
        lines[1:], csv.reader(line for _n, line in lines[1:]), strict=True
    ):
        if len(cells) != 3:
            raise ValueError(f"line {number} must have 3 cells (date,currency,usd_per_unit)")
        day, code, value = (cell.strip() for cell in cells)
        try:
            start = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
        except ValueError:
            raise ValueError(f"line {number}: {day!r} is not a date like 2025-01-02") from None
        if not is_currency_code(code):
            raise ValueError(
                f"line {number}: {code!r} is not a currency code of three upper-case letters"
            )
        try:
            rate = parse_rate(value)
        except ValueError:
            raise ValueError(f"line {number}: {value!r} is not a positive number") from None
        key = (int(start.timestamp() * 1000), code)
        if key in seen:
            raise ValueError(f"line {number}: {code} has two rates dated {day}")
        seen.add(key)
        rows.append((key[0], code, rate))
    return rows


def default_rates() -> list[DatedRate]:
    """The shipped default table (`data/rates.csv`)."""
    return parse_rates_table(
        files("streams.engine").joinpath("data", DEFAULT_RATES_FILE).read_text("utf-8")
    )


@dataclass(frozen=True)
class RateTable:
    """Per currency, the dated rates in units of the reporting currency, oldest first."""

    starts: Mapping[str, tuple[int, ...]]
    rates: Mapping[str, tuple[Decimal, ...]]

    @classmethod
    def build(
        cls, rows: Iterable[DatedRate], overrides: Mapping[str, Decimal], reporting: str
    ) -> RateTable:
        """The table in units of `reporting` from rows in US dollars and configured rates
        (already in units of `reporting`, holding at every date)."""
        usd: dict[str, list[tuple[int, Decimal]]] = {BASE_CURRENCY: [(ALWAYS, Decimal(1))]}
        for start, code, rate in sorted(rows):
            if code != BASE_CURRENCY:
                usd.setdefault(code, []).append((start, rate))
        series: dict[str, list[tuple[int, Decimal]]] = {}
        if reporting not in overrides and reporting in usd:
            base = usd[reporting]
            base_starts = [start for start, _rate in base]
            for code, points in usd.items():
                if code == reporting:
                    series[code] = [(ALWAYS, Decimal(1))]
                    continue
                changes = sorted(
                    {start for start, _r in points} | {s for s in base_starts if s >= points[0][0]}
                )
                converted = []
                for start in changes:
                    own = points[bisect_right([s for s, _r in points], start) - 1][1]
                    at = bisect_right(base_starts, start) - 1
                    if at < 0:
                        continue  # no rate of the reporting currency yet
                    denominator = base[at][1]
                    converted.append(
                        (start, own if denominator == 1 else _RATE_CONTEXT.divide(own, denominator))
                    )
                if converted:
                    series[code] = converted
        for code, rate in overrides.items():
            series[code] = [(ALWAYS, rate)]
        return cls(
            MappingProxyType(
                {code: tuple(s for s, _r in points) for code, points in series.items()}
            ),
            MappingProxyType(
                {code: tuple(r for _s, r in points) for code, points in series.items()}
            ),
        )

    def rate(self, code: str, at: int) -> Decimal | None:
        """The rate of `code` in force at `at` (epoch ms); None when none is dated on or before it."""
        starts = self.starts.get(code)
        if starts is None:
            return None
        index = bisect_right(starts, at) - 1
        return None if index < 0 else self.rates[code][index]

    def known(self, code: str, at: int) -> bool:
        return self.rate(code, at) is not None

    def currencies(self) -> frozenset[str]:
        """Every currency with a rate at some date."""
        return frozenset(self.starts)
