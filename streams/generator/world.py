"""The simulated customers: accounts, their users and their subscriptions.

An account is acquired at some instant in the year before `end` (so billing history starts
before the activity window), has a power-law number of users who join over time, a
region (UTC offset) that sets its working hours, a currency, and a plan that fits its size.
Users differ in how often they work with the product (engagement tiers), when they start
their day, and which features they have adopted (shared precomputed profiles keep memory
small: a user is a handful of slots).

Nothing here emits events; `simulation`, `billing` and `activity` do, reading this state.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from streams.generator import catalog
from streams.generator.clock import DAY_MS, HOUR_MS, MINUTE_MS

MAX_USERS_PER_ACCOUNT = 1000


@dataclass(slots=True)
class User:
    user_id: str
    joined_at: int  # epoch ms; a signup is emitted when this falls inside the window
    workday_activity: float  # chance of being active on a working day
    start_hour: float  # preferred local hour of the first session
    profile: int  # index into FeatureProfiles


@dataclass(slots=True)
class Subscription:
    subscription_id: str
    plan: str
    interval: str
    interval_count: int
    quantity: int
    unit_cents: int  # price per interval per seat, minor units
    discount_percent: float  # 0 = none
    trial_ends_at: int | None = None
    version: int = 0  # bumped whenever scheduled billing actions become stale
    period_start: int = 0
    failures: int = 0  # failed payment attempts in a row
    canceling: bool = False


@dataclass(slots=True)
class Account:
    index: int
    account_id: str
    utc_offset_ms: int
    currency: str
    acquired_at: int
    plan: str  # the plan it first buys
    health: float  # engagement multiplier; drops before churn
    users: list[User]  # sorted by joined_at
    sub: Subscription | None = None
    churned_at: int | None = None  # activity stops from here until a reactivation
    subscriptions_started: int = 0
    onboarded: bool = False  # onboarding_completed was emitted


@dataclass(frozen=True, slots=True)
class FeatureProfile:
    names: tuple[str, ...]
    cumulative_weights: tuple[float, ...]

    def pick(self, rng: random.Random) -> str:
        return self.names[
            bisect(self.cumulative_weights, rng.random() * self.cumulative_weights[-1])
        ]


def choose(rng: random.Random, weighted: tuple[tuple[Any, ...], ...]) -> Any:
    """First element of a (value, weight, ...) row picked with probability ~ weight."""
    point = rng.random() * sum(row[1] for row in weighted)
    for row in weighted:
        point -= row[1]
        if point < 0:
            return row[0]
    return weighted[-1][0]


def feature_profiles(rng: random.Random) -> tuple[FeatureProfile, ...]:
    profiles = []
    for _ in range(catalog.FEATURE_PROFILES):
        adopted = [
            (name, weight) for name, share, weight in catalog.FEATURES if rng.random() < share
        ]
        if not adopted:
            adopted = [catalog.FEATURES[0][::2]]
        profiles.append(
            FeatureProfile(tuple(n for n, _ in adopted), tuple(accumulate(w for _, w in adopted)))
        )
    return tuple(profiles)


def account_size(rng: random.Random) -> int:
    """Users per account: a Pareto tail (most accounts are small, a few are very large)."""
    return min(MAX_USERS_PER_ACCOUNT, max(1, int(1.6 * rng.paretovariate(1.15) - 0.3)))


def plan_for(size: int, rng: random.Random) -> str:
    if size <= 3:
        return "starter" if rng.random() < 0.8 else "growth"
    if size <= 25:
        r = rng.random()
        return "starter" if r < 0.25 else "growth" if r < 0.9 else "enterprise"
    return "growth" if rng.random() < 0.4 else "enterprise"


def working_time(rng: random.Random, day: int, utc_offset_ms: int) -> int:
    """A random instant within local working hours (8:00-18:00) of local calendar day `day`."""
    return day * DAY_MS - utc_offset_ms + int((8 + 10 * rng.random()) * HOUR_MS)


def build_accounts(
    rng: random.Random, count: int, end: int, acquisition_span_days: int
) -> list[Account]:
    width = max(5, len(str(count - 1)))
    accounts = []
    for index in range(count):
        offset_ms = int(choose(rng, catalog.REGIONS) * HOUR_MS)
        # a growing business: acquisitions per day rise linearly over the span (the
        # density of an age of a days is proportional to span - a)
        age_days = int(acquisition_span_days * (1.0 - (1.0 - rng.random()) ** 0.5))
        acquired_day = (end - offset_ms) // DAY_MS - age_days
        acquired_at = working_time(rng, acquired_day, offset_ms)
        size = account_size(rng)
        account_id = f"acct_{index:0{width}d}"
        users = _build_users(rng, account_id, size, acquired_at, offset_ms)
        accounts.append(
            Account(
                index=index,
                account_id=account_id,
                utc_offset_ms=offset_ms,
                currency=choose(rng, catalog.CURRENCY_WEIGHTS),
                acquired_at=acquired_at,
                plan=plan_for(size, rng),
                health=0.6 + 0.6 * rng.random(),
                users=users,
            )
        )
    return accounts


def _build_users(
    rng: random.Random, account_id: str, size: int, acquired_at: int, offset_ms: int
) -> list[User]:
    """The first user (the admin) joins at acquisition; most teammates within weeks, the
    rest as the account grows over the following two years (those after `end` never show)."""
    users = []
    for number in range(size):
        if number == 0:
            joined_at = acquired_at
        else:
            if rng.random() < 0.7:
                delay_days = rng.expovariate(1 / catalog.TEAMMATE_JOIN_MEAN_DAYS)
            else:
                delay_days = rng.random() * 730
            join_day = (acquired_at + offset_ms + int(delay_days * DAY_MS)) // DAY_MS
            joined_at = max(acquired_at + 10 * MINUTE_MS, working_time(rng, join_day, offset_ms))
        activity = choose(rng, catalog.ENGAGEMENT_TIERS_BY_RATE)
        users.append(
            User(
                user_id=f"usr_{account_id[5:]}_{number:03d}",
                joined_at=joined_at,
                workday_activity=min(0.98, activity * (0.8 + 0.4 * rng.random())),
                start_hour=min(12.0, max(6.5, rng.gauss(*catalog.WORKDAY_START_HOURS))),
                profile=rng.randrange(catalog.FEATURE_PROFILES),
            )
        )
    users.sort(key=lambda user: user.joined_at)
    return users
