"""RevenueConfig: the reporting currency, the rate table and the vendor-disputed knobs.

The `[revenue]` TOML table. Every knob settles one case on which billing-analytics vendors
disagree; the defaults are the definitions of docs/metrics-revenue.md:

- `churn_recognition`: when a cancellation drops MRR to 0. `"effective_at"` (default):
  at the cancellation's effective time, e.g. the end of the paid period, as ProfitWell /
  Paddle, Stripe (cancel at period end) and ChartMogul's "end of service period" option do.
  `"occurred_at"`: the moment the customer cancels, as ChartMogul's "when the customer
  schedules the cancellation" option and committed-MRR (CMRR) reporting do.
- `backdated_cancellations`: a cancel recorded at occurred_at with an earlier effective_at.
  `"when_known"` (default): with `churn_recognition = "effective_at"` the MRR drops at the
  time the cancel became known (its occurred_at), so the churn lands in the window a live
  board shows on the day it is recorded, and no past figure changes afterwards (unless new
  terms re-activated the subscription between effective_at and occurred_at: then the cancel
  changes nothing). `"rewrite"`: the MRR is 0 from effective_at on, rewriting the past as
  a billing system's history does (the churn may fall before any window still shown).
- `dunning_window_days`: involuntary churn. A failed payment opens a dunning window of N
  days (default 15, the least ProfitWell recommends); while it is open the account is past
  due and keeps its MRR (Stripe's `past_due`). When it ends with no successful payment the
  account is delinquent (Stripe's `unpaid`, ProfitWell's delinquent churn): its MRR leaves
  as churn, counted apart as involuntary, and the next successful payment brings it back
  as a reactivation. `"off"`: failed payments never change MRR (a past-due account pays
  until it cancels).
- `discount_scope`: `"recurring"` (default): the event's recurring `discount_percent`
  reduces MRR, as ChartMogul, ProfitWell and Stripe ("forever" coupons) do.
  `"ignore"`: MRR at list price, as Stripe does for coupons that are not "forever".
- `reactivation_window_days`: unset (default): an account that pays again after any
  earlier paid period is a reactivation, as ChartMogul and ProfitWell count it. A number N:
  only within N days of its churn, later it is "new" again, as Maxio / Chargify (N = 90).
- `same_window_new_and_churn`: `"count"` (default): an account that is new and churns in
  the same 30-day window is reported in both movements, as Baremetrics and Maxio do.
  `"ignore"`: that paid spell is left out of the window's movements, as ProfitWell does.
- `free_subscriptions`: an account whose only subscriptions in force (out of trial) are
  free (price 0 or a 100 % discount). `"active"` (default): it stays a customer, as
  ChartMogul's default "Active" setting keeps it; going from paid to free is a
  contraction to 0, and from free back to paid an expansion. `"churned"`: it is churned,
  as ChartMogul's "Cancelled" option and Stripe (free plans are not in MRR) count it.
- `rates_file`: the dated exchange-rate table (CSV `date,currency,usd_per_unit`, see
  `streams.engine.currency`); default: the shipped table. `[revenue.rates]` entries, in
  units of the reporting currency, hold at every date and override the table.
- `plan_labels`: bounds the `plan` label. Empty (default): every plan name is its own label
  value (a product's plan catalog is small). Otherwise the listed plans keep their name and
  every other plan is reported as `plan="other"`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from streams.engine.currency import (
    BASE_CURRENCY,
    DatedRate,
    RateTable,
    default_rates,
    is_currency_code,
    parse_rate,
    rebase,
)
from streams.errors import ConfigError

CHURN_RECOGNITION = ("effective_at", "occurred_at")
DISCOUNT_SCOPES = ("recurring", "ignore")
SAME_WINDOW_NEW_AND_CHURN = ("count", "ignore")
FREE_SUBSCRIPTIONS = ("active", "churned")
BACKDATED_CANCELLATIONS = ("when_known", "rewrite")

# How a cancel's time is read (steps.cancel_gap), decided by churn_recognition and
# backdated_cancellations together (RevenueConfig.cancellation_mode).
EFFECTIVE_REWRITE = 0
"""At effective_at, even when that is before the cancel became known."""
AT_OCCURRENCE = 1
"""At occurred_at (`churn_recognition = "occurred_at"`)."""
EFFECTIVE_WHEN_KNOWN = 2
"""At effective_at, but a backdated cancel at the time it became known."""
MODES = (EFFECTIVE_REWRITE, AT_OCCURRENCE, EFFECTIVE_WHEN_KNOWN)
OTHER_PLAN = "other"
UNLIMITED = "unlimited"
OFF = "off"


@dataclass(frozen=True)
class RevenueConfig:
    reporting_currency: str = "USD"
    rates: Mapping[str, Decimal] = field(default_factory=dict, hash=False)
    """Configured rates: units of the reporting currency per 1 unit, at every date; they
    override `dated_rates` for their currency. A table in another base (rate != 1 for the
    reporting currency) is rebased; the stored table always has 1 there."""
    dated_rates: tuple[DatedRate, ...] = field(
        default_factory=lambda: tuple(default_rates()), hash=False
    )
    """The dated table, in US dollars per unit (the shipped one unless `rates_file` is set)."""
    rate_table: RateTable = field(init=False, hash=False, compare=False, repr=False)
    """Both, in units of the reporting currency: what conversions and the decoder use."""
    churn_recognition: str = "effective_at"
    discount_scope: str = "recurring"
    reactivation_window_days: int | None = None
    same_window_new_and_churn: str = "count"
    plan_labels: tuple[str, ...] = ()
    free_subscriptions: str = "active"
    backdated_cancellations: str = "when_known"
    dunning_window_days: int | None = 15

    def __post_init__(self) -> None:
        if not is_currency_code(self.reporting_currency):
            raise ConfigError(
                '[revenue] reporting_currency must be an ISO 4217 code of three upper-case letters, e.g. "USD".'
            )
        bad = sorted(str(code) for code in self.rates if not is_currency_code(code))
        if bad:
            raise ConfigError(
                f"[revenue.rates] key {bad[0]!r} is not a currency code: use three upper-case letters."
            )
        if any(
            not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0
            for rate in self.rates.values()
        ):
            raise ConfigError('[revenue.rates] values must be positive numbers, e.g. EUR = "1.08".')
        reporting = self.reporting_currency
        dated = {code for _start, code, _rate in self.dated_rates} | {BASE_CURRENCY}
        if self.rates and reporting not in self.rates and reporting not in dated:
            raise ConfigError(
                f"[revenue.rates] has no rate for the reporting currency {reporting}: add one."
            )
        if not self.rates and reporting not in dated:
            raise ConfigError(
                f"The rates table has no {reporting}: set [revenue.rates] with {reporting} = 1 "
                "and the rates of the currencies you bill in, or a rates_file that lists it."
            )
        if reporting in self.rates:
            object.__setattr__(self, "rates", MappingProxyType(rebase(self.rates, reporting)))
        else:
            object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))
        object.__setattr__(
            self, "rate_table", RateTable.build(self.dated_rates, self.rates, reporting)
        )
        _check_choice("churn_recognition", self.churn_recognition, CHURN_RECOGNITION)
        _check_choice("discount_scope", self.discount_scope, DISCOUNT_SCOPES)
        _check_choice(
            "same_window_new_and_churn", self.same_window_new_and_churn, SAME_WINDOW_NEW_AND_CHURN
        )
        _check_choice("free_subscriptions", self.free_subscriptions, FREE_SUBSCRIPTIONS)
        _check_choice(
            "backdated_cancellations", self.backdated_cancellations, BACKDATED_CANCELLATIONS
        )
        window = self.reactivation_window_days
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int) or window < 1
        ):
            raise ConfigError(
                f'[revenue] reactivation_window_days must be a positive whole number of days or "{UNLIMITED}".'
            )
        dunning = self.dunning_window_days
        if dunning is not None and (
            isinstance(dunning, bool) or not isinstance(dunning, int) or dunning < 1
        ):
            raise ConfigError(
                f'[revenue] dunning_window_days must be a positive whole number of days or "{OFF}".'
            )
        labels = self.plan_labels
        if not isinstance(labels, tuple) or not all(
            isinstance(plan, str) and plan for plan in labels
        ):
            raise ConfigError(
                '[revenue] plan_labels must be a list of plan names, e.g. ["starter", "growth"].'
            )
        if len(set(labels)) != len(labels) or OTHER_PLAN in labels:
            raise ConfigError(
                f'[revenue] plan_labels must be distinct plan names other than "{OTHER_PLAN}".'
            )

    @property
    def cancellation_mode(self) -> int:
        """How a cancel's time is read (`steps.MODES`), from the two knobs that decide it."""
        if self.churn_recognition == "occurred_at":
            return AT_OCCURRENCE
        return (
            EFFECTIVE_WHEN_KNOWN
            if self.backdated_cancellations == "when_known"
            else EFFECTIVE_REWRITE
        )

    def rate(self, currency: str, at: int) -> Decimal | None:
        """Units of the reporting currency per unit of `currency` in force at `at` (epoch
        ms), None when no rate is dated on or before it."""
        return self.rate_table.rate(currency, at)

    def rate_known(self, currency: str, at: int) -> bool:
        """Whether an event in `currency` at `at` can be converted (the decoder's check)."""
        return self.rate_table.known(currency, at)

    def plan_label(self, plan: str) -> str:
        """The `plan` label value a subscription's plan is reported under."""
        if not self.plan_labels or plan in self.plan_labels:
            return plan
        return OTHER_PLAN

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], dated_rates: tuple[DatedRate, ...] | None = None
    ) -> RevenueConfig:
        """Build from the `[revenue]` TOML table; any mistake raises ConfigError naming the fix.

        `rates` entries are in units of the reporting currency and override the default
        table (rebased to the reporting currency) at every date; the reporting currency's
        own rate is 1. `dated_rates` is the table `rates_file` names, read by the caller
        (streams.pulse_config), which resolves the path; None: the shipped table.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigError("[revenue] must be a table of settings.")
        known = (
            "reporting_currency",
            "rates",
            "churn_recognition",
            "discount_scope",
            "reactivation_window_days",
            "same_window_new_and_churn",
            "plan_labels",
            "free_subscriptions",
            "backdated_cancellations",
            "dunning_window_days",
            "rates_file",
        )
        unknown = sorted(str(key) for key in mapping if key not in known)
        if unknown:
            raise ConfigError(
                f"Unknown key [revenue] {unknown[0]}: remove it (known keys: {', '.join(known)})."
            )
        fields: dict[str, Any] = {
            key: mapping[key]
            for key in (
                "reporting_currency",
                "churn_recognition",
                "discount_scope",
                "same_window_new_and_churn",
                "free_subscriptions",
                "backdated_cancellations",
            )
            if key in mapping
        }
        reporting = fields.get("reporting_currency", "USD")
        if not is_currency_code(reporting):
            raise ConfigError(
                '[revenue] reporting_currency must be an ISO 4217 code of three upper-case letters, e.g. "USD".'
            )
        fields["dated_rates"] = tuple(default_rates()) if dated_rates is None else dated_rates
        fields["rates"] = _configured_rates(
            mapping.get("rates", {}), reporting, fields["dated_rates"]
        )
        if "reactivation_window_days" in mapping:
            window = mapping["reactivation_window_days"]
            fields["reactivation_window_days"] = None if window == UNLIMITED else window
        if "dunning_window_days" in mapping:
            dunning = mapping["dunning_window_days"]
            fields["dunning_window_days"] = None if dunning == OFF else dunning
        if "plan_labels" in mapping:
            labels = mapping["plan_labels"]
            if not isinstance(labels, list | tuple):
                raise ConfigError(
                    '[revenue] plan_labels must be a list of plan names, e.g. ["starter", "growth"].'
                )
            fields["plan_labels"] = tuple(labels)
        return cls(**fields)


def _check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        options = " or ".join(f'"{choice}"' for choice in choices)
        raise ConfigError(f"[revenue] {key} must be {options}.")


def _configured_rates(
    overrides: object, reporting: str, dated: tuple[DatedRate, ...]
) -> dict[str, Decimal]:
    """The `[revenue.rates]` table (units of `reporting`, at every date), checked."""
    if not isinstance(overrides, Mapping):
        raise ConfigError('[revenue.rates] must be a table of currency = rate, e.g. EUR = "1.08".')
    listed = {code for _start, code, _rate in dated} | {BASE_CURRENCY}
    if reporting not in listed and reporting not in overrides:
        raise ConfigError(
            f"The rates table has no {reporting}: set [revenue.rates] with {reporting} = 1 "
            "and the rates of the currencies you bill in, or a rates_file that lists it."
        )
    rates: dict[str, Decimal] = {}
    for code, value in overrides.items():
        if not is_currency_code(code):
            raise ConfigError(
                f"[revenue.rates] key {code!r} is not a currency code: use three upper-case letters."
            )
        try:
            rates[code] = parse_rate(value)
        except ValueError:
            raise ConfigError(
                f'[revenue.rates] {code} must be a positive number, e.g. {code} = "1.08".'
            ) from None
    if reporting in rates and rates[reporting] != 1:
        raise ConfigError(
            f"[revenue.rates] {reporting} is the reporting currency, so its rate must be 1."
        )
    if rates and reporting not in listed:
        rates[reporting] = Decimal(1)
    return rates
