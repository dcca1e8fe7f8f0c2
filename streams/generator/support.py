"""Support tickets and survey responses.

A ticket's whole life is drawn when it opens, since nothing later changes it: a first agent
reply after a delay that depends on priority (or none at all: a few tickets are never
answered), a few customer/agent exchanges, a resolution (most tickets), then maybe a rating,
a CSAT survey from the requester, and sometimes a reopening followed by another reply and
resolution. Events after the dataset's end are dropped by the timeline, which leaves those
tickets open, as a live system would see them.

The requester's user_id rides on the events the customer causes (opened, customer
replies, reopened); agent replies, resolutions and ratings carry none.

Surveys: NPS (0..10) from active users now and then, CSAT (1..5) after a resolution, CES
(1..7, 7 = very easy) after an onboarding step; a minority carry a free-text comment and a
few are anonymous (no user_id).
"""

from __future__ import annotations

import math
import random
from typing import Any

from streams.generator import catalog
from streams.generator.clock import HOUR_MS, MINUTE_MS, SECOND_MS
from streams.generator.timeline import Timeline
from streams.generator.world import Account, choose

SURVEY_SCALES: dict[str, tuple[int, tuple[float, ...]]] = {
    "nps": (0, catalog.NPS_WEIGHTS),
    "csat": (1, catalog.CSAT_WEIGHTS),
    "ces": (1, catalog.CES_WEIGHTS),
}


def delay(rng: random.Random, median_ms: float, sigma: float = 1.0) -> int:
    """A lognormal delay with the given median, at least one second."""
    return max(SECOND_MS, int(median_ms * math.exp(sigma * rng.gauss(0.0, 1.0))))


class Support:
    stale_close_median_ms: int | None = None
    """None: a ticket left unanswered or unresolved stays open for good (8 % and 4 % of
    them). A time: the helpdesk closes such a ticket after about that long (lognormal), as
    helpdesk automations close stale tickets; bench/bench_soak.py's steady world sets it,
    so that the backlog, like the customer base, stays about flat over a year."""

    def __init__(self, timeline: Timeline, rng: random.Random) -> None:
        self.timeline = timeline
        self.rng = rng
        self.tickets_opened = 0

    def _ticket_event(
        self,
        kind: str,
        at: int,
        account: Account,
        ticket_id: str,
        user_id: str | None = None,
        **fields: Any,
    ) -> None:
        event = {
            "event_id": None,
            "type": kind,
            "occurred_at": None,
            "account_id": account.account_id,
        }
        if user_id is not None:
            event["user_id"] = user_id
        event["ticket_id"] = ticket_id
        event.update(fields)
        self.timeline.emit(at, event)

    def open_ticket(self, at: int, account: Account, requester: str) -> None:
        rng = self.rng
        self.tickets_opened += 1
        ticket_id = f"tkt_{self.tickets_opened:06d}"
        priority = choose(rng, catalog.TICKET_PRIORITIES)
        fields = {"priority": priority, "channel": choose(rng, catalog.TICKET_CHANNELS)}
        if rng.random() < 0.1:  # both are optional; some helpdesks do not send them
            del fields["channel" if rng.random() < 0.5 else "priority"]
        self._ticket_event("ticket_opened", at, account, ticket_id, requester, **fields)
        if rng.random() < catalog.TICKET_UNANSWERED:
            self._close_stale(at, account, ticket_id)
            return
        agent_median = catalog.FIRST_REPLY_MEDIAN_MINUTES[priority] * MINUTE_MS
        at += delay(rng, agent_median, 0.8)
        self._ticket_event("ticket_replied", at, account, ticket_id, author="agent")
        for _ in range(choose(rng, ((0, 0.35), (1, 0.35), (2, 0.2), (3, 0.1)))):
            at += delay(rng, 60 * MINUTE_MS, 1.2)
            self._ticket_event(
                "ticket_replied", at, account, ticket_id, requester, author="customer"
            )
            at += delay(rng, agent_median, 0.8)
            self._ticket_event("ticket_replied", at, account, ticket_id, author="agent")
        if rng.random() < catalog.TICKET_UNRESOLVED:
            self._close_stale(at, account, ticket_id)
            return
        at += delay(rng, 30 * MINUTE_MS, 1.0)
        self._ticket_event("ticket_resolved", at, account, ticket_id)
        if rng.random() < catalog.CSAT_AFTER_RESOLUTION:
            self.survey(at + delay(rng, 2 * HOUR_MS), account, requester, "csat")
        if rng.random() < catalog.TICKET_RATED:
            rating = 1 + choose(rng, tuple(enumerate(catalog.RATING_WEIGHTS)))
            self._ticket_event(
                "ticket_rated", at + delay(rng, 3 * HOUR_MS), account, ticket_id, rating=rating
            )
        if rng.random() < catalog.TICKET_REOPENED:
            at += delay(rng, 24 * HOUR_MS, 1.0)
            self._ticket_event("ticket_reopened", at, account, ticket_id, requester)
            at += delay(rng, agent_median, 0.8)
            self._ticket_event("ticket_replied", at, account, ticket_id, author="agent")
            at += delay(rng, 45 * MINUTE_MS, 1.0)
            self._ticket_event("ticket_resolved", at, account, ticket_id)

    def _close_stale(self, at: int, account: Account, ticket_id: str) -> None:
        if self.stale_close_median_ms is not None:
            at += delay(self.rng, self.stale_close_median_ms, 0.5)
            self._ticket_event("ticket_resolved", at, account, ticket_id)

    def survey(self, at: int, account: Account, user_id: str | None, survey: str) -> None:
        rng = self.rng
        lowest, weights = SURVEY_SCALES[survey]
        score = lowest + choose(rng, tuple(enumerate(weights)))
        if account.health < 0.5 and rng.random() < 0.5:  # unhappy accounts answer lower
            score = max(lowest, score - rng.randint(1, 1 + len(weights) // 3))
        event = {
            "event_id": None,
            "type": "survey_response",
            "occurred_at": None,
            "account_id": account.account_id,
        }
        if user_id is not None and rng.random() >= catalog.SURVEY_ANONYMOUS_SHARE:
            event["user_id"] = user_id
        event["survey"] = survey
        event["score"] = score
        if rng.random() < catalog.SURVEY_COMMENT_SHARE:
            event["comment"] = rng.choice(catalog.COMMENTS)
        self.timeline.emit(at, event)
