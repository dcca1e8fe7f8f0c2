"""Subscription life of each account: start, trial, renewals, payments, changes, churn.

A subscription's `amount` is the list price per interval per seat (major units of the
account's currency, at most two decimals); a payment is amount x quantity less the
recurring discount, rounded half up to cents. The life of one subscription:

- started at acquisition, with a trial (`trial_ends_at`) for most self-serve plans; a trial
  converts (first charge at its end) or is canceled before it ends (effective at its end);
- each paid period begins with a charge: payment_succeeded, or payment_failed and retries
  every few days; after several failures in a row the subscription is canceled at once;
- when a period begins its fate is drawn: canceled during the period (usually effective at
  period end, a time in the future of the cancel event; sometimes at once), or changed
  (upgrade: seats or plan up or monthly -> yearly; downgrade: seats or plan down, or a
  retention discount), or nothing;
- some churned accounts come back weeks or months later with a new subscription
  (a reactivation).

Usage follows billing: an account's health drops when its churn is decided, and its users
stop working once the cancellation takes effect (`Account.churned_at`).
"""

from __future__ import annotations

import math
import random

from streams.generator import catalog
from streams.generator.clock import DAY_MS, MINUTE_MS, SECOND_MS, add_period, period_months, rfc3339
from streams.generator.timeline import Timeline
from streams.generator.world import Account, Subscription, choose

PLAN_ORDER = catalog.PLANS


def chance_over(monthly: float, months: float) -> float:
    """Chance of at least one event in `months` months at a monthly chance (capped at 0.95)."""
    return 1 - math.pow(1 - min(0.95, max(0.0, monthly)), months)


def money(cents: int) -> int | float:
    """Minor units -> a JSON number in major units with at most two decimals."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def unit_price_cents(plan: str, currency: str, interval: str, interval_count: int) -> int:
    if interval == "week":
        return catalog.WEEKLY_SEAT_PRICE_CENTS[currency] * interval_count
    monthly = catalog.MONTHLY_SEAT_PRICE_CENTS[currency][plan]
    if interval == "year":
        return monthly * catalog.YEARLY_MONTHS_CHARGED * interval_count
    if interval == "quarter":
        return round(monthly * 3 * catalog.QUARTERLY_PRICE_FACTOR) * interval_count
    return monthly * interval_count  # month


def invoice_cents(sub: Subscription) -> int:
    tenths_off = round(sub.discount_percent * 10)
    return (sub.unit_cents * sub.quantity * (1000 - tenths_off) + 500) // 1000


def seats_for(plan: str, users: int) -> int:
    block = catalog.SEAT_BLOCK[plan]
    return max(1, -(-users // block) * block)


class Billing:
    def __init__(self, timeline: Timeline, rng: random.Random) -> None:
        self.timeline = timeline
        self.rng = rng

    # --- events -------------------------------------------------------------------------

    def _terms_event(self, kind: str, at: int, account: Account, sub: Subscription) -> None:
        event = {
            "event_id": None,
            "type": kind,
            "occurred_at": None,
            "account_id": account.account_id,
            "subscription_id": sub.subscription_id,
            "plan": sub.plan,
            "amount": money(sub.unit_cents),
            "currency": account.currency,
            "interval": sub.interval,
        }
        if sub.interval_count != 1:
            event["interval_count"] = sub.interval_count
        if sub.quantity != 1 or self.rng.random() < 0.5:  # the default is sometimes spelled out
            event["quantity"] = sub.quantity
        if sub.discount_percent:
            event["discount_percent"] = sub.discount_percent
        if sub.trial_ends_at is not None and kind == "subscription_started":
            event["trial_ends_at"] = rfc3339(sub.trial_ends_at)
        self.timeline.emit(at, event)

    def _payment_event(self, kind: str, at: int, account: Account, sub: Subscription) -> None:
        self.timeline.emit(
            at,
            {
                "event_id": None,
                "type": kind,
                "occurred_at": None,
                "account_id": account.account_id,
                "subscription_id": sub.subscription_id,
                "amount": money(invoice_cents(sub)),
                "currency": account.currency,
            },
        )

    def _cancel_event(
        self, at: int, account: Account, sub: Subscription, effective_at: int | None
    ) -> None:
        event = {
            "event_id": None,
            "type": "subscription_canceled",
            "occurred_at": None,
            "account_id": account.account_id,
            "subscription_id": sub.subscription_id,
        }
        if effective_at is not None:
            event["effective_at"] = rfc3339(effective_at)
        self.timeline.emit(at, event)

    # --- life cycle ---------------------------------------------------------------------

    def new_subscription(self, account: Account, plan: str) -> Subscription:
        rng = self.rng
        interval, interval_count = choose(
            rng, tuple((terms[:2], terms[2]) for terms in catalog.BILLING_TERMS[plan])
        )
        if interval == "week":
            plan = catalog.WEEKLY_PLAN
        joined = sum(
            1 for user in account.users if user.joined_at <= account.acquired_at + 30 * DAY_MS
        )
        discount = (
            rng.choice(catalog.DISCOUNT_PERCENTS)
            if rng.random() < catalog.DISCOUNT_SHARE.get(plan, 0)
            else 0
        )
        account.subscriptions_started += 1
        return Subscription(
            subscription_id=f"sub_{account.account_id[5:]}_{account.subscriptions_started}",
            plan=plan,
            interval=interval,
            interval_count=interval_count,
            quantity=seats_for(plan, max(joined, 1)),
            unit_cents=unit_price_cents(plan, account.currency, interval, interval_count),
            discount_percent=discount,
        )

    def acquire(self, at: int, account: Account) -> None:
        """The account buys: a subscription starts, with or without a trial."""
        rng = self.rng
        sub = account.sub = self.new_subscription(account, account.plan)
        account.churned_at = None
        if sub.plan in catalog.TRIAL_SHARE and rng.random() < catalog.TRIAL_SHARE[sub.plan]:
            sub.trial_ends_at = at + rng.choice(catalog.TRIAL_DAYS) * DAY_MS
        self._terms_event("subscription_started", at, account, sub)
        if sub.trial_ends_at is None:
            self.timeline.schedule(
                at + rng.randrange(5, 90) * SECOND_MS, self.renew, account, sub.version
            )
        elif rng.random() < catalog.TRIAL_CONVERSION * min(1.2, account.health + 0.2):
            self.timeline.schedule(sub.trial_ends_at, self.renew, account, sub.version)
        else:
            account.health *= 0.4
            latest = max(at + 10 * MINUTE_MS, sub.trial_ends_at - rng.randrange(3 * DAY_MS))
            self.timeline.schedule(latest, self.cancel, account, sub.version, sub.trial_ends_at)

    def renew(self, at: int, account: Account, version: int) -> None:
        """A paid period begins at `at`: charge for it."""
        sub = account.sub
        if sub is None or sub.version != version or sub.canceling:
            return
        sub.period_start = at
        sub.failures = 0
        self._charge(at, account, sub)

    def retry(self, at: int, account: Account, version: int) -> None:
        sub = account.sub
        if sub is None or sub.version != version or sub.canceling:
            return
        if self.rng.random() < catalog.PAYMENT_RETRY_SUCCESS:
            self._paid(at, account, sub)
        else:
            self._failed(at, account, sub)

    def _charge(self, at: int, account: Account, sub: Subscription) -> None:
        if self.rng.random() < catalog.PAYMENT_FAILURE[sub.plan]:
            self._failed(at, account, sub)
        else:
            self._paid(at, account, sub)

    def _failed(self, at: int, account: Account, sub: Subscription) -> None:
        self._payment_event("payment_failed", at, account, sub)
        sub.failures += 1
        if sub.failures >= catalog.PAYMENT_ATTEMPTS:
            self.cancel(at + self.rng.randrange(1, 60) * SECOND_MS, account, sub.version, None)
        else:
            self.timeline.schedule(
                at + catalog.PAYMENT_RETRY_DAYS * DAY_MS, self.retry, account, sub.version
            )

    def _paid(self, at: int, account: Account, sub: Subscription) -> None:
        """Payment for the period starting at sub.period_start succeeded: plan the period."""
        rng = self.rng
        self._payment_event("payment_succeeded", at, account, sub)
        sub.failures = 0
        start = sub.period_start
        period_end = add_period(start, sub.interval, sub.interval_count)
        self.timeline.schedule(period_end, self.renew, account, sub.version)
        months = period_months(sub.interval, sub.interval_count)
        length = period_end - start
        draw = rng.random()
        churn = chance_over(catalog.MONTHLY_CHURN[sub.plan] / account.health, months)
        expansion = chance_over(catalog.MONTHLY_EXPANSION, months)
        contraction = chance_over(catalog.MONTHLY_CONTRACTION, months)
        when = max(at + MINUTE_MS, start + int(length * (0.05 + 0.85 * rng.random())))
        if when >= period_end:  # the charge came too late in a short period to plan anything
            return
        if draw < churn:
            account.health *= 0.6  # usage fades before the customer leaves
            effective = period_end if rng.random() < catalog.CANCEL_AT_PERIOD_END_SHARE else None
            self.timeline.schedule(when, self.cancel, account, sub.version, effective)
        elif draw < churn + expansion:
            self.timeline.schedule(when, self.change, account, sub.version, +1)
        elif draw < churn + expansion + contraction:
            self.timeline.schedule(when, self.change, account, sub.version, -1)

    def cancel(self, at: int, account: Account, version: int, effective_at: int | None) -> None:
        """subscription_canceled; effective at `effective_at` (a later instant) or at once."""
        sub = account.sub
        if sub is None or sub.version != version or sub.canceling:
            return
        sub.canceling = True
        self._cancel_event(at, account, sub, effective_at)
        ends = at if effective_at is None else effective_at
        account.churned_at = ends
        if effective_at is None:
            self.ended(at, account, version)
        else:
            self.timeline.schedule(ends, self.ended, account, version)

    def ended(self, at: int, account: Account, version: int) -> None:
        sub = account.sub
        if sub is None or sub.version != version:
            return
        account.sub = None
        rng = self.rng
        if rng.random() < catalog.REACTIVATION_SHARE:
            low, high = catalog.REACTIVATION_DELAY_DAYS
            back_at = at + int((low + (high - low) * rng.random()) * DAY_MS)
            self.timeline.schedule(back_at, self.reactivate, account)

    def reactivate(self, at: int, account: Account) -> None:
        """A former customer buys again: a new subscription, no trial, usually a smaller plan."""
        if account.sub is not None:
            return
        rng = self.rng
        plan = account.plan
        if plan != "starter" and rng.random() < 0.4:
            plan = PLAN_ORDER[PLAN_ORDER.index(plan) - 1]
        account.health = 0.5 + 0.5 * rng.random()
        account.churned_at = None
        sub = account.sub = self.new_subscription(account, plan)
        self._terms_event("subscription_started", at, account, sub)
        self.timeline.schedule(
            at + rng.randrange(5, 90) * SECOND_MS, self.renew, account, sub.version
        )

    def change(self, at: int, account: Account, version: int, direction: int) -> None:
        """subscription_changed: an upgrade (direction +1) or a downgrade (-1), full new terms."""
        sub = account.sub
        if sub is None or sub.version != version or sub.canceling:
            return
        rng = self.rng
        draw = rng.random()
        block = catalog.SEAT_BLOCK[sub.plan]
        rebill = False
        if direction > 0:
            if draw < 0.6 or sub.plan in (catalog.WEEKLY_PLAN, "enterprise") and draw < 0.9:
                sub.quantity += max(
                    block, round(sub.quantity * (0.1 + 0.4 * rng.random()) / block) * block
                )
            elif draw < 0.9:
                sub.plan = PLAN_ORDER[PLAN_ORDER.index(sub.plan) + 1]
                sub.quantity = seats_for(sub.plan, sub.quantity)
                sub.unit_cents = unit_price_cents(
                    sub.plan, account.currency, sub.interval, sub.interval_count
                )
            elif sub.interval == "month" and sub.interval_count == 1:
                sub.interval = "year"
                sub.unit_cents = unit_price_cents(sub.plan, account.currency, "year", 1)
                rebill = True
            else:
                sub.quantity += block
        else:
            if (
                draw < 0.6 or sub.plan in (catalog.WEEKLY_PLAN, "starter")
            ) and sub.quantity > block:
                sub.quantity = max(
                    block, sub.quantity - max(block, round(sub.quantity * 0.3 / block) * block)
                )
            elif draw < 0.9 and sub.plan in PLAN_ORDER[1:]:
                sub.plan = PLAN_ORDER[PLAN_ORDER.index(sub.plan) - 1]
                sub.quantity = seats_for(sub.plan, sub.quantity)
                sub.unit_cents = unit_price_cents(
                    sub.plan, account.currency, sub.interval, sub.interval_count
                )
            elif not sub.discount_percent:
                sub.discount_percent = rng.choice(catalog.DISCOUNT_PERCENTS)
            else:
                return  # nothing left to give: the downgrade does not happen
        self._terms_event("subscription_changed", at, account, sub)
        if rebill:  # a new billing anchor: charge the new period now, forget the old renewal
            sub.version += 1
            self.timeline.schedule(
                at + rng.randrange(5, 90) * SECOND_MS, self.renew, account, sub.version
            )
