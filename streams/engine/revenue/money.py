"""Terms of a subscription and their monthly value in integer cents of the reporting currency.

Definition: the MRR of a subscription's terms is
    amount x quantity x (1 - discount_percent / 100)
normalised to a month (/ interval_count, and / 3 for quarter, / 12 for year, x 52 / 12 for
week, x 365 / 12 for day), times the rate of its currency in force when the terms were
set (`Terms.rated_at`, see streams.engine.currency), rounded half-up to a cent once,
at the end. Everything is exact Decimal arithmetic: the multiplications are exact and the
single division is done at a precision far beyond a cent, so a value exactly on a half
cent is rounded up and nothing drifts. With `discount_scope = "ignore"` the discount
factor is 1. Payment amounts are converted the same way (amount x the rate at the payment, rounded
half-up).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache
from typing import NamedTuple

from streams.engine.revenue.revenue_config import RevenueConfig
from streams.errors import ConfigError

# interval -> (multiplier, divisor) turning one interval's amount into a month's.
MONTHLY_FACTOR: dict[str, tuple[int, int]] = {
    "day": (365, 12),
    "week": (52, 12),
    "month": (1, 1),
    "quarter": (1, 3),
    "year": (1, 12),
}

_EXACT = Context(prec=60)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)


class Terms(NamedTuple):
    """What a subscription_started / subscription_changed says the subscription costs."""

    plan: str
    amount: Decimal
    currency: str
    interval: str
    interval_count: int
    quantity: int
    discount_percent: Decimal
    trial_ends_at: int | None
    rated_at: int = 0
    """occurred_at of the event that set the terms: its currency's rate in force then
    applies (streams.engine.currency)."""


def _rate(currency: str, at: int, config: RevenueConfig) -> Decimal:
    rate = config.rate(currency, at)
    if rate is None:
        raise ConfigError(
            f"The rates table has no rate for {currency} on or before {_day(at)}, which the stored billing "
            "state uses: add one to [revenue] rates_file or [revenue.rates]."
        )
    return rate


def _day(at: int) -> str:
    return datetime.fromtimestamp(at / 1000, UTC).date().isoformat()


def _round_cents(cents: Decimal) -> int:
    return int(cents.quantize(_ONE, rounding=ROUND_HALF_UP))


def monthly_cents(terms: Terms, config: RevenueConfig) -> int:
    """The subscription's MRR under `terms` (out of trial, not canceled), in reporting cents,
    at the rate of its currency in force when the terms were set."""
    return _monthly_cents(
        terms._replace(rated_at=0),
        _rate(terms.currency, terms.rated_at, config),
        config.discount_scope,
    )


@lru_cache(maxsize=1 << 16)
def _monthly_cents(terms: Terms, rate: Decimal, discount_scope: str) -> int:
    multiplier, divisor = MONTHLY_FACTOR[terms.interval]
    discount = _HUNDRED if discount_scope == "ignore" else _HUNDRED - terms.discount_percent
    numerator = _EXACT.multiply(
        _EXACT.multiply(_EXACT.multiply(terms.amount, terms.quantity), discount),
        _EXACT.multiply(rate, multiplier),
    )
    # x 100 for cents, / 100 for the discount percentage: they cancel out.
    return _round_cents(_EXACT.divide(numerator, divisor * terms.interval_count))


def is_priced(terms: Terms) -> bool:
    """Whether the terms have a positive price after the recurring discount (config-free).

    Used only to summarise history older than the compaction floor, where the configured
    rates and discount scope are not at hand; it agrees with `monthly_cents(...) > 0`
    except for prices below half a cent a month and 100 % discounts under
    `discount_scope = "ignore"`.
    """
    return terms.amount > 0 and terms.quantity > 0 and terms.discount_percent < 100


def amount_cents(amount: Decimal, currency: str, at: int, config: RevenueConfig) -> int:
    """A one-off amount (a payment at `at`) in reporting cents, rounded half-up, at the
    rate in force at `at`."""
    return _round_cents(
        _EXACT.multiply(_EXACT.multiply(amount, _rate(currency, at, config)), _HUNDRED)
    )
