"""Deliberate faults mixed into the valid stream, each a fraction of the valid events.

- duplicate: the exact bytes of a recently emitted valid message (same event_id), sent
  again; picked from the valid messages of the last day of event time (at most a few
  thousand), so it arrives seconds to hours after the original, far inside every dedup
  horizon (what a producer retry or an at-least-once replay does).
- late: a copy of the current login/logout/feature_used with a new event_id, stamped 37 to
  60 days before the latest time its account reached on that topic on an earlier day, so
  a consumer applying the 35-day lateness policy (stream time per account and topic)
  rejects it as too late wherever it lands within its day. Late events wait for the next
  such activity event with an earlier day behind it, so in the billing-only history they
  are paid out once usage begins.
- malformed: a line that must fail decoding, for one of `MALFORMED_REASONS` (chosen
  uniformly): not JSON, invalid UTF-8, not an object, a missing required field, a wrong
  JSON type, an unknown event type, a bad timestamp, a negative amount, a score or rating
  out of range, another out-of-range number, an unknown currency, a value outside its
  enumeration, an empty or over-long string, and (Kafka only) valid JSON on the wrong topic.

Faults draw from their own random stream and id space, so switching them on does not change
a single valid event.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from streams.contract.model import SOURCE_TOPICS, TOPIC_OF_TYPE
from streams.generator.clock import DAY_MS, rfc3339
from streams.generator.generator_config import GeneratedMessage, GeneratorConfig

DUPLICATE_MEMORY = 4096  # messages
DUPLICATE_HORIZON_MS = DAY_MS
LATE_TYPES = frozenset({"login", "logout", "feature_used"})
LATE_BEHIND_DAYS = (37, 60)  # > 35 days + 1: still too late if lines move within a day

MALFORMED_REASONS: tuple[str, ...] = (
    "not_json",
    "invalid_utf8",
    "not_object",
    "missing_field",
    "wrong_type",
    "unknown_type",
    "bad_timestamp",
    "negative_amount",
    "score_out_of_range",
    "number_out_of_range",
    "unknown_currency",
    "bad_enum",
    "empty_string",
    "too_long",
)
WRONG_TOPIC = "wrong_topic"
# "XXX" is ISO 4217's "no currency" code, so a decoder checking the full ISO list could
# accept it: only codes that are in no list are used.
UNKNOWN_CURRENCIES = ("ZZZ", "QQQ", "ABC")


class FaultInjector:
    def __init__(self, config: GeneratorConfig, id_prefix: str) -> None:
        self.rng = random.Random(f"cs-pulse/faults/{config.seed}")
        self.duplicate_fraction = config.duplicate_fraction
        self.late_fraction = config.late_fraction
        self.malformed_fraction = config.malformed_fraction
        self.reasons = MALFORMED_REASONS + ((WRONG_TOPIC,) if config.wrong_topic else ())
        self.id_prefix = id_prefix + "x"  # 'x' is no hex digit: never a valid event's id
        self.faults_out = 0
        self.recent: deque[tuple[int, GeneratedMessage]] = deque(maxlen=DUPLICATE_MEMORY)
        self.late_owed = 0
        # (account_id, topic) -> (day, latest time before that day, latest time)
        self.lanes: dict[tuple[str, str], tuple[int, int | None, int]] = {}

    def _fault_id(self) -> str:
        self.faults_out += 1
        return f"{self.id_prefix}{self.faults_out:x}"

    def after(
        self, message: GeneratedMessage, event: dict[str, Any], at: int
    ) -> list[GeneratedMessage] | tuple[()]:
        """Faults to send right after the valid `message` (built from `event`, at `at`)."""
        random_ = self.rng.random
        out: list[GeneratedMessage] | tuple[()] = ()
        if self.duplicate_fraction:
            recent = self.recent
            recent.append((at, message))
            while recent[0][0] < at - DUPLICATE_HORIZON_MS:
                recent.popleft()
            if random_() < self.duplicate_fraction:
                original = recent[self.rng.randrange(len(recent))][1]
                out = [original._replace(kind="duplicate")]
        if self.late_fraction:
            if random_() < self.late_fraction:
                self.late_owed += 1
            if self.late_owed and event["type"] in LATE_TYPES:
                self.late_owed -= 1
                out = [*out, self._late(message, event, at)]
        if self.malformed_fraction and random_() < self.malformed_fraction:
            out = [*out, self._malformed(event, at)]
        return out

    def _late(self, message: GeneratedMessage, event: dict[str, Any], at: int) -> GeneratedMessage:
        low, high = LATE_BEHIND_DAYS
        late = dict(event)
        late["event_id"] = self._fault_id()
        late["occurred_at"] = rfc3339(at - low * DAY_MS - self.rng.randrange((high - low) * DAY_MS))
        return message._replace(value=orjson.dumps(late), kind="late")

    # --- malformed ----------------------------------------------------------------------

    def _malformed(self, event: dict[str, Any], at: int) -> GeneratedMessage:
        rng = self.rng
        reason = rng.choice(self.reasons)
        account_id = event["account_id"]
        user_id = event.get("user_id") or "usr_00000_000"
        when = rfc3339(at)
        example = _examples(self._fault_id(), when, account_id, user_id)
        shapes = tuple(e for e in example if _SHAPE_FILTERS.get(reason, _any)(e))
        base: dict[str, Any] = rng.choice(shapes)
        topic = TOPIC_OF_TYPE[base["type"]]  # the right topic for the event the line started as
        value: bytes
        if reason == "not_json":
            text = orjson.dumps(base)
            value = rng.choice(
                (
                    text[: len(text) // 2],
                    text.replace(b'"', b"'"),
                    text + b"}",
                    text.replace(b":", b"=", 1),
                    b"type=login account_id=" + account_id.encode(),
                    b'{"type": "login", "count": NaN}',
                )
            )
        elif reason == "invalid_utf8":
            value = orjson.dumps(base).replace(b'":"', b'":"\xff\xfe', 1)
        elif reason == "not_object":
            value = rng.choice((orjson.dumps([base]), b'"login"', b"42", b"null", b"true", b"[]"))
        elif reason == "missing_field":
            key = rng.choice(tuple(k for k in REQUIRED[base["type"]]))
            del base[key]
            value = orjson.dumps(base)
        elif reason == "wrong_type":
            key, bad = rng.choice(_wrong_types(base, at))
            base[key] = bad
            value = orjson.dumps(base)
        elif reason == "unknown_type":
            base["type"] = rng.choice(
                ("page_viewed", "feature-used", "Login", "subscription_paused", "")
            )
            value = orjson.dumps(base)
        elif reason == "bad_timestamp":
            base["occurred_at"] = rng.choice(
                (
                    when[:10] + "T25:00:00Z",
                    "2026-02-30T10:00:00Z",
                    when.rstrip("Z"),
                    when[:10] + " 10:00",
                    "yesterday",
                    "01/03/2026 10:00:00",
                    when[:10] + "T10:00:00+25:00",
                )
            )
            value = orjson.dumps(base)
        elif reason == "negative_amount":
            base["amount"] = -rng.choice((0.01, 1, 49, 2900.5))
            value = orjson.dumps(base)
        elif reason == "score_out_of_range":
            if "rating" in base:
                base["rating"] = rng.choice((0, 6, 10, -1))
            else:
                base["survey"], base["score"] = rng.choice(
                    (("nps", 11), ("nps", -1), ("csat", 0), ("csat", 6), ("ces", 0), ("ces", 8))
                )
            value = orjson.dumps(base)
        elif reason == "number_out_of_range":
            key, bad = rng.choice(
                (("count", 0), ("count", -3))
                if base["type"] == "feature_used"
                else (
                    ("quantity", 0),
                    ("interval_count", 0),
                    ("discount_percent", 101),
                    ("discount_percent", -5),
                )
            )
            base[key] = bad
            value = orjson.dumps(base)
        elif reason == "unknown_currency":
            base["currency"] = rng.choice(UNKNOWN_CURRENCIES)
            value = orjson.dumps(base)
        elif reason == "bad_enum":
            key, bad = rng.choice(ENUM_FIELDS[base["type"]])
            base[key] = bad
            value = orjson.dumps(base)
        elif reason == "empty_string":
            key = rng.choice(
                tuple(
                    k
                    for k in REQUIRED[base["type"]]
                    if isinstance(base[k], str) and k != "occurred_at"
                )
            )
            base[key] = ""
            value = orjson.dumps(base)
        elif reason == "too_long":
            key, limit = rng.choice(tuple((k, n) for k, n in MAX_LENGTHS if k in base))
            base[key] = ("long-" * (limit // 5 + 2))[: limit + 1]
            value = orjson.dumps(base)
        elif reason == WRONG_TOPIC:
            value = orjson.dumps(base)
            topic = rng.choice(tuple(t for t in SOURCE_TOPICS if t != topic))
        else:  # pragma: no cover - the tuple above lists every reason handled here
            raise AssertionError(reason)
        return GeneratedMessage(topic, account_id.encode(), value, "malformed", None, reason)


# Required fields per type (envelope plus the type's own), as the contract v1 states them.
_ENVELOPE = ("event_id", "type", "occurred_at", "account_id")
REQUIRED: dict[str, tuple[str, ...]] = {
    "login": (*_ENVELOPE, "user_id"),
    "feature_used": (*_ENVELOPE, "user_id", "feature"),
    "ticket_opened": (*_ENVELOPE, "ticket_id"),
    "ticket_replied": (*_ENVELOPE, "ticket_id", "author"),
    "ticket_rated": (*_ENVELOPE, "ticket_id", "rating"),
    "subscription_changed": (
        *_ENVELOPE,
        "subscription_id",
        "plan",
        "amount",
        "currency",
        "interval",
    ),
    "subscription_canceled": (*_ENVELOPE, "subscription_id"),
    "payment_succeeded": (*_ENVELOPE, "subscription_id", "amount", "currency"),
    "survey_response": (*_ENVELOPE, "survey", "score"),
    "onboarding_step_completed": (*_ENVELOPE, "user_id", "step"),
    "account_updated": (*_ENVELOPE, "name", "segment", "owner"),
}
ENUM_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "ticket_opened": (("priority", "critical"), ("channel", "fax"), ("priority", "HIGH")),
    "ticket_replied": (("author", "bot"), ("author", "")),
    "subscription_changed": (("interval", "fortnight"), ("interval", "monthly")),
    "survey_response": (("survey", "csi"), ("survey", "NPS")),
}
MAX_LENGTHS: tuple[tuple[str, int], ...] = (
    ("event_id", 128),
    ("account_id", 128),
    ("user_id", 128),
    ("feature", 64),
    ("plan", 64),
    ("comment", 2000),
)


def _any(event: dict[str, Any]) -> bool:
    return True


# Which example shapes a reason can start from (default: any).
_SHAPE_FILTERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "negative_amount": lambda e: "amount" in e,
    "score_out_of_range": lambda e: "score" in e or "rating" in e,
    "number_out_of_range": lambda e: e["type"] in ("feature_used", "subscription_changed"),
    "unknown_currency": lambda e: "currency" in e,
    "bad_enum": lambda e: e["type"] in ENUM_FIELDS,
}


def _wrong_types(event: dict[str, Any], at: int) -> tuple[tuple[str, object], ...]:
    """(field, value of the wrong JSON type) pairs that apply to `event`."""
    options: list[tuple[str, object]] = [
        ("occurred_at", at),  # epoch ms instead of RFC 3339 text
        ("account_id", 42),
        ("event_id", ["evt", 1]),
        ("type", None),
    ]
    typed = {
        "count": "3",
        "rating": "5",
        "score": "9",
        "amount": "forty-nine",
        "feature": 7,
        "ticket_id": {"id": 1},
        "quantity": "ten",
        "subscription_id": 123,
        "seats_purchased": "five",
        "owner": ["csm"],
    }
    options.extend((key, bad) for key, bad in typed.items() if key in event)
    return tuple(options)


def _examples(
    event_id: str, when: str, account_id: str, user_id: str
) -> tuple[dict[str, Any], ...]:
    """One valid event per shape the faults need; each fault mutates a fresh copy."""
    envelope = {"event_id": event_id, "type": "", "occurred_at": when, "account_id": account_id}
    rows = (
        ("login", {"user_id": user_id, "session_id": "ses_fault"}),
        ("feature_used", {"user_id": user_id, "feature": "dashboard", "count": 2}),
        ("ticket_opened", {"ticket_id": "tkt_fault", "priority": "high", "channel": "chat"}),
        ("ticket_replied", {"ticket_id": "tkt_fault", "author": "agent"}),
        ("ticket_rated", {"ticket_id": "tkt_fault", "rating": 4}),
        (
            "subscription_changed",
            {
                "subscription_id": "sub_fault",
                "plan": "growth",
                "amount": 29,
                "currency": "USD",
                "interval": "month",
                "quantity": 5,
                "discount_percent": 10,
            },
        ),
        ("subscription_canceled", {"subscription_id": "sub_fault"}),
        ("payment_succeeded", {"subscription_id": "sub_fault", "amount": 145.5, "currency": "EUR"}),
        ("survey_response", {"user_id": user_id, "survey": "nps", "score": 9, "comment": "Fine."}),
        ("onboarding_step_completed", {"user_id": user_id, "step": "invite_teammates"}),
        (
            "account_updated",
            {"name": "Fault Inc", "segment": "smb", "owner": "csm-fault", "seats_purchased": 5},
        ),
    )
    return tuple({**envelope, "type": kind, **fields} for kind, fields in rows)
