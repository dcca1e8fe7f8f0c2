"""Zendesk webhook events (event subscriptions, `zen:event-type:ticket.*`) -> ticket events.

Rules (docs/connectors.md, "Zendesk"):

- Event id: `zendesk:` + the event's `id`, so a redelivered webhook is a duplicate.
- Time: the event's `time`.
- Account: the ticket's `detail.organization_id` through `[connectors.zendesk.organizations]`,
  else (with `unmapped_organizations = "organization_id"`) the organization id itself; a
  ticket without an organization (id absent or "0") is `untranslatable:no_organization`.
- `ticket.created` -> `ticket_opened` (priority; channel from `via.channel`: web, email,
  chat/messaging, voice -> phone, social networks -> social; the requester as user_id).
- `ticket.comment_added` -> `ticket_replied`: author `agent` when the comment's author
  `is_staff`, else `customer`; a private (internal) note is not a reply to anyone and is
  not translated.
- `ticket.status_changed` -> `ticket_resolved` when it becomes solved, `ticket_reopened`
  when it leaves solved for new/open/pending/hold; other changes are not translated.
- `ticket.satisfaction_rated` (a trigger webhook with the body of docs/connectors.md,
  since Zendesk has no event subscription for ratings) -> `ticket_rated`, the rating
  mapped by `[connectors.zendesk.satisfaction]` (good = 5, bad = 1).
"""

from __future__ import annotations

from typing import Any

from streams.connectors.connectors_config import ZendeskConfig
from streams.connectors.result import Result, Untranslatable, iso_ms, nonempty_str

_PREFIX = "zen:event-type:"
_PRIORITIES = {"low", "normal", "high", "urgent"}
_CHANNELS = {
    "web": "web",
    "email": "email",
    "chat": "chat",
    "native_messaging": "chat",
    "messaging": "chat",
    "voice": "phone",
    "phone": "phone",
    "twitter": "social",
    "facebook": "social",
    "instagram": "social",
    "whatsapp": "social",
    "social": "social",
}
_OPEN_STATES = {"new", "open", "pending", "hold"}


def translate(payload: dict[str, Any], config: ZendeskConfig) -> Result:
    kind = payload.get("type")
    event_id = nonempty_str(payload.get("id"))
    occurred_at = iso_ms(payload.get("time"))
    detail = payload.get("detail")
    if (
        not isinstance(kind, str)
        or not kind.startswith(_PREFIX)
        or event_id is None
        or not isinstance(detail, dict)
    ):
        return Untranslatable(
            "not_an_event", "The Zendesk payload is not a webhook event with type, id and detail."
        )
    if occurred_at is None:
        return Untranslatable("no_timestamp", "The Zendesk event has no time with an offset.")
    kind = kind[len(_PREFIX) :]
    if kind not in _HANDLERS:
        return Untranslatable(
            "unsupported_event_type",
            "This Zendesk event type is not translated (see docs/connectors.md).",
        )
    ticket_id = nonempty_str(detail.get("id"))
    if ticket_id is None:
        return Untranslatable("no_ticket_id", "The Zendesk event's detail has no ticket id.")
    account_id = _account(detail.get("organization_id"), config)
    if isinstance(account_id, Untranslatable):
        return account_id
    base = {
        "event_id": "zendesk:" + event_id,
        "occurred_at": occurred_at,
        "account_id": account_id,
        "ticket_id": ticket_id,
    }
    body = payload.get("event")
    return _HANDLERS[kind](base, detail, body if isinstance(body, dict) else {}, config)


def _created(
    base: dict[str, Any], detail: dict[str, Any], body: dict[str, Any], config: ZendeskConfig
) -> Result:
    event = {**base, "type": "ticket_opened"}
    priority = str(detail.get("priority") or "").lower()
    if priority in _PRIORITIES:
        event["priority"] = priority
    via = detail.get("via")
    channel = (
        _CHANNELS.get(str(via.get("channel") or "").lower()) if isinstance(via, dict) else None
    )
    if channel is not None:
        event["channel"] = channel
    requester = nonempty_str(detail.get("requester_id"))
    if requester is not None and len(requester) <= 128:
        event["user_id"] = requester
    return [event]


def _comment(
    base: dict[str, Any], detail: dict[str, Any], body: dict[str, Any], config: ZendeskConfig
) -> Result:
    comment = body.get("comment")
    if not isinstance(comment, dict):
        return Untranslatable("no_comment", "The comment event carries no comment.")
    if comment.get("is_public") is False:
        return Untranslatable("private_comment", "An internal note is not a reply to the customer.")
    author = comment.get("author")
    is_staff = author.get("is_staff") if isinstance(author, dict) else None
    if type(is_staff) is not bool:
        return Untranslatable("no_author", "The comment does not say whether its author is staff.")
    return [{**base, "type": "ticket_replied", "author": "agent" if is_staff else "customer"}]


def _status(
    base: dict[str, Any], detail: dict[str, Any], body: dict[str, Any], config: ZendeskConfig
) -> Result:
    current, previous = (
        str(body.get("current") or "").lower(),
        str(body.get("previous") or "").lower(),
    )
    if current == "solved" and previous != "solved":
        return [{**base, "type": "ticket_resolved"}]
    if previous == "solved" and current in _OPEN_STATES:
        return [{**base, "type": "ticket_reopened"}]
    return Untranslatable(
        "status_not_tracked",
        "Only changes into and out of solved are ticket events of the contract.",
    )


def _rated(
    base: dict[str, Any], detail: dict[str, Any], body: dict[str, Any], config: ZendeskConfig
) -> Result:
    # the first word of the rating: "good", or Zendesk's rendered text "Good, I'm satisfied"
    score = str(body.get("score") or "").lower().replace(",", " ").split(" ", 1)[0]
    if score not in config.satisfaction:
        return Untranslatable(
            "unrated",
            "The rating is not one of [connectors.zendesk.satisfaction] (e.g. offered or unoffered).",
        )
    event = {**base, "type": "ticket_rated", "rating": config.satisfaction[score]}
    requester = nonempty_str(detail.get("requester_id"))
    if requester is not None and len(requester) <= 128:
        event["user_id"] = requester
    return [event]


def _account(organization: object, config: ZendeskConfig) -> str | Untranslatable:
    organization_id = nonempty_str(organization)
    if organization_id is None or organization_id == "0":
        return Untranslatable(
            "no_organization", "The ticket has no organization to name its account."
        )
    account_id = config.organizations.get(organization_id)
    if account_id is None and config.unmapped_organizations == "organization_id":
        account_id = organization_id
    if account_id is None or len(account_id) > 128:
        return Untranslatable(
            "unknown_organization", "The organization is not in [connectors.zendesk.organizations]."
        )
    return account_id


_HANDLERS = {
    "ticket.created": _created,
    "ticket.comment_added": _comment,
    "ticket.status_changed": _status,
    "ticket.satisfaction_rated": _rated,
}
