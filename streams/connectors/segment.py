"""Segment spec -> contract events (Segment, RudderStack and Jitsu speak the same calls).

Rules (docs/connectors.md, "Segment"):

- Event id: `segment:` + the call's `messageId` (required), so a redelivered call is a
  duplicate for the worker.
- Time: `timestamp` (Segment's corrected event time), else `originalTimestamp`, else
  `receivedAt`; an ISO 8601 time with an offset, re-written as RFC 3339 UTC milliseconds.
- Account: `group` calls name it in `groupId`; every other call must carry
  `context.groupId` (the spec's field for attributing a call to an account). A call
  without one cannot be placed in an account: `untranslatable:no_group`.
- User: `userId`; with `anonymous_users = true` a call without one uses `anonymousId`,
  otherwise it is `untranslatable:no_user_id` when the contract type needs a user.
- `track`: the event name is looked up in `[connectors.segment.track]`; an unmapped name
  is `untranslatable:unmapped_track` (a dead letter, never silently dropped).
- `group`: `account_updated` with name / segment / owner read from the configured traits.
- `page` / `screen`: `feature_used` with `page_feature` when configured.
- `identify` and `alias` carry no account fact of the contract: `untranslatable:<type>_not_translated`.
"""

from __future__ import annotations

from typing import Any

from streams.connectors.connectors_config import SegmentConfig
from streams.connectors.result import Result, Untranslatable, iso_ms, nonempty_str

_LIMIT = 128  # the contract's id length


def translate(payload: dict[str, Any], config: SegmentConfig) -> Result:
    call = payload.get("type")
    message_id = nonempty_str(payload.get("messageId"))
    if message_id is None:
        return Untranslatable(
            "no_message_id", "The Segment call has no messageId, so it has no stable event id."
        )
    occurred_at = next(
        (
            t
            for t in (
                iso_ms(payload.get(k)) for k in ("timestamp", "originalTimestamp", "receivedAt")
            )
            if t
        ),
        None,
    )
    if occurred_at is None:
        return Untranslatable(
            "no_timestamp",
            "The Segment call has no timestamp with an offset (timestamp, originalTimestamp or receivedAt).",
        )
    if call == "group":
        return _group(payload, message_id, occurred_at, config)
    if call in ("identify", "alias"):
        return Untranslatable(
            f"{call}_not_translated", f"Segment {call} calls carry no event of the contract."
        )
    if call not in ("track", "page", "screen"):
        return Untranslatable(
            "unknown_call",
            "The Segment call type is not track, identify, group, page, screen or alias.",
        )
    context = payload.get("context")
    account_id = nonempty_str(context.get("groupId")) if isinstance(context, dict) else None
    if account_id is None or len(account_id) > _LIMIT:
        return Untranslatable(
            "no_group", "The Segment call has no context.groupId naming its account."
        )
    user_id = nonempty_str(payload.get("userId"))
    if user_id is None and config.anonymous_users:
        user_id = nonempty_str(payload.get("anonymousId"))
    event: dict[str, Any] = {
        "event_id": "segment:" + message_id,
        "occurred_at": occurred_at,
        "account_id": account_id,
    }
    if call in ("page", "screen"):
        if config.page_feature is None:
            return Untranslatable(
                f"{call}_not_configured",
                f"Segment {call} calls are translated only with [connectors.segment] page_feature set.",
            )
        event.update(type="feature_used", feature=config.page_feature)
    else:
        name = payload.get("event")
        rule = config.track.get(name) if isinstance(name, str) else None
        if rule is None:
            return Untranslatable(
                "unmapped_track", "The track event name is not in [connectors.segment.track]."
            )
        event["type"] = rule.type
        if rule.feature is not None:
            event["feature"] = rule.feature
        elif rule.type == "onboarding_step_completed":
            step = rule.step
            if step is None:
                properties = payload.get("properties")
                step = (
                    nonempty_str(properties.get(rule.step_property))
                    if isinstance(properties, dict)
                    else None
                )
            if step is None or len(step) > 64:
                return Untranslatable(
                    "no_step",
                    f"The track event has no property {rule.step_property!r} naming the onboarding step.",
                )
            event["step"] = step
    if user_id is not None and len(user_id) <= _LIMIT:
        event["user_id"] = user_id
    elif event["type"] != "onboarding_completed":
        return Untranslatable(
            "no_user_id", "The Segment call has no userId (and anonymous users are not enabled)."
        )
    return [event]


def _group(
    payload: dict[str, Any], message_id: str, occurred_at: str, config: SegmentConfig
) -> Result:
    account_id = nonempty_str(payload.get("groupId"))
    if account_id is None or len(account_id) > _LIMIT:
        return Untranslatable("no_group", "The Segment group call has no groupId.")
    traits = payload.get("traits")
    traits = traits if isinstance(traits, dict) else {}
    values = {}
    for field, trait, limit in (
        ("name", config.name_trait, 200),
        ("segment", config.segment_trait, 64),
        ("owner", config.owner_trait, 128),
    ):
        value = nonempty_str(traits.get(trait))
        if value is None or len(value) > limit:
            return Untranslatable(
                f"missing_trait:{field}",
                f"The group call has no trait {trait!r} (1..{limit} characters) for the account's {field}.",
            )
        values[field] = value
    event: dict[str, Any] = {
        "event_id": "segment:" + message_id,
        "type": "account_updated",
        "occurred_at": occurred_at,
        "account_id": account_id,
        **values,
    }
    user_id = nonempty_str(payload.get("userId"))
    if user_id is not None and len(user_id) <= _LIMIT:
        event["user_id"] = user_id
    return [event]
