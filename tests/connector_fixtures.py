"""Payloads in the real formats of Segment, Stripe and Zendesk, for the connector tests.

Where each shape comes from (nothing here is invented; only values are set):

- Stripe: the resources of Stripe's published fixtures (github.com/stripe/openapi,
  openapi/fixtures3.json), copied verbatim into tests/fixtures/connectors/stripe_fixtures3.json.
  An event is the `event` fixture with `type` and `data.object` replaced by the
  `subscription` / `invoice` fixture whose values (ids, prices, times) a test sets.
- Segment: the Track and Group payloads of Segment's spec pages (segment.com/docs/
  connections/spec/track, /group, /common: `context.groupId` is the spec's field for
  attributing a call to an account).
- Zendesk: the webhook event schema of developer.zendesk.com/api-reference/webhooks/
  event-types/webhook-event-types (type, account_id, id, time, zendesk_event_version,
  subject, detail, event) with the ticket `detail` properties and the `event` objects of
  the ticket events page (ticket.created, ticket.comment_added, ticket.status_changed).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

_STRIPE = json.loads(
    (Path(__file__).parent / "fixtures" / "connectors" / "stripe_fixtures3.json").read_text()
)["resources"]


def stripe_resource(name: str) -> dict[str, Any]:
    return copy.deepcopy(_STRIPE[name])


def stripe_event(
    event_id: str,
    kind: str,
    obj: dict[str, Any],
    created: int,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event = stripe_resource("event")
    event.update(id=event_id, type=kind, created=created)
    event["data"] = {"object": obj}
    if previous is not None:
        event["data"]["previous_attributes"] = previous
    return event


def stripe_subscription(
    sub_id: str,
    items: list[tuple[str, int, str, int, int]],
    *,
    account: str | None,
    customer: str = "cus_QXg1o8vcGmoR32",
    status: str = "active",
    currency: str = "usd",
    created: int = 1_767_225_600,
) -> dict[str, Any]:
    """The subscription fixture with `items` = (item id, unit_amount, interval, interval_count, quantity)."""
    sub = stripe_resource("subscription")
    template = sub["items"]["data"][0]
    data = []
    for item_id, unit_amount, interval, count, quantity in items:
        item = copy.deepcopy(template)
        item.update(id=item_id, quantity=quantity, subscription=sub_id)
        price = item["price"]
        price.update(
            id=f"price_{item_id}",
            unit_amount=unit_amount,
            unit_amount_decimal=str(unit_amount),
            currency=currency,
            lookup_key=None,
            nickname=None,
            product="prod_seed",
        )
        price["recurring"].update(interval=interval, interval_count=count)
        item["current_period_end"] = created + 30 * 86400
        data.append(item)
    sub["items"]["data"] = data
    sub.update(
        id=sub_id,
        customer=customer,
        status=status,
        currency=currency,
        created=created,
        start_date=created,
        cancel_at=None,
        cancel_at_period_end=False,
        canceled_at=None,
        ended_at=None,
        trial_end=None,
        trial_start=None,
        metadata={} if account is None else {"account_id": account},
        discounts=[],
    )
    return sub


def stripe_invoice(
    invoice_id: str,
    sub_id: str,
    *,
    account: str,
    amount_paid: int,
    amount_due: int,
    currency: str = "usd",
) -> dict[str, Any]:
    invoice = stripe_resource("invoice")
    invoice.update(
        id=invoice_id,
        amount_paid=amount_paid,
        amount_due=amount_due,
        currency=currency,
        status="paid" if amount_paid else "open",
    )
    invoice["parent"] = {
        "quote_details": None,
        "type": "subscription_details",
        "subscription_details": {"metadata": {"account_id": account}, "subscription": sub_id},
    }
    return invoice


def segment_track(
    message_id: str,
    event: str,
    *,
    user_id: str | None,
    group_id: str | None,
    timestamp: str,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Segment's Track spec example (spec/track, "Example"), values set by the test."""
    payload: dict[str, Any] = {
        "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
        "context": {"library": {"name": "analytics.js", "version": "2.11.1"}, "ip": "108.0.78.21"},
        "event": event,
        "integrations": {},
        "messageId": message_id,
        "properties": properties or {"title": "Intro to Analytics"},
        "receivedAt": timestamp,
        "sentAt": timestamp,
        "timestamp": timestamp,
        "type": "track",
        "originalTimestamp": timestamp,
    }
    if user_id is not None:
        payload["userId"] = user_id
    if group_id is not None:
        payload["context"]["groupId"] = group_id
    return payload


def segment_group(
    message_id: str, group_id: str, *, traits: dict[str, Any], timestamp: str
) -> dict[str, Any]:
    """Segment's Group spec example (spec/group), values set by the test."""
    return {
        "anonymousId": "507f191e810c19729de860ea",
        "channel": "browser",
        "context": {"ip": "8.8.8.8", "userAgent": "Mozilla/5.0"},
        "groupId": group_id,
        "messageId": message_id,
        "receivedAt": timestamp,
        "sentAt": timestamp,
        "timestamp": timestamp,
        "traits": traits,
        "type": "group",
        "userId": "97980cfea0067",
        "version": "1.1",
    }


def zendesk_event(
    event_id: str,
    kind: str,
    *,
    ticket_id: str,
    organization_id: str | None,
    time: str,
    event: dict[str, Any] | None = None,
    priority: str = "HIGH",
    channel: str = "web",
) -> dict[str, Any]:
    """A Zendesk webhook event (event-types/webhook-event-types, ticket-events), values set by the test."""
    return {
        "type": f"zen:event-type:{kind}",
        "account_id": 10973248,
        "id": event_id,
        "time": time,
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket_id}",
        "detail": {
            "actor_id": "8447388090494",
            "assignee_id": None,
            "brand_id": "8447346621310",
            "created_at": time,
            "custom_status": "8447388090878",
            "description": "Exports fail",
            "external_id": None,
            "form_id": "8646151517822",
            "group_id": "8447346620286",
            "id": ticket_id,
            "is_public": True,
            "organization_id": organization_id,
            "priority": priority,
            "requester_id": "8447388090494",
            "status": "OPEN",
            "subject": "Exports fail",
            "submitter_id": "8447388090494",
            "tags": [],
            "type": "INCIDENT",
            "updated_at": time,
            "via": {"channel": channel},
        },
        "event": event or {},
    }


def zendesk_comment(author_is_staff: bool, public: bool = True) -> dict[str, Any]:
    """The `event` object of ticket.comment_added."""
    return {
        "comment": {
            "id": "29013349594133",
            "body": "Thanks, looking into it.",
            "is_public": public,
            "author": {"id": "8447388090494", "is_staff": author_is_staff, "name": "Agent"},
        }
    }
