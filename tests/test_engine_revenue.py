"""The revenue family of the engine: MRR, movements, NRR/GRR, churn, ARPA, trials, payments.

Pure and fast: events are built in memory, no I/O. Expected values come from the
definitions (docs/metrics-revenue.md) and the worked examples of the domain catalogs.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Context, Decimal

import pytest

from streams.contract.model import Event, Login, Payment, SubscriptionCanceled, SubscriptionSet
from streams.engine.revenue import REVENUE_METRICS, AccountRevenue, RevenueConfig, revenue_samples
from streams.engine.state_codec import revenue_from_bytes, revenue_to_bytes
from streams.engine.timeline import DAY_MS, HOUR_MS
from streams.errors import ConfigError

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = DAY_MS
USD = RevenueConfig()
_ids = itertools.count()


def _next_id() -> str:
    return f"evt-{next(_ids):06d}"


def started(
    sub: str,
    at: int,
    amount: str | int,
    *,
    kind: str = "subscription_started",
    event_id: str | None = None,
    account: str = "acme",
    **terms: object,
) -> SubscriptionSet:
    fields: dict[str, object] = {"plan": "pro", "currency": "USD", "interval": "month"}
    fields.update(terms)
    if "discount_percent" in fields:
        fields["discount_percent"] = Decimal(str(fields["discount_percent"]))
    return SubscriptionSet(
        event_id or _next_id(),
        kind,
        at,
        account,
        None,
        subscription_id=sub,
        amount=Decimal(str(amount)),
        **fields,
    )  # type: ignore[arg-type]


def changed(sub: str, at: int, amount: str | int, **terms: object) -> SubscriptionSet:
    return started(sub, at, amount, kind="subscription_changed", **terms)


def canceled(
    sub: str, at: int, effective_at: int | None = None, *, event_id: str | None = None
) -> SubscriptionCanceled:
    return SubscriptionCanceled(
        event_id or _next_id(),
        "subscription_canceled",
        at,
        "acme",
        None,
        subscription_id=sub,
        effective_at=at if effective_at is None else effective_at,
    )


def payment(at: int, ok: bool, amount: str, currency: str = "USD") -> Payment:
    return Payment(
        _next_id(),
        "payment_succeeded" if ok else "payment_failed",
        at,
        "acme",
        None,
        subscription_id="s1",
        amount=Decimal(amount),
        currency=currency,
    )


def account_of(events: Iterable[Event]) -> AccountRevenue:
    account = AccountRevenue()
    for event in events:
        account.apply(event)
    return account


def figures(
    accounts: Sequence[AccountRevenue] | AccountRevenue, at: int, config: RevenueConfig = USD
) -> dict:
    """{(name, label values): value} of revenue_samples; the window label is left out when
    it is the family's short window (30d, 7d payments), kept for 90d and 365d."""
    if isinstance(accounts, AccountRevenue):
        accounts = [accounts]
    return {
        (
            s.name,
            tuple(
                value for key, value in s.labels if not (key == "window" and value in ("30d", "7d"))
            ),
        ): s.value
        for s in revenue_samples(accounts, at, config)
    }


def mrr(
    accounts: Sequence[AccountRevenue] | AccountRevenue, at: int, config: RevenueConfig = USD
) -> Decimal:
    found = figures(accounts, at, config)
    return sum((value for (name, _), value in found.items() if name == "pulse_mrr"), Decimal(0))


def movement(found: dict, kind: str) -> Decimal:
    return found[("pulse_mrr_movement", (kind,))]


def moved_accounts(found: dict, kind: str) -> int:
    return found[("pulse_mrr_movement_accounts", (kind,))]


# --- MRR of a subscription ------------------------------------------------------------------


def test_seed_example_mrr_is_616_67() -> None:
    """Seed 000, X1: 1000/year, 300/month, 200/quarter and 500 every 3 months."""
    terms = [("1000", "year", 1), ("300", "month", 1), ("200", "quarter", 1), ("500", "month", 3)]
    customers = [
        account_of([started(f"s{i}", T0, amount, interval=interval, interval_count=count)])
        for i, (amount, interval, count) in enumerate(terms)
    ]
    assert [a.mrr_cents_at(T0, USD) for a in customers] == [8333, 30000, 6667, 16667]
    assert mrr(customers, T0) == Decimal("616.67")
    one_account = account_of(
        started(f"s{i}", T0, amount, interval=interval, interval_count=count)
        for i, (amount, interval, count) in enumerate(terms)
    )
    assert mrr(one_account, T0) == Decimal("616.67")


@pytest.mark.parametrize(
    ("amount", "interval", "count", "monthly"),
    [
        ("10", "day", 1, "304.17"),  # 10 x 365 / 12 = 304.1666...
        ("10", "day", 7, "43.45"),  # 10 x 365 / 84 = 43.452...
        ("12", "week", 1, "52.00"),  # 12 x 52 / 12
        ("30", "week", 2, "65.00"),  # 30 x 52 / 24
        ("90", "month", 3, "30.00"),
        ("600", "quarter", 2, "100.00"),
        ("1200", "year", 2, "50.00"),
        ("100", "year", 1, "8.33"),
    ],
)
def test_normalisation_per_interval(amount: str, interval: str, count: int, monthly: str) -> None:
    account = account_of([started("s1", T0, amount, interval=interval, interval_count=count)])
    assert mrr(account, T0) == Decimal(monthly)


def test_quantity_and_discount_round_half_up_at_the_cent() -> None:
    # 49 x 3 seats x (1 - 12.5 %) = 128.625 -> 128.63 (half-up; half-even would give 128.62)
    account = account_of([started("s1", T0, "49", quantity=3, discount_percent="12.5")])
    assert mrr(account, T0) == Decimal("128.63")
    assert mrr(account, T0, RevenueConfig(discount_scope="ignore")) == Decimal("147.00")


def test_currency_conversion_and_rounding_half_up() -> None:
    config = RevenueConfig.from_mapping({"rates": {"EUR": "1.5", "GBP": 1.25}})
    # 0.03 EUR x 1.5 = 0.045 USD -> 0.05 (half-up), 10 GBP x 1.25 = 12.50
    assert mrr(account_of([started("s1", T0, "0.03", currency="EUR")]), T0, config) == Decimal(
        "0.05"
    )
    assert mrr(account_of([started("s1", T0, "10", currency="GBP")]), T0, config) == Decimal(
        "12.50"
    )
    # The default table, and a reporting currency other than the table's base.
    eur = Decimal("1.035")  # the shipped table's EUR, dated 2025-01-02 (before T0)
    assert RevenueConfig().rate("EUR", T0) == eur
    expected = (Decimal(100) * eur).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert mrr(account_of([started("s1", T0, "100", currency="EUR")]), T0) == expected
    in_euro = RevenueConfig(reporting_currency="EUR")
    assert in_euro.rate("EUR", T0) == 1
    assert mrr(
        account_of([started("s1", T0, str(eur * 100), currency="USD")]), T0, in_euro
    ) == Decimal("100.00")


def test_default_rate_table_covers_the_common_currencies_and_the_rouble() -> None:
    known = USD.rate_table.currencies()
    assert {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "RUB"} <= known
    assert len(known) >= 15
    assert "XYZ" not in known


def test_seed_000_rouble_example_is_counted() -> None:
    """Seed 000's MRR example, in roubles (1000/year, 300/month, 200/quarter, 500 every 3
    months = 616.67 a month), reported in roubles and in US dollars."""
    subs = [
        started("s1", T0, "1000", currency="RUB", interval="year"),
        started("s2", T0, "300", currency="RUB"),
        started("s3", T0, "200", currency="RUB", interval="quarter"),
        started("s4", T0, "500", currency="RUB", interval="month", interval_count=3),
    ]
    in_roubles = RevenueConfig(reporting_currency="RUB")
    assert mrr(account_of(subs), T0, in_roubles) == Decimal("616.67")
    # each subscription converted and rounded once: 0.82 + 2.95 + 0.66 + 1.64 (0.009835 USD/RUB)
    assert mrr(account_of(subs), T0) == Decimal("6.07")


DATED = (
    (T0 - 10 * DAY, "EUR", Decimal("1.00")),
    (T0 + 10 * DAY, "EUR", Decimal("1.20")),
    (T0 + 20 * DAY, "GBP", Decimal("1.30")),
)


def test_the_rate_in_force_at_the_event_applies_nearest_earlier_date() -> None:
    config = RevenueConfig(dated_rates=DATED)
    assert config.rate("EUR", T0 - 10 * DAY - 1) is None  # before its first date: no rate
    assert config.rate("EUR", T0 - 10 * DAY) == Decimal("1.00")  # from 00:00 UTC of its date
    assert config.rate("EUR", T0 + 10 * DAY - 1) == Decimal("1.00")
    assert config.rate("EUR", T0 + 10 * DAY) == Decimal("1.20")
    assert config.rate("EUR", T0 + 400 * DAY) == Decimal("1.20")  # the latest holds on
    assert config.rate("USD", -(1 << 40)) == 1  # the base, at every date
    assert config.rate("GBP", T0) is None and not config.rate_known("GBP", T0)
    assert config.rate("RUB", T0) is None  # a table of one's own replaces the shipped one


def test_terms_keep_the_rate_of_the_day_they_were_set_until_they_change() -> None:
    config = RevenueConfig(dated_rates=DATED)
    account = account_of([started("s1", T0, "100", currency="EUR")])
    assert mrr(account, T0, config) == Decimal("100.00")
    assert mrr(account, T0 + 15 * DAY, config) == Decimal("100.00")  # no FX movement in between
    account.apply(started("s1", T0 + 15 * DAY, "100", kind="subscription_changed", currency="EUR"))
    assert mrr(account, T0 + 15 * DAY, config) == Decimal("120.00")  # new terms, that day's rate
    assert movement(figures(account, T0 + 15 * DAY, config), "expansion") == Decimal("20.00")


def test_payments_convert_at_their_own_date() -> None:
    config = RevenueConfig(dated_rates=DATED)
    account = account_of(
        [payment(T0 + 9 * DAY, True, "10", "EUR"), payment(T0 + 11 * DAY, True, "10", "EUR")]
    )
    found = figures(account, T0 + 12 * DAY, config)
    assert found[("pulse_payments_succeeded_amount", ())] == Decimal("22.00")


def test_a_reporting_currency_other_than_usd_is_rebased_date_by_date() -> None:
    config = RevenueConfig(reporting_currency="EUR", dated_rates=DATED)
    assert config.rate("USD", T0) == 1 and config.rate("EUR", T0) == 1
    exact = Context(prec=34)  # cross rates carry 34 significant digits
    assert config.rate("USD", T0 + 10 * DAY) == exact.divide(Decimal(1), Decimal("1.20"))
    assert config.rate("GBP", T0 + 20 * DAY) == exact.divide(Decimal("1.30"), Decimal("1.20"))
    assert config.rate("USD", T0 - 11 * DAY) is None  # no EUR rate yet to express it in


def test_configured_rates_hold_at_every_date_and_override_the_table() -> None:
    config = RevenueConfig.from_mapping({"rates": {"EUR": "1.5"}}, DATED)
    assert config.rate("EUR", T0 - 100 * DAY) == Decimal("1.5")
    assert config.rate("GBP", T0 + 20 * DAY) == Decimal("1.30")


# --- trials, cancellations, reactivation ------------------------------------------------


def test_trial_conversion() -> None:
    trial_end = T0 + 14 * DAY
    account = account_of([started("s1", T0, "100", trial_ends_at=trial_end)])
    during = figures(account, trial_end - 1)
    assert during[("pulse_trialing_accounts", ())] == 1
    assert mrr(account, trial_end - 1) == 0
    assert movement(during, "new") == 0
    after = figures(account, trial_end)
    assert mrr(account, trial_end) == Decimal("100.00")
    assert after[("pulse_trialing_accounts", ())] == 0
    assert movement(after, "new") == Decimal("100.00")  # the `new` movement is at the trial's end
    assert moved_accounts(after, "new") == 1


def test_cancel_during_trial_never_has_mrr_nor_churn() -> None:
    account = account_of(
        [started("s1", T0, "100", trial_ends_at=T0 + 14 * DAY), canceled("s1", T0 + 5 * DAY)]
    )
    assert figures(account, T0 + 3 * DAY)[("pulse_trialing_accounts", ())] == 1
    for at in (T0 + 5 * DAY, T0 + 14 * DAY, T0 + 40 * DAY):
        found = figures(account, at)
        assert mrr(account, at) == 0
        assert found[("pulse_trialing_accounts", ())] == 0
        assert all(movement(found, kind) == 0 for kind in ("new", "churn"))


def test_cancel_effective_at_period_end_in_the_future() -> None:
    end = T0 + 59 * DAY
    account = account_of(
        [started("s1", T0, "100"), canceled("s1", T0 + 40 * DAY, effective_at=end)]
    )
    assert mrr(account, T0 + 45 * DAY) == Decimal("100.00")
    assert movement(figures(account, T0 + 45 * DAY), "churn") == 0
    assert mrr(account, end - 1) == Decimal("100.00")
    assert mrr(account, end) == 0
    assert movement(figures(account, end), "churn") == Decimal("100.00")
    # churn_recognition = "occurred_at": MRR drops when the customer cancels.
    at_cancel = RevenueConfig(churn_recognition="occurred_at")
    assert mrr(account, T0 + 40 * DAY - 1, at_cancel) == Decimal("100.00")
    assert mrr(account, T0 + 40 * DAY, at_cancel) == 0
    assert movement(figures(account, T0 + 45 * DAY, at_cancel), "churn") == Decimal("100.00")


def test_backdated_cancel_counts_only_once_it_has_occurred() -> None:
    account = account_of(
        [started("s1", T0, "100"), canceled("s1", T0 + 20 * DAY, effective_at=T0 + 10 * DAY)]
    )
    assert mrr(account, T0 + 15 * DAY) == Decimal("100.00")  # the cancel is not known yet
    assert mrr(account, T0 + 20 * DAY) == 0
    assert movement(figures(account, T0 + 20 * DAY), "churn") == Decimal("100.00")


REWRITE = RevenueConfig(backdated_cancellations="rewrite")


def mrr_in_hindsight(
    account: AccountRevenue, known_at: int, t: int, config: RevenueConfig = USD
) -> int:
    """Account MRR at t in cents, as the events known at `known_at` tell it."""
    return account.evaluation(known_at, config).steps.at(t)


def test_backdated_cancel_is_booked_when_it_became_known_by_default() -> None:
    """Recorded on 06-10, effective 05-01: at 06-15 a live board sees the churn."""
    may_1, jun_10, jun_15 = T0 + 120 * DAY, T0 + 160 * DAY, T0 + 165 * DAY
    account = account_of([started("s1", T0, "100"), canceled("s1", jun_10, effective_at=may_1)])
    found = figures(account, jun_15)
    assert movement(found, "churn") == Decimal("100.00")
    assert found[("pulse_retention_churned_accounts", ())] == 1
    assert found[("pulse_gross_revenue_retention_ratio", ())] == 0
    assert mrr_in_hindsight(account, jun_15, jun_10 - 1) == 10_000  # the past stays as it was known
    # the rewriting setting: MRR 0 from 05-01, so the 30-day window at 06-15 shows nothing
    found = figures(account, jun_15, REWRITE)
    assert movement(found, "churn") == 0
    assert found[("pulse_retention_base_accounts", ())] == 0
    assert mrr_in_hindsight(account, jun_15, jun_10 - 1, REWRITE) == 0


def test_backdated_cancel_does_not_end_terms_that_began_after_its_effective_time() -> None:
    """A restart between effective_at and the time the cancel became known is not cancelled."""
    account = account_of(
        [
            started("s1", T0, "100"),
            started("s1", T0 + 15 * DAY, "70"),
            canceled("s1", T0 + 20 * DAY, effective_at=T0 + 10 * DAY),
        ]
    )
    assert mrr(account, T0 + 25 * DAY) == Decimal("70.00")
    assert mrr_in_hindsight(account, T0 + 25 * DAY, T0 + 12 * DAY) == 10_000
    assert (
        mrr_in_hindsight(account, T0 + 25 * DAY, T0 + 12 * DAY, REWRITE) == 0
    )  # held from day 10 to 15
    assert mrr(account, T0 + 25 * DAY, REWRITE) == Decimal("70.00")


def test_backdated_cancellations_config() -> None:
    assert RevenueConfig().backdated_cancellations == "when_known"
    assert RevenueConfig.from_mapping({"backdated_cancellations": "rewrite"}) == REWRITE
    with pytest.raises(ConfigError, match="backdated_cancellations"):
        RevenueConfig.from_mapping({"backdated_cancellations": "later"})


def test_new_terms_before_a_scheduled_cancel_takes_effect_do_not_withdraw_it() -> None:
    cancel = canceled("s1", T0 + 10 * DAY, effective_at=T0 + 30 * DAY)
    for renewed in (changed("s1", T0 + 20 * DAY, "150"), started("s1", T0 + 20 * DAY, "150")):
        account = account_of([started("s1", T0, "100"), cancel, renewed])
        assert mrr(account, T0 + 25 * DAY) == Decimal("150.00")
        assert mrr(account, T0 + 30 * DAY) == 0
        assert movement(figures(account, T0 + 30 * DAY), "churn") == Decimal("150.00")


def test_reactivation_and_its_window_knob() -> None:
    events = [
        started("s1", T0, "100"),
        canceled("s1", T0 + 35 * DAY),
        started("s1", T0 + 60 * DAY, "120"),
    ]
    account = account_of(events)
    assert mrr(account, T0 + 45 * DAY) == 0
    found = figures(account, T0 + 60 * DAY)
    assert movement(found, "reactivation") == Decimal("120.00")
    assert movement(found, "new") == 0
    assert movement(found, "churn") == Decimal("100.00")
    # A later change after the cancel's effective time also re-activates it.
    assert mrr(
        account_of([*events[:2], changed("s1", T0 + 50 * DAY, "80")]), T0 + 50 * DAY
    ) == Decimal("80.00")
    # Maxio-style window: within N days of the churn a reactivation, after it "new" again.
    within = figures(account, T0 + 60 * DAY, RevenueConfig(reactivation_window_days=25))
    assert movement(within, "reactivation") == Decimal("120.00")
    beyond = figures(account, T0 + 60 * DAY, RevenueConfig(reactivation_window_days=24))
    assert movement(beyond, "reactivation") == 0
    assert movement(beyond, "new") == Decimal("120.00")


def test_another_subscription_after_churn_is_a_reactivation_of_the_account() -> None:
    account = account_of(
        [
            started("s1", T0, "100"),
            canceled("s1", T0 + 10 * DAY),
            started("s2", T0 + 20 * DAY, "50"),
        ]
    )
    found = figures(account, T0 + 20 * DAY)
    assert movement(found, "reactivation") == Decimal("50.00")
    assert movement(found, "new") == Decimal("100.00")


def test_same_day_upgrade_then_downgrade_gives_two_movements() -> None:
    day = T0 + 40 * DAY
    account = account_of(
        [
            started("s1", T0, "100"),
            changed("s1", day + 9 * HOUR_MS, "250"),
            changed("s1", day + 15 * HOUR_MS, "100"),
        ]
    )
    found = figures(account, day + DAY)
    assert movement(found, "expansion") == Decimal("150.00")
    assert movement(found, "contraction") == Decimal("150.00")
    assert moved_accounts(found, "expansion") == moved_accounts(found, "contraction") == 1


def test_equal_timestamps_break_ties_by_kind_then_event_id() -> None:
    at = T0 + 10 * DAY
    base = started("s1", T0, "100")
    # changed sorts after started at the same instant: its terms win.
    assert mrr(account_of([base, started("s1", at, "70"), changed("s1", at, "90")]), at) == Decimal(
        "90.00"
    )
    # two changes at the same instant: the larger event_id wins.
    pair = [changed("s1", at, "80", event_id="b"), changed("s1", at, "60", event_id="a")]
    assert mrr(account_of([base, *pair]), at) == Decimal("80.00")
    # a cancel sorts after a change at the same instant: it is not re-activated by it.
    assert mrr(account_of([base, canceled("s1", at), changed("s1", at, "90")]), at) == 0


def test_same_window_new_and_churn_knob() -> None:
    account = account_of(
        [
            started("s1", T0 + 5 * DAY, "100"),
            changed("s1", T0 + 10 * DAY, "130"),
            canceled("s1", T0 + 20 * DAY),
        ]
    )
    counted = figures(account, T0 + 25 * DAY)
    assert (
        movement(counted, "new"),
        movement(counted, "expansion"),
        movement(counted, "churn"),
    ) == (Decimal("100.00"), Decimal("30.00"), Decimal("130.00"))
    ignored = figures(account, T0 + 25 * DAY, RevenueConfig(same_window_new_and_churn="ignore"))
    assert all(movement(ignored, kind) == 0 for kind in ("new", "expansion", "churn"))
    assert all(moved_accounts(ignored, kind) == 0 for kind in ("new", "expansion", "churn"))
    # Once the new is out of the window, the churn alone is reported.
    later = figures(account, T0 + 36 * DAY, RevenueConfig(same_window_new_and_churn="ignore"))
    assert movement(later, "churn") == Decimal("130.00")


# --- windows, retention, aggregates -------------------------------------------------------


def test_window_boundary_movement_at_t_minus_30d_is_out_at_t_is_in() -> None:
    start = T0 + 7 * DAY
    account = account_of([started("s1", start, "100"), payment(start, True, "100")])
    assert movement(figures(account, start), "new") == Decimal("100.00")
    assert movement(figures(account, start + 30 * DAY - 1), "new") == Decimal("100.00")
    assert movement(figures(account, start + 30 * DAY), "new") == 0
    assert figures(account, start)[("pulse_payments_succeeded", ())] == 1
    assert figures(account, start + 7 * DAY)[("pulse_payments_succeeded", ())] == 0


def _retention_accounts(rows: Iterable[tuple[int, int]], at: int) -> list[AccountRevenue]:
    """One account per (MRR at T - 30d, MRR at T) pair, changed 15 days before T."""
    accounts = []
    for index, (before, after) in enumerate(rows):
        events: list[Event] = [started(f"s{index}", T0, before)]
        if after == 0:
            events.append(canceled(f"s{index}", at - 15 * DAY))
        elif after != before:
            events.append(changed(f"s{index}", at - 15 * DAY, after))
        accounts.append(account_of(events))
    return accounts


def test_nrr_grr_vector_from_the_seed_catalog() -> None:
    """seeds 001-004, T-NRR: start 100,000; expansion 15,000; contraction 5,000; churn 8,000."""
    at = T0 + 60 * DAY
    cohort = _retention_accounts(
        [(50_000, 65_000), (30_000, 25_000), (8_000, 0), (12_000, 12_000)], at
    )
    newcomer = account_of([started("n1", at - 10 * DAY, "999")])  # not in the cohort
    found = figures([*cohort, newcomer], at)
    assert found[("pulse_net_revenue_retention_ratio", ())] == pytest.approx(1.02)
    assert found[("pulse_gross_revenue_retention_ratio", ())] == pytest.approx(0.87)
    assert found[("pulse_retention_base_mrr", ())] == Decimal("100000.00")
    assert found[("pulse_retention_current_mrr", ())] == Decimal("102000.00")
    assert found[("pulse_retention_capped_mrr", ())] == Decimal("87000.00")
    assert found[("pulse_customer_churn_ratio", ())] == pytest.approx(0.25)
    assert (
        movement(found, "expansion"),
        movement(found, "contraction"),
        movement(found, "churn"),
    ) == (Decimal("15000.00"), Decimal("5000.00"), Decimal("8000.00"))
    assert movement(found, "new") == Decimal("999.00")
    # quick ratio = (new + expansion + reactivation) / (contraction + churn)
    assert found[("pulse_mrr_quick_ratio", ())] == pytest.approx((999 + 15_000) / 13_000)


def test_churn_family_gross_and_net_mrr_churn_over_the_start_mrr() -> None:
    """ChartMogul standard: start 100,000; churn 8,000, contraction 5,000, expansion 15,000,
    and an account outside the start cohort reactivates with 2,000 (plus a new 999)."""
    at = T0 + 60 * DAY
    cohort = _retention_accounts(
        [(50_000, 65_000), (30_000, 25_000), (8_000, 0), (12_000, 12_000)], at
    )
    returning = account_of(
        [
            started("r1", T0, "2000"),
            canceled("r1", T0 + 10 * DAY),
            started("r1", at - 5 * DAY, "2000"),
        ]
    )
    newcomer = account_of([started("n1", at - 10 * DAY, "999")])
    found = figures([*cohort, returning, newcomer], at)
    assert movement(found, "reactivation") == Decimal("2000.00")
    assert found[("pulse_gross_mrr_churn_ratio", ())] == pytest.approx(0.13)
    assert found[("pulse_net_mrr_churn_ratio", ())] == pytest.approx(-0.04)
    # the cohort figure is not the net MRR churn: 1 - NRR = -2 % here
    assert 1 - found[("pulse_net_revenue_retention_ratio", ())] == pytest.approx(-0.02)


def test_retention_over_90_and_365_days_uses_the_cohort_of_that_window() -> None:
    """Three accounts: paying for a year and expanding, churned 60 days ago, and joined 50
    days ago. Each window has its own cohort (accounts paying at T - W)."""
    at = T0 + 400 * DAY
    veteran = account_of(
        [
            started("v", T0, "1000"),
            changed("v", at - 200 * DAY, "1200"),
            changed("v", at - 10 * DAY, "1500"),
        ]
    )
    lost = account_of([started("l", at - 100 * DAY, "500"), canceled("l", at - 60 * DAY)])
    newer = account_of([started("n", at - 50 * DAY, "300")])
    found = figures([veteran, lost, newer], at)
    # 30d: veteran 1200 -> 1500 and newer 300 -> 300
    assert found[("pulse_net_revenue_retention_ratio", ())] == pytest.approx(1800 / 1500)
    # 90d: veteran 1200 -> 1500, lost 500 -> 0
    assert found[("pulse_net_revenue_retention_ratio", ("90d",))] == pytest.approx(1500 / 1700)
    assert found[("pulse_gross_revenue_retention_ratio", ("90d",))] == pytest.approx(1200 / 1700)
    assert found[("pulse_customer_churn_ratio", ("90d",))] == pytest.approx(0.5)
    # 365d: only the veteran, 1000 -> 1500
    assert found[("pulse_retention_base_mrr", ("365d",))] == Decimal("1000.00")
    assert found[("pulse_retention_current_mrr", ("365d",))] == Decimal("1500.00")
    assert found[("pulse_retention_capped_mrr", ("365d",))] == Decimal("1000.00")
    assert found[("pulse_retention_base_accounts", ("365d",))] == 1
    assert found[("pulse_retention_churned_accounts", ("365d",))] == 0
    assert found[("pulse_net_revenue_retention_ratio", ("365d",))] == pytest.approx(1.5)


def test_account_state_keeps_a_year_of_billing_for_the_annual_window() -> None:
    from streams.engine.account import REVENUE_WINDOW_MS

    assert REVENUE_WINDOW_MS >= 365 * DAY


CHURNED_WHEN_FREE = RevenueConfig(free_subscriptions="churned")


def test_a_move_to_free_is_contraction_by_default_and_churn_with_the_knob() -> None:
    """ChartMogul's default keeps a customer on a 100 % discount or a free plan active."""
    at = T0 + 45 * DAY
    account = account_of(
        [
            started("s1", T0, "100"),
            changed("s1", at - 20 * DAY, "100", discount_percent=100),
            changed("s1", at - 5 * DAY, "50"),
        ]
    )
    free = at - 10 * DAY
    found = figures(account, free)
    assert (movement(found, "contraction"), movement(found, "churn")) == (Decimal("100.00"), 0)
    assert found[("pulse_retention_churned_accounts", ())] == 0
    assert found[("pulse_customer_churn_ratio", ())] == 0
    assert found[("pulse_retention_base_accounts", ())] == 1
    assert mrr(account, free) == 0
    found = figures(account, at)
    assert (movement(found, "expansion"), movement(found, "reactivation")) == (Decimal("50.00"), 0)
    # the other setting: the move to free is churn, and paying again a reactivation
    found = figures(account, free, CHURNED_WHEN_FREE)
    assert (movement(found, "contraction"), movement(found, "churn")) == (0, Decimal("100.00"))
    assert found[("pulse_customer_churn_ratio", ())] == 1
    found = figures(account, at, CHURNED_WHEN_FREE)
    assert (movement(found, "expansion"), movement(found, "reactivation")) == (0, Decimal("50.00"))


def test_free_customers_join_the_retention_cohort_and_their_upgrade_is_new_mrr() -> None:
    at = T0 + 45 * DAY
    starter = account_of([started("f1", T0, "0", plan="free"), changed("f1", at - 3 * DAY, "30")])
    found = figures(starter, at)
    assert movement(found, "new") == Decimal("30.00")  # its first MRR
    assert (
        found[("pulse_retention_base_accounts", ())] == 1
    )  # a customer at T - 30d, on the free plan
    assert found[("pulse_retention_base_mrr", ())] == 0
    assert found[("pulse_retention_current_mrr", ())] == Decimal("30.00")
    assert found[("pulse_paying_accounts", ("free",))] == 0
    assert figures(starter, at, CHURNED_WHEN_FREE)[("pulse_retention_base_accounts", ())] == 0
    ended = account_of([started("f1", T0, "0", plan="free"), canceled("f1", at - 3 * DAY)])
    assert figures(ended, at)[("pulse_retention_churned_accounts", ())] == 1


def test_churn_rates_are_zero_without_mrr_at_the_start() -> None:
    found = figures(account_of([started("n1", T0, "10"), canceled("n1", T0 + DAY)]), T0 + 2 * DAY)
    assert movement(found, "churn") == Decimal("10.00")
    assert found[("pulse_gross_mrr_churn_ratio", ())] == 0
    assert found[("pulse_net_mrr_churn_ratio", ())] == 0


def test_nrr_vector_from_seed_000() -> None:
    """Seed 000, X4: start 10,000; expansion 2,000; contraction 500; churn 1,000 -> 105 %."""
    at = T0 + 60 * DAY
    found = figures(_retention_accounts([(5_000, 7_000), (4_000, 3_500), (1_000, 0)], at), at)
    assert found[("pulse_net_revenue_retention_ratio", ())] == pytest.approx(1.05)
    assert found[("pulse_gross_revenue_retention_ratio", ())] == pytest.approx(0.85)


def test_customer_churn_vector_cohort_exact() -> None:
    """seeds 001-004, T-CRR-2: 200 customers at the start, 28 of them lost -> 14 %."""
    at = T0 + 60 * DAY
    rows = [(100, 0)] * 28 + [(100, 100)] * 172
    late_joiner = account_of([started("n1", at - 20 * DAY, "100"), canceled("n1", at - 5 * DAY)])
    found = figures([*_retention_accounts(rows, at), late_joiner], at)
    assert found[("pulse_customer_churn_ratio", ())] == pytest.approx(0.14)
    assert found[("pulse_retention_base_accounts", ())] == 200
    assert found[("pulse_retention_churned_accounts", ())] == 28
    assert moved_accounts(found, "churn") == 29


def test_plan_split_sums_to_the_total_and_paying_accounts_follow_the_largest_subscription() -> None:
    mixed = account_of(
        [started("s1", T0, "100", plan="growth"), started("s2", T0, "300", plan="addon")]
    )
    tied = account_of([started("s3", T0, "50", plan="zeta"), started("s4", T0, "50", plan="alpha")])
    found = figures([mixed, tied], T0)
    assert found[("pulse_mrr", ("growth",))] == Decimal("100.00")
    assert found[("pulse_mrr", ("addon",))] == Decimal("300.00")
    assert mrr([mixed, tied], T0) == Decimal("500.00")
    assert found[("pulse_paying_accounts", ("addon",))] == 1
    assert found[("pulse_paying_accounts", ("alpha",))] == 1
    assert (
        found[("pulse_paying_accounts", ("growth",))]
        == found[("pulse_paying_accounts", ("zeta",))]
        == 0
    )
    assert found[("pulse_arpa", ())] == pytest.approx(250.0)
    bounded = figures([mixed, tied], T0, RevenueConfig(plan_labels=("growth",)))
    assert {labels for name, labels in bounded if name == "pulse_mrr"} == {("growth",), ("other",)}
    assert bounded[("pulse_mrr", ("other",))] == Decimal("400.00")


def test_arpa_is_mrr_over_paying_accounts_unrounded() -> None:
    accounts = [
        account_of([started("s1", T0, "0.01")]),
        account_of([started("s2", T0, "0.02")]),
        AccountRevenue(),
    ]
    assert figures(accounts, T0)[("pulse_arpa", ())] == pytest.approx(0.015)


def test_payments_in_seven_days_and_past_due() -> None:
    config = RevenueConfig.from_mapping({"rates": {"EUR": "1.5"}})
    at = T0 + 40 * DAY
    account = account_of(
        [
            started("s1", T0, "100"),
            payment(at - 8 * DAY, True, "100"),  # out of the window
            payment(at - 6 * DAY, True, "100"),
            payment(at - 2 * DAY, False, "10", "EUR"),
            payment(at - 1 * DAY, False, "0.03", "EUR"),
        ]
    )
    found = figures(account, at, config)
    assert found[("pulse_payments_succeeded", ())] == 1
    assert found[("pulse_payments_failed", ())] == 2
    assert found[("pulse_payments_succeeded_amount", ())] == Decimal("100.00")
    assert found[("pulse_payments_failed_amount", ())] == Decimal("15.05")  # 15.00 + 0.045 -> 0.05
    assert found[("pulse_past_due_accounts", ())] == 1
    account.apply(
        payment(at - 1 * DAY, True, "100")
    )  # same millisecond: the success counts as latest
    assert figures(account, at, config)[("pulse_past_due_accounts", ())] == 0


def _dunning_account(*payments: Event) -> AccountRevenue:
    return account_of([started("s1", T0, "100"), *payments])


def test_dunning_window_ending_unpaid_is_involuntary_churn_and_a_later_success_a_reactivation() -> (
    None
):
    """ProfitWell's delinquent churn / Stripe's unpaid: 15 days after the failure, unpaid."""
    failed_at = T0 + 40 * DAY
    account = _dunning_account(
        payment(T0 + 10 * DAY, True, "100"),
        payment(failed_at, False, "100"),
        payment(failed_at + 5 * DAY, False, "100"),
    )
    in_dunning = figures(account, failed_at + 10 * DAY)
    assert mrr(account, failed_at + 10 * DAY) == Decimal("100.00")  # past due still counts
    assert in_dunning[("pulse_past_due_accounts", ())] == 1
    assert in_dunning[("pulse_past_due_mrr", ())] == Decimal("100.00")
    ended = figures(account, failed_at + 15 * DAY)
    assert mrr(account, failed_at + 15 * DAY) == 0
    assert movement(ended, "churn") == Decimal("100.00")
    assert ended[("pulse_mrr_churn_involuntary", ())] == Decimal("100.00")
    assert ended[("pulse_mrr_churn_involuntary_accounts", ())] == 1
    assert ended[("pulse_past_due_accounts", ())] == 0  # delinquent, no longer past due
    assert ended[("pulse_customer_churn_ratio", ())] == 1
    account.apply(payment(failed_at + 20 * DAY, True, "100"))
    back = figures(account, failed_at + 21 * DAY)
    assert mrr(account, failed_at + 21 * DAY) == Decimal("100.00")
    assert movement(back, "reactivation") == Decimal("100.00")


def test_a_success_within_the_dunning_window_keeps_the_mrr_and_off_never_churns() -> None:
    failed_at = T0 + 40 * DAY
    recovered = _dunning_account(
        payment(failed_at, False, "100"), payment(failed_at + 15 * DAY, True, "100")
    )
    found = figures(recovered, failed_at + 20 * DAY)
    assert (movement(found, "churn"), found[("pulse_mrr_churn_involuntary", ())]) == (0, 0)
    unpaid = _dunning_account(payment(failed_at, False, "100"))
    assert mrr(unpaid, failed_at + 60 * DAY) == 0
    off = RevenueConfig(dunning_window_days=None)
    assert mrr(unpaid, failed_at + 60 * DAY, off) == Decimal("100.00")
    assert RevenueConfig.from_mapping({"dunning_window_days": "off"}) == off
    assert RevenueConfig.from_mapping({"dunning_window_days": 30}).dunning_window_days == 30
    with pytest.raises(ConfigError, match="dunning_window_days"):
        RevenueConfig.from_mapping({"dunning_window_days": 0})


def test_a_cancel_is_voluntary_churn() -> None:
    account = account_of(
        [started("s1", T0, "100"), payment(T0 + DAY, False, "100"), canceled("s1", T0 + 2 * DAY)]
    )
    found = figures(account, T0 + 30 * DAY)
    assert movement(found, "churn") == Decimal("100.00")
    assert found[("pulse_mrr_churn_involuntary", ())] == 0


def test_empty_engine_gives_zeros() -> None:
    samples = revenue_samples([], T0, USD)
    assert samples
    assert all(sample.value == 0 for sample in samples)
    assert {sample.name for sample in samples} <= set(REVENUE_METRICS)
    assert mrr(AccountRevenue(), T0) == 0
    assert all(
        s.value == 0
        for s in revenue_samples([account_of([Login("x", "login", T0, "a", "u")])], T0, USD)
    )


def test_every_named_metric_is_emitted_with_data() -> None:
    account = account_of([started("s1", T0, "100"), payment(T0, True, "100")])
    assert {sample.name for sample in revenue_samples([account], T0, USD)} == set(REVENUE_METRICS)


# --- order independence, knowledge at T, compaction, serialisation -------------------------


def _random_history(rng: random.Random, account: str) -> list[Event]:
    """A plausible billing history: subscriptions with trials, changes, cancels, restarts, payments."""
    events: list[Event] = []
    hour = HOUR_MS
    for sub_index in range(rng.randint(1, 3)):
        sub = f"{account}-s{sub_index}"
        at = T0 + rng.randrange(0, 60 * 24) * hour
        trial = at + 14 * DAY if rng.random() < 0.4 else None
        plan = rng.choice(["starter", "growth", "enterprise"])

        def terms(plan: str = plan) -> dict[str, object]:
            return {
                "plan": plan,
                "interval": rng.choice(["month", "year", "week", "quarter", "day"]),
                "interval_count": rng.choice([1, 1, 3]),
                "quantity": rng.randint(1, 20),
                "discount_percent": rng.choice(["0", "0", "12.5", "20"]),
                "currency": rng.choice(["USD", "USD", "EUR", "GBP"]),
            }

        events.append(
            started(
                sub,
                at,
                rng.choice(["9", "29.99", "49", "120", "1000"]),
                account=account,
                trial_ends_at=trial,
                **terms(),
            )
        )
        for _ in range(rng.randint(0, 4)):
            at += rng.randrange(1, 40 * 24) * hour
            roll = rng.random()
            if roll < 0.5:
                events.append(
                    changed(
                        sub, at, rng.choice(["19", "49", "99", "150"]), account=account, **terms()
                    )
                )
            elif roll < 0.8:
                effective = at + rng.choice([0, 0, 5 * DAY, 20 * DAY, -3 * DAY])
                events.append(canceled(sub, at, effective))
            else:
                events.append(
                    started(sub, at, rng.choice(["29", "59"]), account=account, **terms())
                )
        for _ in range(rng.randint(0, 4)):
            events.append(
                payment(
                    T0 + rng.randrange(0, 150 * 24) * hour,
                    rng.random() < 0.7,
                    rng.choice(["10", "99.5"]),
                    rng.choice(["USD", "EUR"]),
                )
            )
    return events


def _histories(seed: int, accounts: int = 12) -> list[list[Event]]:
    rng = random.Random(seed)
    return [_random_history(rng, f"acct{index}") for index in range(accounts)]


CONFIGS = [
    USD,
    RevenueConfig(
        churn_recognition="occurred_at",
        same_window_new_and_churn="ignore",
        reactivation_window_days=20,
        free_subscriptions="churned",
    ),
    RevenueConfig(reporting_currency="EUR", discount_scope="ignore", dunning_window_days=None),
    RevenueConfig(backdated_cancellations="rewrite", reactivation_window_days=20),
]
CHECK_TIMES = [T0 + days * DAY + 7 * HOUR_MS for days in (10, 31, 55, 80, 120, 170)]


@pytest.mark.parametrize("seed", range(4))
def test_arrival_order_does_not_matter(seed: int) -> None:
    histories = _histories(seed)
    reference = [account_of(events) for events in histories]
    rng = random.Random(seed + 100)
    for _ in range(3):
        shuffled = [account_of(rng.sample(events, len(events))) for events in histories]
        assert [revenue_to_bytes(a) for a in shuffled] == [revenue_to_bytes(a) for a in reference]
        for config in CONFIGS:
            for at in CHECK_TIMES:
                assert revenue_samples(shuffled, at, config) == revenue_samples(
                    reference, at, config
                )


def test_changed_before_started_and_cancel_before_change_arrive_in_any_order() -> None:
    events = [
        started("s1", T0, "100"),
        changed("s1", T0 + 10 * DAY, "200"),
        canceled("s1", T0 + 20 * DAY, T0 + 30 * DAY),
        changed("s1", T0 + 40 * DAY, "50"),
    ]
    expected = [figures(account_of(events), at) for at in CHECK_TIMES]
    for order in itertools.permutations(events):
        assert [figures(account_of(order), at) for at in CHECK_TIMES] == expected


@pytest.mark.parametrize("seed", range(4))
def test_events_after_t_do_not_change_the_answer_at_t(seed: int) -> None:
    histories = _histories(seed)
    everything = [account_of(events) for events in histories]
    for at in CHECK_TIMES:
        known = [account_of(e for e in events if e.occurred_at <= at) for events in histories]
        for config in CONFIGS:
            assert revenue_samples(everything, at, config) == revenue_samples(known, at, config)


@pytest.mark.parametrize("seed", range(4))
def test_net_new_mrr_equals_the_change_of_mrr_over_the_window(seed: int) -> None:
    accounts = [account_of(events) for events in _histories(seed)]
    signs = {"new": 1, "expansion": 1, "reactivation": 1, "contraction": -1, "churn": -1}
    for config in CONFIGS:
        for at in CHECK_TIMES:
            found = figures(accounts, at, config)
            net = sum(sign * movement(found, kind) for kind, sign in signs.items())
            assert net == mrr(accounts, at, config) - mrr(accounts, at - 30 * DAY, config)


def _within(samples: list, at: int, floor: int) -> list:
    """The samples whose window (30d when none, e.g. MRR at T) starts at or after `floor`."""
    widths = {"7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY, "365d": 365 * DAY}
    return [s for s in samples if at - widths[dict(s.labels).get("window", "30d")] >= floor]


_SPLIT_BY_THE_PAST = {
    "pulse_mrr_quick_ratio",
    "pulse_net_mrr_churn_ratio",
    "pulse_mrr_movement_accounts",
}


def _past_summary_free(samples: list, config: RevenueConfig) -> list:
    """With a dunning window, the compacted past's summary ("had it paid?") does not know
    whether a paid spell before the floor was all spent delinquent, so only the sum of
    new and reactivation is exact: merge them, and drop the figures that split them."""
    if config.dunning_window_days is None:
        return samples
    gains = sum(
        (
            s.value
            for s in samples
            if s.name == "pulse_mrr_movement" and dict(s.labels)["kind"] in ("new", "reactivation")
        ),
        Decimal(0),
    )
    kept = [
        s
        for s in samples
        if s.name not in _SPLIT_BY_THE_PAST
        and not (
            s.name == "pulse_mrr_movement" and dict(s.labels)["kind"] in ("new", "reactivation")
        )
    ]
    return [*kept, ("new + reactivation", gains)]


@pytest.mark.parametrize("seed", range(4))
def test_prune_keeps_answers_exact_from_floor_plus_the_window(seed: int) -> None:
    histories = _histories(seed)
    full = [account_of(events) for events in histories]
    before = T0 + 70 * DAY
    pruned = [account_of(events) for events in histories]
    for account in pruned:
        account.prune(before)
    assert sum(len(revenue_to_bytes(a)) for a in pruned) < sum(
        len(revenue_to_bytes(a)) for a in full
    )
    restored = [revenue_from_bytes(revenue_to_bytes(a)) for a in pruned]
    for at in (
        before + 30 * DAY,
        before + 30 * DAY + 5 * HOUR_MS,
        before + 90 * DAY,
        before + 365 * DAY,
    ):
        for config in CONFIGS:
            expected = _past_summary_free(
                _within(revenue_samples(full, at, config), at, before), config
            )
            assert (
                _past_summary_free(_within(revenue_samples(pruned, at, config), at, before), config)
                == expected
            )
            assert (
                _past_summary_free(
                    _within(revenue_samples(restored, at, config), at, before), config
                )
                == expected
            )
        if at == before + 365 * DAY:
            assert len(expected) == len(
                _past_summary_free(revenue_samples(full, at, config), config)
            )  # all exact


@pytest.mark.parametrize("seed", range(4))
def test_billing_events_older_than_the_floor_still_apply_after_prune(seed: int) -> None:
    histories = _histories(seed)
    before = T0 + 70 * DAY
    full = [account_of(events) for events in histories]
    late_arrivals = []
    rng = random.Random(seed)
    for events in histories:
        late = [e for e in events if e.occurred_at < before and rng.random() < 0.3]
        account = account_of(e for e in events if e not in late)
        account.prune(before)
        for event in late:
            account.apply(event)
        late_arrivals.append(account)
    for at in (before + 30 * DAY, before + 75 * DAY):
        for config in CONFIGS:
            got, expected = figures(late_arrivals, at, config), figures(full, at, config)
            for key in [
                key
                for key in expected
                if ("365d" in key[1]) or ("90d" in key[1] and at < before + 90 * DAY)
            ]:
                got.pop(key), expected.pop(key)  # a window reaching back before the floor
            # The past before the floor only tells new from reactivation; the rest is exact.
            gains = [("pulse_mrr_movement", ("new",)), ("pulse_mrr_movement", ("reactivation",))]
            assert sum(got.pop(k) for k in gains) == sum(expected.pop(k) for k in gains)
            for key in [
                ("pulse_mrr_movement_accounts", ("new",)),
                ("pulse_mrr_movement_accounts", ("reactivation",)),
                ("pulse_mrr_quick_ratio", ()),
                ("pulse_net_mrr_churn_ratio", ()),
            ]:
                got.pop(key), expected.pop(key)
            assert got == expected


def test_late_cancel_after_prune_is_ended_by_the_terms_kept_at_the_floor() -> None:
    """Cancels older than the floor arrive after compaction: one whose gap later terms
    ended before the floor changes nothing, one effective after those terms still applies."""
    before = T0 + 70 * DAY
    history = [
        started("s1", T0, "100"),
        changed("s1", T0 + 20 * DAY, "120"),
        changed("s1", T0 + 30 * DAY, "90"),
    ]
    for late_cancel, expected in [
        (canceled("s1", T0 + 15 * DAY, effective_at=T0 + 25 * DAY), Decimal("90.00")),
        (canceled("s1", T0 + 15 * DAY, effective_at=T0 + 100 * DAY), Decimal(0)),
    ]:
        account = account_of(history)
        account.prune(before)
        account.apply(late_cancel)
        assert (
            mrr(account, T0 + 105 * DAY)
            == mrr(account_of([*history, late_cancel]), T0 + 105 * DAY)
            == expected
        )


def test_to_bytes_round_trip() -> None:
    for events in _histories(7, accounts=5):
        account = account_of(events)
        restored = revenue_from_bytes(revenue_to_bytes(account))
        assert revenue_to_bytes(restored) == revenue_to_bytes(account)
        for at in CHECK_TIMES:
            assert revenue_samples([restored], at, USD) == revenue_samples([account], at, USD)
    assert revenue_to_bytes(revenue_from_bytes(revenue_to_bytes(AccountRevenue()))) == (
        revenue_to_bytes(AccountRevenue())
    )
    for garbage in (
        b"",
        b"{}",
        b"[2,null,[],{},[]]",
        b'[1,null,[[0,null],[0,null]],{"s":[[[1]],[]]},[]]',
    ):
        with pytest.raises(ValueError):
            revenue_from_bytes(garbage)


# --- configuration ---------------------------------------------------------------------------


def test_config_from_mapping_reads_every_knob() -> None:
    config = RevenueConfig.from_mapping(
        {
            "reporting_currency": "EUR",
            "rates": {"USD": "0.9", "XAU": 2500},
            "churn_recognition": "occurred_at",
            "discount_scope": "ignore",
            "reactivation_window_days": 90,
            "same_window_new_and_churn": "ignore",
            "plan_labels": ["starter"],
        }
    )
    assert (
        config.rate("EUR", T0) == 1
        and config.rate("USD", T0) == Decimal("0.9")
        and config.rate("XAU", T0) == 2500
    )
    assert {"EUR", "USD", "GBP", "XAU"} <= config.rate_table.currencies()
    assert (
        config.churn_recognition,
        config.discount_scope,
        config.reactivation_window_days,
        config.same_window_new_and_churn,
        config.plan_labels,
    ) == ("occurred_at", "ignore", 90, "ignore", ("starter",))
    assert (
        RevenueConfig.from_mapping(
            {"reactivation_window_days": "unlimited"}
        ).reactivation_window_days
        is None
    )
    assert RevenueConfig.from_mapping({}) == RevenueConfig()
    assert (
        RevenueConfig.from_mapping({"free_subscriptions": "churned"}).free_subscriptions
        == "churned"
    )
    assert RevenueConfig().free_subscriptions == "active"


@pytest.mark.parametrize(
    ("mapping", "names"),
    [
        ({"reporting_curency": "USD"}, "reporting_curency"),
        ({"reporting_currency": "usd"}, "reporting_currency"),
        ({"reporting_currency": "XYZ"}, "XYZ"),
        ({"rates": {"EUR": "-1"}}, "EUR"),
        ({"rates": {"EUR": True}}, "EUR"),
        ({"rates": {"euro": "1.1"}}, "euro"),
        ({"rates": {"USD": "2"}}, "USD"),
        ({"rates": ["EUR"]}, "rates"),
        ({"churn_recognition": "cancel"}, "churn_recognition"),
        ({"discount_scope": "none"}, "discount_scope"),
        ({"reactivation_window_days": 0}, "reactivation_window_days"),
        ({"same_window_new_and_churn": "net"}, "same_window_new_and_churn"),
        ({"free_subscriptions": "cancelled"}, "free_subscriptions"),
        ({"plan_labels": "starter"}, "plan_labels"),
        ({"plan_labels": ["other"]}, "plan_labels"),
    ],
)
def test_bad_config_names_the_fix(mapping: dict, names: str) -> None:
    with pytest.raises(ConfigError) as raised:
        RevenueConfig.from_mapping(mapping)
    message = str(raised.value)
    assert names in message
    assert message.endswith(".") and "\n" not in message


def test_subscription_with_unknown_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        AccountRevenue().apply(started("s1", T0, "10", interval="fortnight"))
