"""Typed events: what `streams.contract.decoding` produces from valid bytes and the engine consumes.

Contract v1 (schemas/ is the source of truth, docs/events.md explains it). Inside the
project, time is an integer of epoch milliseconds (UTC), parsed once at the edge; money
is a `Decimal` in major units of its currency, exactly as the producer wrote it.
Optional fields carry their documented defaults, so the engine never guesses.

Events are frozen `msgspec.Struct`s: the decoder builds them in one pass from the bytes
(streams/contract/decoding.py), and a Struct costs a fraction of a frozen dataclass to
build. They behave like the frozen dataclasses they replace: positional or keyword
construction, attribute access, equality by type and fields, hashing, pickling;
`msgspec.structs.replace` and `msgspec.structs.fields` stand for `dataclasses.replace`
and `dataclasses.fields`. `gc=False`: an event holds only str, int, Decimal and None, so
it can never be part of a reference cycle and the garbage collector need not track it.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

# Event type -> the topic it must arrive on.
TOPIC_OF_TYPE: dict[str, str] = {
    "login": "pulse.logins",
    "logout": "pulse.logins",
    "feature_used": "pulse.feature-use",
    "ticket_opened": "pulse.tickets",
    "ticket_replied": "pulse.tickets",
    "ticket_resolved": "pulse.tickets",
    "ticket_reopened": "pulse.tickets",
    "ticket_rated": "pulse.tickets",
    "subscription_started": "pulse.billing",
    "subscription_changed": "pulse.billing",
    "subscription_canceled": "pulse.billing",
    "payment_failed": "pulse.billing",
    "payment_succeeded": "pulse.billing",
    "survey_response": "pulse.surveys",
    "signup": "pulse.lifecycle",
    "onboarding_step_completed": "pulse.lifecycle",
    "onboarding_completed": "pulse.lifecycle",
    "account_updated": "pulse.lifecycle",
}
EVENT_TYPES: tuple[str, ...] = tuple(TOPIC_OF_TYPE)
SOURCE_TOPICS: tuple[str, ...] = tuple(dict.fromkeys(TOPIC_OF_TYPE.values()))
DEAD_LETTER_TOPIC = "pulse.dead-letter"


class Event(msgspec.Struct, frozen=True, gc=False):
    """Envelope shared by every type. `user_id` is None where the type allows it."""

    event_id: str
    type: str
    occurred_at: int  # epoch ms, UTC
    account_id: str
    user_id: str | None


class Login(Event, frozen=True, gc=False):
    session_id: str | None = None


class Logout(Event, frozen=True, gc=False):
    session_id: str | None = None


class FeatureUsed(Event, frozen=True, gc=False):
    feature: str = ""
    count: int = 1


class TicketOpened(Event, frozen=True, gc=False):
    ticket_id: str = ""
    priority: str | None = None  # low|normal|high|urgent
    channel: str | None = None  # email|chat|phone|web|social


class TicketReplied(Event, frozen=True, gc=False):
    ticket_id: str = ""
    author: str = ""  # agent|customer


class TicketResolved(Event, frozen=True, gc=False):
    ticket_id: str = ""


class TicketReopened(Event, frozen=True, gc=False):
    ticket_id: str = ""


class TicketRated(Event, frozen=True, gc=False):
    ticket_id: str = ""
    rating: int = 0  # 1..5


class SubscriptionSet(Event, frozen=True, gc=False):
    """subscription_started and subscription_changed: the subscription's terms from now on."""

    subscription_id: str = ""
    plan: str = ""
    amount: Decimal = Decimal(0)  # price per interval per unit, major units of `currency`
    currency: str = ""  # ISO 4217, upper case
    interval: str = "month"  # day|week|month|quarter|year
    interval_count: int = 1
    quantity: int = 1
    discount_percent: Decimal = Decimal(0)  # 0..100, recurring
    trial_ends_at: int | None = None  # epoch ms


class SubscriptionCanceled(Event, frozen=True, gc=False):
    subscription_id: str = ""
    effective_at: int = 0  # epoch ms; defaults to occurred_at


class Payment(Event, frozen=True, gc=False):
    """payment_failed and payment_succeeded."""

    subscription_id: str = ""
    amount: Decimal = Decimal(0)
    currency: str = ""


class SurveyResponse(Event, frozen=True, gc=False):
    survey: str = ""  # nps|csat|ces
    score: int = 0
    comment: str | None = None
    scale: str | None = (
        None  # ces only: "higher_is_easier" | "higher_is_harder"; None = the configured one
    )


class Signup(Event, frozen=True, gc=False):
    pass


class OnboardingStepCompleted(Event, frozen=True, gc=False):
    step: str = ""


class OnboardingCompleted(Event, frozen=True, gc=False):
    pass


class AccountUpdated(Event, frozen=True, gc=False):
    """The account's CRM facts from now on: each event is the full record (an absent
    optional field is "not known", not "unchanged")."""

    name: str = ""
    segment: str = ""
    owner: str = ""  # the account owner (CSM)
    renewal_at: int | None = None  # epoch ms
    seats_purchased: int | None = None


CLASS_OF_TYPE: dict[str, type[Event]] = {
    "login": Login,
    "logout": Logout,
    "feature_used": FeatureUsed,
    "ticket_opened": TicketOpened,
    "ticket_replied": TicketReplied,
    "ticket_resolved": TicketResolved,
    "ticket_reopened": TicketReopened,
    "ticket_rated": TicketRated,
    "subscription_started": SubscriptionSet,
    "subscription_changed": SubscriptionSet,
    "subscription_canceled": SubscriptionCanceled,
    "payment_failed": Payment,
    "payment_succeeded": Payment,
    "survey_response": SurveyResponse,
    "signup": Signup,
    "onboarding_step_completed": OnboardingStepCompleted,
    "onboarding_completed": OnboardingCompleted,
    "account_updated": AccountUpdated,
}

# Late policy families (see docs/events.md): how far behind the account's stream time an
# event may arrive. None = never too late (long-lived state: billing, tickets and
# account_updated, whose latest record holds until the next one).
ACTIVITY_POLICY_TYPES = frozenset(
    {
        "login",
        "logout",
        "feature_used",
        "signup",
        "onboarding_step_completed",
        "onboarding_completed",
    }
)
SURVEY_TYPES = frozenset({"survey_response"})
LONG_LIVED_TYPES = frozenset(
    t for t in EVENT_TYPES if t not in ACTIVITY_POLICY_TYPES | SURVEY_TYPES
)
