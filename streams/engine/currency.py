"""The static currency rate table and the arithmetic that moves money between currencies.

Definition: money arrives in the producer's currency (ISO 4217 code, upper case) in major
units; MRR, ARPA and payment amounts are reported in one reporting currency. A rate is the
number of units of the reporting currency that one unit of the other currency is worth.
The table is static: one rate per currency, whatever the event date (there is no FX
movement in the figures). The default table is expressed in US dollars; `rebase` turns any
table into one expressed in another of its currencies.

The default rates are approximate mid-market rates of the date in `RATES_AS_OF`, good
enough for a demo and for tests. A deployment that reports money to anyone sets its own
rates in the `[revenue.rates]` table of the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

RATES_AS_OF = "2025-01-02"
"""The day the default rates below were read (approximate mid-market rates)."""

USD_RATES: Mapping[str, Decimal] = MappingProxyType(
    {
        "USD": Decimal("1"),
        "EUR": Decimal("1.035"),
        "GBP": Decimal("1.245"),
        "JPY": Decimal("0.00635"),
        "CHF": Decimal("1.10"),
        "CAD": Decimal("0.695"),
        "AUD": Decimal("0.621"),
        "NZD": Decimal("0.561"),
        "SEK": Decimal("0.0905"),
        "NOK": Decimal("0.0880"),
        "DKK": Decimal("0.1388"),
        "PLN": Decimal("0.242"),
        "CZK": Decimal("0.0411"),
        "HUF": Decimal("0.00251"),
        "INR": Decimal("0.01167"),
        "BRL": Decimal("0.162"),
        "MXN": Decimal("0.0485"),
        "SGD": Decimal("0.732"),
        "HKD": Decimal("0.1287"),
        "CNY": Decimal("0.1370"),
        "KRW": Decimal("0.000679"),
        "ZAR": Decimal("0.0532"),
        "ILS": Decimal("0.274"),
    }
)
"""US dollars per one unit of each currency, as of `RATES_AS_OF`."""

# Rebasing divides; 34 significant digits keep a cross rate far below a cent's resolution.
_RATE_CONTEXT = Context(prec=34)


def is_currency_code(code: object) -> bool:
    """Three upper-case ASCII letters, the shape of an ISO 4217 code."""
    return isinstance(code, str) and len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


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
