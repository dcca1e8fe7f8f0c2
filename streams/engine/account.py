"""AccountState: everything the engine remembers about one account.

Kafka messages are keyed by account_id, so one account's events all reach one worker, in
one partition; the worker keeps one table row per account and writes it once per batch.
This class is that row. `apply` routes an event to the family that owns it; `prune`
ages out what no snapshot within the late horizon can need; `tally` adds the account's
share of every additive figure to the running totals of a snapshot.

Late events only ever insert into sorted state, so the state, and every snapshot, depend
on the set of applied events and not on their order (within the late policy).

Lateness has one judge: admission, per (account, topic) (streams/ingest/admission.py). The
engine applies every event admission lets through and never drops one for being old. It
ages state out by clocks of its own that follow the same lanes: user state (activity,
sessions, adoption) by `activity_time`, the latest activity event applied; tickets by
`ticket_time`, the latest ticket event; revenue by `billing_time`; the rest by
`stream_time`, the latest event of any kind (the account_updated records keep what a
snapshot 30 days before that floor needs; the journey's first times are never aged out,
see `journey`). So a topic that runs ahead (billing weeks
ahead of logins) never ages out the state of another: what admission still accepts on
the logins topic finds its users' history intact. (Logins and feature use are two
topics feeding the one activity clock: were one of them more than the activity horizon
behind the other, an event it delivers could land before what pruning kept, and would
then change only snapshots further back than the horizon.)

Byte form: streams/engine/state_codec.py (versioned, so a table row survives a restart and
is readable by later versions).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from typing import cast

from streams.contract.model import (
    AccountUpdated,
    Event,
    FeatureUsed,
    Login,
    Logout,
    OnboardingStepCompleted,
    SurveyResponse,
    TicketOpened,
    TicketRated,
    TicketReopened,
    TicketReplied,
    TicketResolved,
)
from streams.engine import activity, adoption, crm, lifecycle, sessions, support, surveys
from streams.engine.engine_config import EngineConfig
from streams.engine.journey import Journey
from streams.engine.revenue import AccountRevenue
from streams.engine.revenue import metrics as revenue_metrics
from streams.engine.timeline import DAY_MS, NO_TIME, tagged_time
from streams.engine.users import User

USER_ACTIVITY_TYPES = frozenset({"login", "feature_used", "logout"})
LIFECYCLE_TYPES = frozenset(lifecycle.KIND_OF_TYPE)
TICKET_CHANGE_TYPES = frozenset(support.RANK_OF_TYPE)
BILLING_TYPES = frozenset(
    {
        "subscription_started",
        "subscription_changed",
        "subscription_canceled",
        "payment_failed",
        "payment_succeeded",
    }
)
_TRAIL_HORIZON = sessions.WINDOW_MS
REVENUE_WINDOW_MS = revenue_metrics.LONGEST_WINDOW_MS  # the 365-day retention window
FACTS_LOOKBACK_MS = 30 * DAY_MS
"""The account record's trend reads the facts 30 days before T."""


class AccountState:
    __slots__ = (
        "activity_time",
        "billing_time",
        "facts",
        "journey",
        "milestones",
        "pruned_at",
        "responses",
        "revenue",
        "stream_time",
        "ticket_time",
        "tickets",
        "users",
    )

    def __init__(self) -> None:
        self.stream_time = NO_TIME  # latest occurred_at applied
        self.activity_time = NO_TIME  # latest login, feature_used or logout applied
        self.ticket_time = NO_TIME  # latest ticket_opened/replied/resolved/reopened applied
        self.billing_time = NO_TIME  # latest billing event applied
        self.pruned_at = NO_TIME  # stream_time at the last full prune (not stored)
        self.users: dict[str, User] = {}
        self.milestones: array[int] = array("q")  # lifecycle
        self.responses: array[int] = array("q")  # surveys and ticket ratings
        self.tickets: dict[str, support.Ticket] = {}
        self.revenue: AccountRevenue | None = None
        self.journey = Journey()  # first times: signup, steps, completion, feature uses
        self.facts: list[crm.Facts] = []  # account_updated records

    # ------------------------------------------------------------------ applying events

    def apply(self, event: Event, config: EngineConfig) -> None:
        """Advance the clocks, then hand the event to its family (`_HANDLERS`, by type)."""
        time = event.occurred_at
        if time > self.stream_time:
            self.stream_time = time
        self.journey.record_event(time)
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event, time, config)

    def _apply_user_activity(self, event: Event, time: int, config: EngineConfig) -> None:
        if time > self.activity_time:
            self.activity_time = time
        self._apply_activity(event, time, config)

    def _apply_billing(self, event: Event, time: int, config: EngineConfig) -> None:
        if time > self.billing_time:
            self.billing_time = time
        if self.revenue is None:
            self.revenue = AccountRevenue()
        self.revenue.apply(event)
        if event.type == "subscription_started":
            self.journey.record_subscription_start(time)

    def _apply_ticket_change(self, event: Event, time: int, config: EngineConfig) -> None:
        change = cast(TicketOpened | TicketResolved | TicketReopened, event)
        priority = change.priority if isinstance(change, TicketOpened) else None
        support.record_change(
            self._ticket(change.ticket_id, time, config), event.type, time, priority
        )

    def _apply_ticket_reply(self, event: Event, time: int, config: EngineConfig) -> None:
        reply = cast(TicketReplied, event)
        support.record_reply(self._ticket(reply.ticket_id, time, config), time, reply.author)

    def _apply_ticket_rating(self, event: Event, time: int, config: EngineConfig) -> None:
        rating = cast(TicketRated, event)
        self._record_response(time, surveys.TICKET_RATING, rating.rating, config)

    def _apply_survey_response(self, event: Event, time: int, config: EngineConfig) -> None:
        response = cast(SurveyResponse, event)
        source = surveys.SOURCE_OF_SURVEY.get(response.survey)
        if source is not None:
            score = response.score
            if response.survey == "ces":
                score = surveys.ces_points(score, response.scale, config)
            self._record_response(time, source, score, config)

    def _apply_lifecycle(self, event: Event, time: int, config: EngineConfig) -> None:
        event_type = event.type
        journey = self.journey
        if event_type == "signup":
            journey.record_signup(time)
        elif event_type == "onboarding_completed":
            journey.record_completed(time)
        else:
            journey.record_step(cast(OnboardingStepCompleted, event).step, time)
        lifecycle.record(self.milestones, time, event_type)
        if (
            tagged_time(self.milestones[0])
            <= self.stream_time - config.activity_lag_ms - lifecycle.WINDOW_MS
        ):
            lifecycle.prune(self.milestones, self.stream_time, config)

    def _apply_account_update(self, event: Event, time: int, config: EngineConfig) -> None:
        crm.record(self.facts, cast(AccountUpdated, event))

    def _apply_activity(self, event: Event, time: int, config: EngineConfig) -> None:
        user_id = event.user_id
        if user_id is None:
            return
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = User()
        user.version = None
        event_type = event.type
        if event_type == "logout":
            sessions.record(user, time, True, cast(Logout, event).session_id)
        elif event_type == "login":
            sessions.record(user, time, False, cast(Login, event).session_id)
            counted = config.counts_as_activity(event_type, None)
            if counted:
                activity.record_activity(user, time)
            activity.record_login(user, time)
            self.journey.record_activity(time, None, counted)
        else:
            sessions.record(user, time, False)
            feature = cast(FeatureUsed, event).feature
            counted = config.counts_as_activity(event_type, feature)
            if counted:
                activity.record_activity(user, time)
            adoption.record(user, feature, time)
            self.journey.record_activity(time, feature, counted)
        # Age the touched user out cheaply: only when its oldest session entry is due.
        if sessions.oldest(user) <= self.activity_time - config.activity_lag_ms - _TRAIL_HORIZON:
            _prune_user(user, self.activity_time, config)

    def _ticket(self, ticket_id: str, time: int, config: EngineConfig) -> support.Ticket:
        if time > self.ticket_time:
            self.ticket_time = time
        ticket = self.tickets.get(ticket_id)
        if ticket is not None and support.forgotten_by(ticket, time, config):
            # what `prune` forgets, an event forgets too: the result does not depend on
            # whether a prune ran between the ticket's last event and this one
            ticket = None
        if ticket is None:
            ticket = self.tickets[ticket_id] = support.Ticket()
        return ticket

    def _record_response(self, time: int, source: int, score: int, config: EngineConfig) -> None:
        surveys.record(self.responses, time, source, score)
        if (
            surveys.response_time(self.responses[0])
            <= self.stream_time - config.survey_lag_ms - surveys.WINDOW_MS
        ):
            surveys.prune(self.responses, self.stream_time, config)

    # ------------------------------------------------------------------ aging

    def prune(self, config: EngineConfig) -> None:
        """Forget everything no snapshot at or after a clock - late horizon can need (each
        family by its own clock, see the module header)."""
        now = self.stream_time
        self.pruned_at = now
        emptied = []
        for user_id, user in self.users.items():
            _prune_user(user, self.activity_time, config)
            if user.is_empty():
                emptied.append(user_id)
        for user_id in emptied:
            del self.users[user_id]
        lifecycle.prune(self.milestones, now, config)
        surveys.prune(self.responses, now, config)
        support.prune(self.tickets, self.ticket_time, config)
        crm.prune(self.facts, now - config.activity_lag_ms - FACTS_LOOKBACK_MS)
        if self.revenue is not None:
            # revenue answers stay exact for T >= the argument + 365 days (its longest window);
            # the floor moves in whole days, so compaction runs about once a day per account
            before = self.billing_time - config.activity_lag_ms - REVENUE_WINDOW_MS
            self.revenue.prune(before - before % DAY_MS)

    def prune_due(self, step_ms: int = DAY_MS) -> bool:
        """Has stream time moved at least `step_ms` since the last prune? Pruning more
        often changes nothing a snapshot within the horizon sees; it only costs time."""
        return self.pruned_at == NO_TIME or self.stream_time - self.pruned_at >= step_ms

    def is_empty(self) -> bool:
        return not (
            self.users
            or self.milestones
            or self.responses
            or self.tickets
            or self.revenue is not None
            or self.facts
            or not self.journey.is_empty()
        )

    # The byte form of this state: streams/engine/state_codec.py.


def _prune_user(user: User, stream_time: int, config: EngineConfig) -> None:
    user.version = None
    activity.prune(user, stream_time, config)
    sessions.prune(user, stream_time, config)
    adoption.prune(user, stream_time, config)


Handler = Callable[[AccountState, Event, int, EngineConfig], None]


def _handler_table(*families: tuple[Iterable[str], Handler]) -> dict[str, Handler]:
    """Event type -> the family's handler; a type named by two families is a bug."""
    table: dict[str, Handler] = {}
    for types, handler in families:
        for event_type in types:
            if event_type in table:
                raise RuntimeError(f"event type {event_type} has two handlers")
            table[event_type] = handler
    return table


_HANDLERS = _handler_table(
    (USER_ACTIVITY_TYPES, AccountState._apply_user_activity),
    (BILLING_TYPES, AccountState._apply_billing),
    (TICKET_CHANGE_TYPES, AccountState._apply_ticket_change),
    (("ticket_replied",), AccountState._apply_ticket_reply),
    (("ticket_rated",), AccountState._apply_ticket_rating),
    (("survey_response",), AccountState._apply_survey_response),
    (LIFECYCLE_TYPES, AccountState._apply_lifecycle),
    (("account_updated",), AccountState._apply_account_update),
)
