"""Builders of typed events for the engine tests (no decoding involved)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from decimal import Decimal

from streams.contract.model import (
    Event,
    FeatureUsed,
    Login,
    Logout,
    OnboardingCompleted,
    OnboardingStepCompleted,
    Payment,
    Signup,
    SubscriptionCanceled,
    SubscriptionSet,
    SurveyResponse,
    TicketOpened,
    TicketRated,
    TicketReopened,
    TicketReplied,
    TicketResolved,
)
from streams.engine.samples import Sample
from streams.engine.timeline import DAY_MS, HOUR_MS, MINUTE_MS

T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
"""A midnight UTC far from the epoch, so every window below it is positive."""


_ids = itertools.count(1)


def _id() -> str:
    return f"e{next(_ids)}"


def login(t: int, user: str = "u1", account: str = "a1", session: str | None = None) -> Login:
    return Login(_id(), "login", t, account, user, session_id=session)


def logout(t: int, user: str = "u1", account: str = "a1", session: str | None = None) -> Logout:
    return Logout(_id(), "logout", t, account, user, session_id=session)


def feature(t: int, name: str = "search", user: str = "u1", account: str = "a1") -> FeatureUsed:
    return FeatureUsed(_id(), "feature_used", t, account, user, feature=name)


def opened(
    t: int, ticket: str = "k1", priority: str | None = None, account: str = "a1"
) -> TicketOpened:
    return TicketOpened(
        _id(), "ticket_opened", t, account, None, ticket_id=ticket, priority=priority
    )


def replied(
    t: int, ticket: str = "k1", author: str = "agent", account: str = "a1"
) -> TicketReplied:
    return TicketReplied(_id(), "ticket_replied", t, account, None, ticket_id=ticket, author=author)


def resolved(t: int, ticket: str = "k1", account: str = "a1") -> TicketResolved:
    return TicketResolved(_id(), "ticket_resolved", t, account, None, ticket_id=ticket)


def reopened(t: int, ticket: str = "k1", account: str = "a1") -> TicketReopened:
    return TicketReopened(_id(), "ticket_reopened", t, account, None, ticket_id=ticket)


def rated(t: int, rating: int, ticket: str = "k1", account: str = "a1") -> TicketRated:
    return TicketRated(_id(), "ticket_rated", t, account, None, ticket_id=ticket, rating=rating)


def survey(
    t: int, kind: str, score: int, account: str = "a1", user: str | None = "u1"
) -> SurveyResponse:
    return SurveyResponse(_id(), "survey_response", t, account, user, survey=kind, score=score)


def signup(t: int, user: str = "u1", account: str = "a1") -> Signup:
    return Signup(_id(), "signup", t, account, user)


def step(
    t: int, name: str = "invite", user: str = "u1", account: str = "a1"
) -> OnboardingStepCompleted:
    return OnboardingStepCompleted(_id(), "onboarding_step_completed", t, account, user, step=name)


def onboarded(t: int, user: str = "u1", account: str = "a1") -> OnboardingCompleted:
    return OnboardingCompleted(_id(), "onboarding_completed", t, account, user)


def subscribed(
    t: int,
    amount: str,
    account: str = "a1",
    sub: str = "s1",
    plan: str = "growth",
    interval: str = "month",
) -> SubscriptionSet:
    return SubscriptionSet(
        _id(),
        "subscription_started",
        t,
        account,
        None,
        subscription_id=sub,
        plan=plan,
        amount=Decimal(amount),
        currency="USD",
        interval=interval,
    )


def canceled(t: int, account: str = "a1", sub: str = "s1") -> SubscriptionCanceled:
    return SubscriptionCanceled(
        _id(), "subscription_canceled", t, account, None, subscription_id=sub, effective_at=t
    )


def paid(t: int, amount: str, account: str = "a1", sub: str = "s1") -> Payment:
    return Payment(
        _id(),
        "payment_succeeded",
        t,
        account,
        None,
        subscription_id=sub,
        amount=Decimal(amount),
        currency="USD",
    )


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the one sample with this name and exactly these labels."""
    wanted = tuple(sorted(labels.items()))
    found = [s.value for s in samples if s.name == name and tuple(sorted(s.labels)) == wanted]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return float(found[0])


def apply_all(engine: object, events: list[Event]) -> None:
    for event in events:
        engine.apply(event)  # type: ignore[attr-defined]


FEATURES = ("dashboard", "search", "reports", "export", "alerts")


def synthetic_events(seed: int, days: int, accounts: int = 4, users: int = 5) -> list:
    """A generated-like mix of every event kind over `days` days, in time order."""
    rng = random.Random(seed)
    events = []
    for a in range(accounts):
        account = f"acct{a}"
        events.append(
            subscribed(
                T0 + rng.randrange(DAY_MS),
                f"{rng.choice([49, 99, 300])}",
                account=account,
                plan=rng.choice(["starter", "growth"]),
            )
        )
        for day in range(days):
            base = T0 + day * DAY_MS
            for u in range(users):
                user = f"u{u}"
                if rng.random() < 0.3:
                    continue
                t = base + rng.randrange(8 * HOUR_MS, 18 * HOUR_MS)
                events.append(login(t, user=user, account=account))
                for _ in range(rng.randrange(6)):
                    t += rng.choice(
                        [MINUTE_MS, 10 * MINUTE_MS, 30 * MINUTE_MS, 30 * MINUTE_MS + 1, 2 * HOUR_MS]
                    )
                    events.append(feature(t, rng.choice(FEATURES), user=user, account=account))
                if rng.random() < 0.5:
                    events.append(
                        logout(t + rng.choice([0, MINUTE_MS]), user=user, account=account)
                    )
            if rng.random() < 0.3:
                ticket = f"k{day}"
                t = base + rng.randrange(DAY_MS)
                events += [
                    opened(
                        t,
                        ticket=ticket,
                        priority=rng.choice([None, "low", "high"]),
                        account=account,
                    ),
                    replied(
                        t + rng.randrange(1, 5) * HOUR_MS,
                        ticket=ticket,
                        author=rng.choice(["agent", "customer"]),
                        account=account,
                    ),
                ]
                if rng.random() < 0.7:
                    events.append(
                        resolved(t + rng.randrange(1, 3 * DAY_MS), ticket=ticket, account=account)
                    )
                    events.append(
                        rated(t + 3 * DAY_MS, rng.randrange(1, 6), ticket=ticket, account=account)
                    )
                if rng.random() < 0.1:
                    events.append(reopened(t + 4 * DAY_MS, ticket=ticket, account=account))
            if rng.random() < 0.2:
                kind = rng.choice(["nps", "csat", "ces"])
                score = {
                    "nps": rng.randrange(11),
                    "csat": rng.randrange(1, 6),
                    "ces": rng.randrange(1, 8),
                }[kind]
                events.append(survey(base + rng.randrange(DAY_MS), kind, score, account=account))
            if rng.random() < 0.1:
                t = base + rng.randrange(DAY_MS)
                events += [
                    signup(t, user=f"n{day}", account=account),
                    step(t + HOUR_MS, user=f"n{day}", account=account),
                    onboarded(t + 2 * HOUR_MS, user=f"n{day}", account=account),
                ]
            if day % 30 == 29:
                events.append(paid(base + HOUR_MS, "99", account=account))
        if rng.random() < 0.5:
            events.append(canceled(T0 + rng.randrange(days) * DAY_MS, account=account))
    events.sort(key=lambda event: event.occurred_at)
    return events


def device_events(seed: int, days: int, accounts: int = 3, users: int = 5) -> list[Event]:
    """Users on several devices at once: tagged logins (a session_id per device and day),
    untagged feature uses in between, logouts that end one device's session (sometimes
    none, so it closes by inactivity), some untagged logins, and users who log in and do
    nothing else (idle). In time order."""
    rng = random.Random(seed)
    events: list[Event] = []
    for a in range(accounts):
        account = f"dev{a}"
        for day in range(days):
            base = T0 + day * DAY_MS
            for u in range(users):
                user = f"u{u}"
                if rng.random() < 0.25 or (u == users - 1 and day > days // 2):
                    continue  # the last user stops half way: their logins leave the windows
                idle = u == 0 or rng.random() < 0.15
                start = base + rng.randrange(DAY_MS)  # any hour: local days and DST matter
                for device in range(rng.choice([1, 2, 2, 3])):
                    session = None if rng.random() < 0.15 else f"{user}-d{device}-{day}"
                    t = start + device * rng.choice([0, MINUTE_MS, 20 * MINUTE_MS, 3 * HOUR_MS])
                    events.append(login(t, user=user, account=account, session=session))
                    if idle:
                        continue
                    for _ in range(rng.randrange(4)):
                        t += rng.choice(
                            [
                                MINUTE_MS,
                                10 * MINUTE_MS,
                                30 * MINUTE_MS,
                                30 * MINUTE_MS + 1,
                                2 * HOUR_MS,
                            ]
                        )
                        events.append(feature(t, rng.choice(FEATURES), user=user, account=account))
                    if rng.random() < 0.6:
                        t += rng.choice([0, MINUTE_MS, 45 * MINUTE_MS])
                        events.append(logout(t, user=user, account=account, session=session))
    events.sort(key=lambda event: event.occurred_at)
    return events
