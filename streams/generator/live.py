"""The demo feed: endless events stamped with the current time, from the simulated customers.

After the backlog, the same accounts and users go on working "now". Each step advances one
of many concurrent stories: sessions (login, feature_used..., usually logout), tickets
(opened, agent and customer replies, resolved, sometimes rated or reopened), survey
answers, new users signing up and onboarding, and now and then a payment or a plan change.
The caller paces the steps (`--rate`); each event's time is the clock's reading, never
earlier than the previous event's, so a consumer sees a steady, plausible live mix.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from streams.generator import catalog
from streams.generator.billing import Billing, invoice_cents, money
from streams.generator.clock import rfc3339
from streams.generator.simulation import Simulation
from streams.generator.support import SURVEY_SCALES
from streams.generator.world import Account, User, choose

MAX_OPEN_SESSIONS = 40
MAX_OPEN_TICKETS = 12


class _EmittedEvents:
    """Stands in for the timeline when Billing is driven step by step: keeps what is
    emitted, ignores what is scheduled (the live feed stamps everything 'now')."""

    def __init__(self) -> None:
        self.emitted: list[dict[str, Any]] = []

    def emit(self, at: int, event: dict[str, Any]) -> None:
        self.emitted.append(event)

    def schedule(self, at: int, action: Callable[..., None], *args: Any) -> None:
        pass


class LiveFeed:
    def __init__(self, simulation: Simulation, now: Callable[[], int]) -> None:
        self.simulation = simulation
        self.now = now
        self.rng = random.Random(f"cs-pulse/live/{simulation.config.seed}")
        self.collector = _EmittedEvents()
        self.billing = Billing(self.collector, self.rng)  # type: ignore[arg-type]
        end = simulation.config.end
        self.accounts = [
            a for a in simulation.accounts if a.acquired_at < end and a.churned_at is None
        ] or simulation.accounts[:1]
        self.people: list[tuple[Account, User]] = [
            (account, user)
            for account in self.accounts
            for user in account.users
            if user.joined_at < end
        ] or [(self.accounts[0], self.accounts[0].users[0])]
        self.sessions: list[tuple[Account, User, str | None]] = []
        self.tickets: list[list[Any]] = []  # [account, requester user_id, ticket_id, state]
        self.onboarding: list[tuple[Account, User, list[str]]] = []
        self.last = 0
        self.counter = 0

    def events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(epoch ms, JSON-ready event) forever; the caller decides when to stop."""
        while True:
            at = self.last = max(self.last, self.now())
            event = self.step()
            event["event_id"] = self.simulation.next_event_id()
            event["occurred_at"] = rfc3339(at)
            yield at, event

    def step(self) -> dict[str, Any]:
        draw = self.rng.random()
        if draw < 0.005:
            return self.billing_step()
        if draw < 0.045:
            return self.ticket_step()
        if draw < 0.06:
            return self.survey_step()
        if draw < 0.07:
            return self.lifecycle_step()
        return self.session_step()

    def _envelope(self, kind: str, account: Account, user_id: str | None = None) -> dict[str, Any]:
        event = {
            "event_id": None,
            "type": kind,
            "occurred_at": None,
            "account_id": account.account_id,
        }
        if user_id is not None:
            event["user_id"] = user_id
        return event

    def session_step(self) -> dict[str, Any]:
        rng = self.rng
        if not self.sessions or (len(self.sessions) < MAX_OPEN_SESSIONS and rng.random() < 0.2):
            account, user = rng.choice(self.people)
            self.counter += 1
            session_id = f"ses_live_{self.counter:x}" if rng.random() < 0.95 else None
            self.sessions.append((account, user, session_id))
            event = self._envelope("login", account, user.user_id)
            if session_id:
                event["session_id"] = session_id
            return event
        index = rng.randrange(len(self.sessions))
        account, user, session_id = self.sessions[index]
        if rng.random() < 0.15:
            self.sessions[index] = self.sessions[-1]
            self.sessions.pop()
            event = self._envelope("logout", account, user.user_id)
            if session_id:
                event["session_id"] = session_id
            return event
        event = self._envelope("feature_used", account, user.user_id)
        event["feature"] = self.simulation.profiles[user.profile].pick(rng)
        if rng.random() < 0.15:
            event["count"] = rng.randint(2, 6)
        return event

    def ticket_step(self) -> dict[str, Any]:
        rng = self.rng
        if not self.tickets or (len(self.tickets) < MAX_OPEN_TICKETS and rng.random() < 0.3):
            account, user = rng.choice(self.people)
            self.counter += 1
            ticket_id = f"tkt_live_{self.counter:x}"
            self.tickets.append([account, user.user_id, ticket_id, "new"])
            event = self._envelope("ticket_opened", account, user.user_id)
            event.update(
                ticket_id=ticket_id,
                priority=choose(rng, catalog.TICKET_PRIORITIES),
                channel=choose(rng, catalog.TICKET_CHANNELS),
            )
            return event
        ticket = rng.choice(self.tickets)
        account, requester, ticket_id, state = ticket
        if state == "new" or state == "waiting":
            ticket[3], kind, extra = "answered", "ticket_replied", {"author": "agent"}
        elif state == "answered" and rng.random() < 0.4:
            ticket[3], kind, extra = "waiting", "ticket_replied", {"author": "customer"}
        elif state == "answered":
            ticket[3], kind, extra = "resolved", "ticket_resolved", {}
        elif rng.random() < 0.15:  # resolved, and the customer comes back
            ticket[3], kind, extra = "new", "ticket_reopened", {}
        else:
            self.tickets.remove(ticket)
            if rng.random() < 0.5:
                return self.survey(account, requester, "csat")
            kind, extra = (
                "ticket_rated",
                {"rating": 1 + choose(rng, tuple(enumerate(catalog.RATING_WEIGHTS)))},
            )
        event = self._envelope(kind, account)
        event["ticket_id"] = ticket_id
        event.update(extra)
        return event

    def survey(self, account: Account, user_id: str | None, survey: str) -> dict[str, Any]:
        rng = self.rng
        lowest, weights = SURVEY_SCALES[survey]
        event = self._envelope("survey_response", account, user_id)
        event["survey"] = survey
        event["score"] = lowest + choose(rng, tuple(enumerate(weights)))
        if rng.random() < catalog.SURVEY_COMMENT_SHARE:
            event["comment"] = rng.choice(catalog.COMMENTS)
        return event

    def survey_step(self) -> dict[str, Any]:
        account, user = self.rng.choice(self.people)
        return self.survey(account, user.user_id, self.rng.choice(("nps", "nps", "csat", "ces")))

    def lifecycle_step(self) -> dict[str, Any]:
        rng = self.rng
        if self.onboarding and rng.random() < 0.7:
            account, user, steps = self.onboarding[0]
            event = self._envelope("onboarding_step_completed", account, user.user_id)
            event["step"] = steps.pop(0)
            if not steps:
                self.onboarding.pop(0)
            return event
        account = rng.choice(self.accounts)
        user = User(
            user_id=f"usr_{account.account_id[5:]}_{len(account.users):03d}",
            joined_at=self.last,
            workday_activity=0.5,
            start_hour=9.0,
            profile=rng.randrange(catalog.FEATURE_PROFILES),
        )
        account.users.append(user)
        self.people.append((account, user))
        self.onboarding.append((account, user, list(catalog.TEAMMATE_STEPS)))
        return self._envelope("signup", account, user.user_id)

    def billing_step(self) -> dict[str, Any]:
        rng = self.rng
        paying = [
            a
            for a in rng.sample(self.accounts, min(8, len(self.accounts)))
            if a.sub and not a.sub.canceling
        ]
        if not paying:
            return self.session_step()
        account = paying[0]
        sub = account.sub
        if sub is None:  # excluded above; the check narrows the type
            return self.session_step()
        if rng.random() < 0.3:
            self.collector.emitted.clear()
            self.billing.change(self.last, account, sub.version, +1 if rng.random() < 0.7 else -1)
            if self.collector.emitted:
                return self.collector.emitted[-1]
        kind = "payment_failed" if rng.random() < 0.05 else "payment_succeeded"
        event = self._envelope(kind, account)
        event.update(
            subscription_id=sub.subscription_id,
            amount=money(invoice_cents(sub)),
            currency=account.currency,
        )
        return event
