"""AccountState: everything the engine remembers about one account, and its byte form.

Kafka messages are keyed by account_id, so one account's events all reach one worker, in
one partition; the worker keeps one table row per account and writes it once per batch.
This class is that row. `apply` routes an event to the family that owns it; `prune`
ages out what no snapshot within the late horizon can need; `tally` adds the account's
share of every additive figure to the running totals of a snapshot.

Late events only ever insert into sorted state, so the state, and every snapshot, depend
on the set of applied events and not on their order (within the late policy).

Byte form: orjson of plain lists and dicts, versioned (`"v"`), so a table row survives a
restart and is readable by later versions.
"""

from __future__ import annotations

from array import array
from typing import Any, cast

import orjson

from streams.engine import activity, adoption, lifecycle, sessions, support, surveys
from streams.engine.config import EngineConfig
from streams.engine.revenue import AccountRevenue
from streams.engine.timeline import DAY_MS, NO_TIME
from streams.engine.users import User
from streams.model import (
    Event,
    FeatureUsed,
    SurveyResponse,
    TicketOpened,
    TicketRated,
    TicketReopened,
    TicketReplied,
    TicketResolved,
)

FORMAT_VERSION = 1
ACTIVITY_TYPES = frozenset({"login", "feature_used", "logout"})
LIFECYCLE_TYPES = frozenset(lifecycle.KIND_OF_TYPE)
TICKET_CHANGE_TYPES = frozenset(support.RANK_OF_TYPE)
BILLING_TYPES = frozenset(
    {"subscription_started", "subscription_changed", "subscription_canceled", "payment_failed", "payment_succeeded"}
)
_TRAIL_HORIZON = sessions.WINDOW_MS
REVENUE_WINDOW_MS = 30 * DAY_MS


class AccountState:
    __slots__ = ("milestones", "responses", "revenue", "stream_time", "tickets", "users")

    def __init__(self) -> None:
        self.stream_time = NO_TIME  # latest occurred_at applied
        self.users: dict[str, User] = {}
        self.milestones: array[int] = array("q")  # lifecycle
        self.responses: array[int] = array("q")  # surveys and ticket ratings
        self.tickets: dict[str, support.Ticket] = {}
        self.revenue: AccountRevenue | None = None

    # ------------------------------------------------------------------ applying events

    def apply(self, event: Event, config: EngineConfig) -> None:
        time = event.occurred_at
        if time > self.stream_time:
            self.stream_time = time
        event_type = event.type
        if event_type in ACTIVITY_TYPES:
            self._apply_activity(event, time, config)
        elif event_type in BILLING_TYPES:
            if self.revenue is None:
                self.revenue = AccountRevenue()
            self.revenue.apply(event)
        elif event_type in TICKET_CHANGE_TYPES:
            change = cast(TicketOpened | TicketResolved | TicketReopened, event)
            priority = change.priority if isinstance(change, TicketOpened) else None
            support.record_change(self._ticket(change.ticket_id), event_type, time, priority)
        elif event_type == "ticket_replied":
            reply = cast(TicketReplied, event)
            support.record_reply(self._ticket(reply.ticket_id), time, reply.author)
        elif event_type == "ticket_rated":
            rating = cast(TicketRated, event)
            self._record_response(time, surveys.TICKET_RATING, rating.rating, config)
        elif event_type == "survey_response":
            response = cast(SurveyResponse, event)
            source = surveys.SOURCE_OF_SURVEY.get(response.survey)
            if source is not None:
                self._record_response(time, source, response.score, config)
        elif event_type in LIFECYCLE_TYPES:
            lifecycle.record(self.milestones, time, event_type)
            if self.milestones[0] >> 2 <= self.stream_time - config.activity_lag_ms - lifecycle.WINDOW_MS:
                lifecycle.prune(self.milestones, self.stream_time, config)

    def _apply_activity(self, event: Event, time: int, config: EngineConfig) -> None:
        user_id = event.user_id
        if user_id is None or time < self.stream_time - config.activity_lag_ms:
            # Older than the late horizon: admission rejects it as too_late before it gets
            # here; the engine ignores it too, since pruning may have passed that time.
            return
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = User()
        user.encoded = None
        event_type = event.type
        if event_type == "logout":
            sessions.record(user, time, True)
        else:
            activity.record_activity(user, time)
            sessions.record(user, time, False)
            if event_type == "login":
                activity.record_login(user, time)
            else:
                adoption.record(user, cast(FeatureUsed, event).feature, time)
        # Age the touched user out cheaply: only when its oldest trail entry is due.
        if user.trail[0] >> 1 <= self.stream_time - config.activity_lag_ms - _TRAIL_HORIZON:
            _prune_user(user, self.stream_time, config)

    def _ticket(self, ticket_id: str) -> support.Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            ticket = self.tickets[ticket_id] = support.Ticket()
        return ticket

    def _record_response(self, time: int, source: int, score: int, config: EngineConfig) -> None:
        surveys.record(self.responses, time, source, score)
        if self.responses[0] // 1024 <= self.stream_time - config.survey_lag_ms - surveys.WINDOW_MS:
            surveys.prune(self.responses, self.stream_time, config)

    # ------------------------------------------------------------------ aging

    def prune(self, config: EngineConfig) -> None:
        """Forget everything no snapshot at or after stream_time - late horizon can need."""
        now = self.stream_time
        emptied = []
        for user_id, user in self.users.items():
            _prune_user(user, now, config)
            if user.is_empty():
                emptied.append(user_id)
        for user_id in emptied:
            del self.users[user_id]
        lifecycle.prune(self.milestones, now, config)
        surveys.prune(self.responses, now, config)
        support.prune(self.tickets, now, config)
        if self.revenue is not None:
            # revenue answers stay exact for T >= the argument + 30 days (its longest window)
            self.revenue.prune(now - config.activity_lag_ms - REVENUE_WINDOW_MS)

    def is_empty(self) -> bool:
        return not (self.users or self.milestones or self.responses or self.tickets or self.revenue is not None)

    # ------------------------------------------------------------------ byte form

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "v": FORMAT_VERSION,
                "t": self.stream_time,
                "u": {user_id: user.fragment() for user_id, user in self.users.items()},
                "m": self.milestones.tolist(),
                "s": self.responses.tolist(),
                "k": {ticket_id: ticket.to_obj() for ticket_id, ticket in self.tickets.items()},
                "r": None if self.revenue is None else self.revenue.to_bytes().decode(),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> AccountState:
        obj: dict[str, Any] = orjson.loads(data)
        if obj.get("v") != FORMAT_VERSION:
            raise ValueError(f"account state format {obj.get('v')!r} is not {FORMAT_VERSION}")
        state = cls()
        state.stream_time = obj["t"]
        state.users = {user_id: User.from_obj(user) for user_id, user in obj["u"].items()}
        state.milestones.fromlist(obj["m"])
        state.responses.fromlist(obj["s"])
        state.tickets = {ticket_id: support.Ticket.from_obj(t) for ticket_id, t in obj["k"].items()}
        state.revenue = None if obj["r"] is None else AccountRevenue.from_bytes(obj["r"].encode())
        return state


def _prune_user(user: User, stream_time: int, config: EngineConfig) -> None:
    user.encoded = None
    activity.prune(user, stream_time, config)
    sessions.prune(user, stream_time, config)
    adoption.prune(user, stream_time, config)
