"""Stripe webhook events -> contract billing events.

Rules (docs/connectors.md, "Stripe"):

- Event id: `stripe:` + the Stripe event `id`, and `:` + the subscription item id when one
  Stripe event gives one contract event per item, so a redelivered webhook is a duplicate.
- Time: the Stripe event's `created` (Unix seconds).
- Account: the metadata key `account_metadata_key` (default `account_id`) on the
  subscription (or the invoice's subscription details, or the invoice), on the customer
  when it is expanded, then the `[connectors.stripe.customers]` table by customer id, then
  (with `unmapped_customers = "customer_id"`) the customer id itself.
- A subscription item is one contract subscription `<subscription id>/<item id>`, so
  multi-item subscriptions keep each price's interval, quantity and currency. Amount: the
  price's `unit_amount_decimal` in minor units, divided by the currency's minor unit
  (zero-decimal currencies such as JPY are not divided). Plan: `[connectors.stripe.plans]`
  by price id then product id, else the price's `lookup_key`, `nickname`, product id.
  Metered and tiered prices have no fixed price per unit and are left out.
- Discount: the first recurring coupon on the subscription (`duration` "forever", or
  "repeating" until the discount's `end`) becomes `discount_percent`: its `percent_off`, or
  its `amount_off` as a share of the subscription's licensed items per invoice (same
  currency; capped at 100 %). Stripe removes a repeating discount when it ends and sends
  `customer.subscription.updated`, whose terms then carry no discount. A "once" coupon
  lowers one invoice, not the recurring revenue, and is left out (as ChartMogul keeps
  one-off discounts out of MRR).
- `customer.subscription.created|updated` -> `subscription_started|changed` per item (a
  new item of an update is started, a removed one canceled); a scheduled end
  (`cancel_at`, or `cancel_at_period_end` at the item's period end) -> `subscription_canceled`
  with that `effective_at`. `customer.subscription.deleted`, or an update into `canceled`,
  `incomplete_expired` or `paused` -> `subscription_canceled` (a later update back to
  active carries new terms, which re-activate it).
- `invoice.paid` -> `payment_succeeded` (`amount_paid`); `invoice.payment_failed` ->
  `payment_failed` (`amount_due`), with the Stripe subscription id; an invoice without a
  subscription is a one-off charge and not translated.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from streams.connectors.connectors_config import StripeConfig
from streams.connectors.result import Result, Untranslatable, epoch_seconds_ms, nonempty_str

# Stripe's zero-decimal currencies (amounts are already in major units).
ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_INTERVALS = {"day", "week", "month", "year"}
_SUBSCRIPTION_EVENTS = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
}
# statuses in which a subscription bills nothing: an update into one of them ends it (a later
# update back to active or trialing carries new terms, which re-activate it)
_ENDED = {"canceled", "incomplete_expired", "paused"}
_INVOICE_EVENTS = {"invoice.paid": "payment_succeeded", "invoice.payment_failed": "payment_failed"}


def translate(payload: dict[str, Any], config: StripeConfig) -> Result:
    event_id = nonempty_str(payload.get("id"))
    kind = payload.get("type")
    occurred_at = epoch_seconds_ms(payload.get("created"))
    data = payload.get("data")
    data = data if isinstance(data, dict) else {}
    obj = data.get("object")
    if payload.get("object") != "event" or event_id is None or not isinstance(obj, dict):
        return Untranslatable(
            "not_an_event", "The Stripe payload is not an event object with an id and data.object."
        )
    if occurred_at is None:
        return Untranslatable("no_timestamp", "The Stripe event has no created time.")
    if kind in _SUBSCRIPTION_EVENTS:
        previous = data.get("previous_attributes")
        return _subscription(
            kind,
            obj,
            "stripe:" + event_id,
            occurred_at,
            previous if isinstance(previous, dict) else {},
            config,
        )
    if kind in _INVOICE_EVENTS:
        return _invoice(_INVOICE_EVENTS[kind], obj, "stripe:" + event_id, occurred_at, config)
    return Untranslatable(
        "unsupported_event_type",
        "This Stripe event type is not translated (see docs/connectors.md).",
    )


# --------------------------------------------------------------------------- subscriptions


def _subscription(
    kind: str,
    sub: dict[str, Any],
    base_id: str,
    occurred_at: str,
    previous: dict[str, Any],
    config: StripeConfig,
) -> Result:
    sub_id = nonempty_str(sub.get("id"))
    if sub_id is None:
        return Untranslatable("no_subscription_id", "The subscription has no id.")
    account_id = _account(config, sub.get("customer"), sub.get("metadata"))
    if isinstance(account_id, Untranslatable):
        return account_id
    envelope = {"occurred_at": occurred_at, "account_id": account_id}
    items = _list(sub.get("items"))

    if kind == "customer.subscription.deleted" or sub.get("status") in _ENDED:
        ended = (
            epoch_seconds_ms(sub.get("ended_at"))
            or epoch_seconds_ms(sub.get("canceled_at"))
            or occurred_at
        )
        if sub.get("status") == "paused":
            ended = occurred_at
        return [
            _cancel(base_id, sub_id, item, envelope, ended) for item in items if _item_id(item)
        ] or _no_items()

    previous_items = (
        {_item_id(item) for item in _list(previous.get("items"))} if "items" in previous else None
    )
    events: list[dict[str, Any]] = []
    terms_of_sub = _sub_terms(sub, items, occurred_at, config)
    for item in items:
        item_id = _item_id(item)
        terms = _item_terms(item, config) if item_id else None
        if terms is None:
            continue
        if kind == "customer.subscription.created" or (
            previous_items is not None and item_id not in previous_items
        ):
            kind_out = "subscription_started"
        else:
            kind_out = "subscription_changed"
        events.append(
            {
                "event_id": f"{base_id}:{item_id}",
                "type": kind_out,
                **envelope,
                "subscription_id": f"{sub_id}/{item_id}",
                **terms,
                **terms_of_sub,
            }
        )
    if not events:
        return _no_items()
    current = {_item_id(item) for item in items}
    if previous_items:
        for removed in sorted(i for i in previous_items if i and i not in current):
            events.append(
                {
                    "event_id": f"{base_id}:{removed}",
                    "type": "subscription_canceled",
                    **envelope,
                    "subscription_id": f"{sub_id}/{removed}",
                    "effective_at": occurred_at,
                }
            )
    scheduled = _scheduled_end(sub)
    if scheduled is not None:
        for item in items:
            if _item_id(item) and _item_terms(item, config) is not None:
                end = (
                    scheduled
                    if scheduled != "period_end"
                    else epoch_seconds_ms(item.get("current_period_end"))
                )
                events.append(
                    _cancel(base_id, sub_id, item, envelope, end or occurred_at, suffix=":end")
                )
    return events


def _cancel(
    base_id: str,
    sub_id: str,
    item: dict[str, Any],
    envelope: dict[str, str],
    effective_at: str,
    suffix: str = "",
) -> dict[str, Any]:
    item_id = _item_id(item)
    return {
        "event_id": f"{base_id}:{item_id}{suffix}",
        "type": "subscription_canceled",
        **envelope,
        "subscription_id": f"{sub_id}/{item_id}",
        "effective_at": effective_at,
    }


def _scheduled_end(sub: dict[str, Any]) -> str | None:
    """When an active subscription is set to end: its cancel_at, or "period_end"."""
    if sub.get("status") in ("canceled", "incomplete_expired"):
        return None
    cancel_at = epoch_seconds_ms(sub.get("cancel_at"))
    if cancel_at is not None:
        return cancel_at
    return "period_end" if sub.get("cancel_at_period_end") is True else None


def _sub_terms(
    sub: dict[str, Any], items: list[dict[str, Any]], occurred_at: str, config: StripeConfig
) -> dict[str, Any]:
    terms: dict[str, Any] = {}
    trial_end = epoch_seconds_ms(sub.get("trial_end"))
    if trial_end is not None:
        terms["trial_ends_at"] = trial_end
    percent = _recurring_discount_percent(sub, items, occurred_at, config)
    if percent:
        terms["discount_percent"] = percent
    return terms


def _recurring_discount_percent(
    sub: dict[str, Any], items: list[dict[str, Any]], occurred_at: str, config: StripeConfig
) -> int | float | None:
    """The percent off every invoice of the first recurring coupon in force at `occurred_at`."""
    for discount in [sub.get("discount"), *(sub.get("discounts") or [])]:
        if not isinstance(discount, dict):
            continue  # an unexpanded discount id: its coupon is not in the payload
        coupon = discount.get("coupon")
        if not isinstance(coupon, dict):
            source = discount.get("source")
            coupon = source.get("coupon") if isinstance(source, dict) else None
        if not isinstance(coupon, dict) or coupon.get("duration") not in ("forever", "repeating"):
            continue
        end = epoch_seconds_ms(discount.get("end"))
        if coupon.get("duration") == "repeating" and end is not None and end <= occurred_at:
            continue  # ended (RFC 3339 UTC strings of one format compare as instants)
        percent = coupon.get("percent_off")
        if (
            isinstance(percent, int | float)
            and not isinstance(percent, bool)
            and 0 <= percent <= 100
        ):
            return percent
        off = _amount_off_percent(coupon, items, config)
        if off is not None:
            return off
    return None


def _amount_off_percent(
    coupon: dict[str, Any], items: list[dict[str, Any]], config: StripeConfig
) -> float | None:
    """A fixed `amount_off` per invoice as a percent of the licensed items' amount per
    invoice, when they all bill in the coupon's currency; None otherwise."""
    currency = _currency(coupon.get("currency"))
    off = None if currency is None else _major(coupon.get("amount_off"), currency)
    if currency is None or not off:
        return None
    total = Decimal(0)
    for item in items:
        terms = _item_terms(item, config)
        if terms is None:
            continue
        if terms["currency"] != currency:
            return None
        total += Decimal(str(terms["amount"])) * terms.get("quantity", 1)
    if total <= 0:
        return None
    return float(min(Decimal(100), Decimal(str(off)) * 100 / total).quantize(Decimal("0.000001")))


def _item_terms(item: dict[str, Any], config: StripeConfig) -> dict[str, Any] | None:
    """The contract terms of one licensed, per-unit item; None for metered or tiered ones."""
    price = item.get("price") if isinstance(item.get("price"), dict) else item.get("plan")
    if not isinstance(price, dict):
        return None
    recurring = price.get("recurring")
    if not isinstance(recurring, dict):
        recurring = price  # a plan: its fields at the top
    interval, count = recurring.get("interval"), recurring.get("interval_count", 1)
    if interval not in _INTERVALS or type(count) is not int or not 1 <= count <= 1000:
        return None
    if (
        recurring.get("usage_type", "licensed") != "licensed"
        or price.get("billing_scheme", "per_unit") != "per_unit"
    ):
        return None
    currency = _currency(price.get("currency"))
    if currency is None:
        return None
    amount = _major(price.get("unit_amount_decimal", price.get("amount_decimal")), currency)
    if amount is None:
        amount = _major(price.get("unit_amount", price.get("amount")), currency)
    if amount is None:
        return None
    quantity = item.get("quantity", 1)
    terms: dict[str, Any] = {
        "plan": _plan(price, config),
        "amount": amount,
        "currency": currency,
        "interval": interval,
    }
    if count != 1:
        terms["interval_count"] = count
    if type(quantity) is int and quantity > 1:
        terms["quantity"] = quantity
    return terms


def _plan(price: dict[str, Any], config: StripeConfig) -> str:
    product = price.get("product")
    product_id = product.get("id") if isinstance(product, dict) else product
    for key in (price.get("id"), product_id):
        if isinstance(key, str) and key in config.plans:
            return config.plans[key]
    for name in (price.get("lookup_key"), price.get("nickname"), product_id):
        if isinstance(name, str) and 1 <= len(name) <= 64:
            return name
    return "unknown"


def _currency(value: object) -> str | None:
    """A three-letter currency code, upper case (Stripe sends lower case); None otherwise."""
    return value.upper() if isinstance(value, str) and len(value) == 3 else None


def _major(minor: object, currency: str) -> int | float | None:
    """Minor units (an integer or Stripe's decimal string) as a JSON number of major units."""
    try:
        value = (
            Decimal(minor)
            if isinstance(minor, str)
            else Decimal(minor)
            if type(minor) is int
            else None
        )
    except InvalidOperation:
        return None
    if value is None or not value.is_finite() or value < 0:
        return None
    if currency not in ZERO_DECIMAL:
        value = value / 100
    return int(value) if value == value.to_integral_value() else float(value)


def _item_id(item: object) -> str | None:
    return nonempty_str(item.get("id")) if isinstance(item, dict) else None


def _list(value: object) -> list[dict[str, Any]]:
    data = value.get("data") if isinstance(value, dict) else value
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _no_items() -> Untranslatable:
    return Untranslatable(
        "no_licensed_items", "The subscription has no licensed per-unit item with a fixed price."
    )


# --------------------------------------------------------------------------- invoices and accounts


def _invoice(
    kind: str, invoice: dict[str, Any], event_id: str, occurred_at: str, config: StripeConfig
) -> Result:
    parent = invoice.get("parent")
    # the invoice's parent says what it bills: only a subscription_details parent names a subscription
    details = (
        parent.get("subscription_details")
        if isinstance(parent, dict) and parent.get("type") == "subscription_details"
        else None
    )
    details = details if isinstance(details, dict) else invoice.get("subscription_details")
    details = details if isinstance(details, dict) else {}
    subscription = details.get("subscription") or invoice.get("subscription")
    subscription = subscription.get("id") if isinstance(subscription, dict) else subscription
    if nonempty_str(subscription) is None:
        return Untranslatable(
            "no_subscription", "The invoice belongs to no subscription (a one-off charge)."
        )
    metadata = (
        details.get("metadata")
        if isinstance(details.get("metadata"), dict)
        else invoice.get("metadata")
    )
    account_id = _account(config, invoice.get("customer"), metadata)
    if isinstance(account_id, Untranslatable):
        return account_id
    currency = _currency(invoice.get("currency"))
    amount = (
        None
        if currency is None
        else _major(
            invoice.get("amount_paid" if kind == "payment_succeeded" else "amount_due"), currency
        )
    )
    if currency is None or amount is None:
        return Untranslatable("no_amount", "The invoice has no amount and currency.")
    return [
        {
            "event_id": event_id,
            "type": kind,
            "occurred_at": occurred_at,
            "account_id": account_id,
            "subscription_id": subscription,
            "amount": amount,
            "currency": currency,
        }
    ]


def _account(config: StripeConfig, customer: object, metadata: object) -> str | Untranslatable:
    key = config.account_metadata_key
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    candidates = [metadata.get(key) if isinstance(metadata, dict) else None]
    if isinstance(customer, dict) and isinstance(customer.get("metadata"), dict):
        candidates.append(customer["metadata"].get(key))
    if isinstance(customer_id, str):
        candidates.append(config.customers.get(customer_id))
        if config.unmapped_customers == "customer_id":
            candidates.append(customer_id)
    for candidate in candidates:
        account_id = nonempty_str(candidate)
        if account_id is not None and len(account_id) <= 128:
            return account_id
    return Untranslatable(
        "unknown_customer",
        f"No metadata key {key!r} and no entry in [connectors.stripe.customers] names the account of this customer.",
    )
