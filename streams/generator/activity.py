"""Product usage: sessions, signups and onboarding, and when users open tickets.

Everything happens in an account's local working day (its region's UTC offset):

- a user is active on a working day with the chance of their engagement tier, times the
  account's health; on weekends far less (`WEEKEND_FACTOR`);
- an active day has one session, sometimes two or three, the first near the user's usual
  start hour and later ones a few hours apart;
- a session is a login, one or more feature_used (picked by the user's adoption profile;
  a dozen features with very different popularity) separated by gaps of seconds to
  minutes, and usually a logout; a few sessions carry no session_id;
- a user whose joined_at falls in the day signs up and works through onboarding steps;
  the first user of a new account drives the account's onboarding, which ends with
  onboarding_completed when every step is done (most accounts get there); its pace
  (minutes or days between steps, or a journey that stalls) comes from `crm`;
- tickets arrive at a rate that grows sublinearly with the number of users.

Only sessions whose login lies inside the activity window are emitted (a session cut by
the dataset's end loses its tail, as it would on a live system).
"""

from __future__ import annotations

import math
import random
from typing import Any

from streams.generator import catalog
from streams.generator.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, weekday
from streams.generator.crm import Crm
from streams.generator.support import Support, delay
from streams.generator.timeline import Timeline
from streams.generator.world import Account, FeatureProfile, User

_GAP_MU = math.log(catalog.GAP_SECONDS_MEDIAN * SECOND_MS)  # lognormal gaps, sigma 1
exp = math.exp
_FEATURE_STOP = 1.0 / catalog.FEATURES_PER_SESSION_MEAN


class Activity:
    def __init__(
        self,
        timeline: Timeline,
        rng: random.Random,
        support: Support,
        profiles: tuple[FeatureProfile, ...],
        window_start: int,
        crm: Crm | None = None,
    ) -> None:
        self.timeline = timeline
        self.crm = crm
        self.rng = rng
        self.support = support
        self.profiles = profiles
        self.window_start = window_start
        self.sessions_started = 0

    def local_day(self, day: int, accounts: list[Account], with_usage: bool) -> None:
        """Generate calendar day `day` (local to each account): usage when `with_usage`,
        tickets always."""
        rng = self.rng
        random_ = rng.random
        weekend = weekday(day) >= 5
        day_factor = catalog.WEEKEND_FACTOR if weekend else 1.0
        ticket_factor = catalog.TICKETS_PER_WORKDAY * (0.3 if weekend else 1.0)
        for account in accounts:
            midnight = day * DAY_MS - account.utc_offset_ms
            day_end = midnight + DAY_MS
            if account.acquired_at >= day_end:
                continue
            if account.churned_at is not None and account.churned_at <= midnight:
                continue
            factor = account.health * day_factor
            present = 0
            for user in account.users:
                joined_at = user.joined_at
                if joined_at >= day_end:
                    break
                present += 1
                if not with_usage:
                    continue
                if joined_at >= midnight:
                    self.join(account, user)
                elif random_() < user.workday_activity * factor:
                    self.workday(account, user, midnight)
            expected_tickets = ticket_factor * present**0.6 * (1.6 - 0.5 * account.health)
            for _ in range(_poisson(rng, expected_tickets)):
                requester = account.users[rng.randrange(present)]
                opened_at = midnight + int((8 + 10 * random_()) * HOUR_MS)
                self.support.open_ticket(
                    max(opened_at, requester.joined_at + MINUTE_MS), account, requester.user_id
                )

    def workday(self, account: Account, user: User, midnight: int) -> None:
        rng = self.rng
        hour = user.start_hour + 0.75 * rng.gauss(0.0, 1.0)
        sessions = (
            1
            + (rng.random() < catalog.SESSION_EXTRA[0])
            + (rng.random() < catalog.SESSION_EXTRA[1])
        )
        for number in range(sessions):
            if hour > 22.5:
                break
            at = midnight + int(hour * HOUR_MS)
            if at >= self.window_start:
                ended = self.session(account, user, at)
                if number == 0 and rng.random() < catalog.NPS_PER_ACTIVE_DAY:
                    self.support.survey(
                        ended + delay(rng, 20 * SECOND_MS), account, user.user_id, "nps"
                    )
            hour += 1.0 + 3.0 * rng.random()

    def session(self, account: Account, user: User, at: int) -> int:
        """login, feature_used..., usually logout, from `at`; returns the last event's time.
        Emitted as compact session steps (see `expand_session_step`)."""
        rng = self.rng
        random_ = rng.random
        gauss = rng.gauss
        emit = self.timeline.emit_entry
        account_id = account.account_id
        user_id = user.user_id
        self.sessions_started += 1
        session_id = f"ses_{self.sessions_started:07x}" if random_() < 0.95 else None
        emit((at, "login", account_id, user_id, session_id, None))
        pick = self.profiles[user.profile].pick
        while True:
            at += min(30 * MINUTE_MS, max(SECOND_MS, int(exp(_GAP_MU + gauss()))))
            count = rng.randint(2, 6) if random_() < 0.15 else None
            emit((at, "feature_used", account_id, user_id, pick(rng), count))
            if random_() < _FEATURE_STOP:
                break
        if random_() < catalog.LOGOUT_SHARE:
            at += min(30 * MINUTE_MS, max(SECOND_MS, int(exp(_GAP_MU + gauss()))))
            emit((at, "logout", account_id, user_id, session_id, None))
        return at

    def join(self, account: Account, user: User) -> None:
        """signup, onboarding steps (the account's if this is its first user), a first session."""
        rng = self.rng
        at = user.joined_at
        if at < self.window_start:
            return
        emit = self.timeline.emit
        account_id = account.account_id
        emit(
            at,
            {
                "event_id": None,
                "type": "signup",
                "occurred_at": None,
                "account_id": account_id,
                "user_id": user.user_id,
            },
        )
        self.session(account, user, at + rng.randrange(20, 300) * SECOND_MS)
        first_user = user is account.users[0]
        steps = catalog.ONBOARDING_STEPS if first_user else catalog.TEAMMATE_STEPS
        completed = True
        crm = self.crm if first_user else None
        for number, step in enumerate(steps, 1):
            at += delay(rng, 40 * MINUTE_MS, 1.5)
            if crm is not None and number > 1:
                at += crm.step_delay(account)
            emit(
                at,
                {
                    "event_id": None,
                    "type": "onboarding_step_completed",
                    "occurred_at": None,
                    "account_id": account_id,
                    "user_id": user.user_id,
                    "step": step,
                },
            )
            if rng.random() < catalog.CES_AFTER_ONBOARDING_STEP:
                self.support.survey(at + delay(rng, 30 * SECOND_MS), account, user.user_id, "ces")
            if rng.random() >= catalog.ONBOARDING_STEP_CONTINUE:
                completed = False
                break
            if crm is not None and crm.stops_after(account, number):
                completed = False
                break
        if first_user and completed and not account.onboarded:
            account.onboarded = True
            event = {
                "event_id": None,
                "type": "onboarding_completed",
                "occurred_at": None,
                "account_id": account_id,
            }
            if rng.random() < 0.7:
                event["user_id"] = user.user_id
            emit(at + rng.randrange(1, 30) * SECOND_MS, event)


def expand_session_step(step: tuple[Any, ...]) -> dict[str, Any]:
    """A compact session step `(at, type, account_id, user_id, detail, count)` -> the event:
    detail is the session_id (login, logout; None: none) or the feature (feature_used), and
    count the feature_used count (None: the default, 1, left out)."""
    _, kind, account_id, user_id, detail, count = step
    event = {
        "event_id": None,
        "type": kind,
        "occurred_at": None,
        "account_id": account_id,
        "user_id": user_id,
    }
    if kind == "feature_used":
        event["feature"] = detail
        if count is not None:
            event["count"] = count
    elif detail is not None:
        event["session_id"] = detail
    return event


def _poisson(rng: random.Random, expected: float) -> int:
    """A Poisson draw (Knuth's method; `expected` is small here)."""
    limit = math.exp(-expected)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
