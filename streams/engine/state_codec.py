"""The engine state's byte formats: one home for how an account's metric state is stored.

The worker keeps every account's engine state in a changelogged table and `pulse replay
--jobs` hands states between processes; both store what this module writes and restore
it with the functions below. Nothing else in the engine knows the stored shape.

Formats (compact JSON, positional lists where a record has a fixed shape):

- account, `ENGINE_STATE_FORMAT` (1): `{"v", "t" stream time, "c" [activity, ticket,
  billing clocks], "m" lifecycle milestones, "s" survey responses (both tagged-time
  arrays, engine.timeline), "r" revenue (below, as a string) or null, "j" journey,
  "f" CRM facts, "u" user_id -> user, "k" ticket_id -> ticket}`. The worker stores the
  header (everything but "u" and "k") and each user and ticket as parts of their own
  (`header_obj`, `user_obj`, `ticket_obj`; streams/worker/state_parts.py).
- user: `[seen, logins, trail, trail_head, {feature: times}, login_seen(, {session_id:
  trail})]`; the last only for users with tagged sessions, so earlier rows keep their form.
- ticket: `[opened_at, priority, first_agent_reply, first_resolved, changes]`.
- journey: `[signup, started, completed, first_active, {step: time}, {feature: time},
  first_seen, first_counted]` (rows without first_counted read it as first_active); CRM facts: one list per `crm.Facts` record.
- revenue, `REVENUE_STATE_FORMAT` (1): `[version, floor, [[paid, last_churn] per mode],
  {sub_id: [[set records], [cancel records]]}, [payments]]`, Decimals as strings; the
  same state always gives the same bytes.

Rows written before a field existed are still read (each default is noted where it is
applied). A state of another format version is refused with ValueError.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

import orjson

from streams.engine import activity, adoption, crm, sessions, support
from streams.engine.account import AccountState
from streams.engine.journey import Journey
from streams.engine.revenue.account import AccountRevenue, _Subscription
from streams.engine.revenue.money import Terms
from streams.engine.revenue.movements import History
from streams.engine.revenue.revenue_config import MODES
from streams.engine.users import User

ENGINE_STATE_FORMAT = 1
"""The version of an account's engine state ("v")."""
REVENUE_STATE_FORMAT = 1
"""The version of an account's revenue state (its first element)."""


# --------------------------------------------------------------------------- account


def account_to_bytes(state: AccountState) -> bytes:
    """The whole account as one value (replay's hand-over, rows of the one-row format)."""
    return orjson.dumps(
        {
            **header_obj(state),
            "u": {user_id: user_obj(user) for user_id, user in state.users.items()},
            "k": {ticket_id: ticket_obj(ticket) for ticket_id, ticket in state.tickets.items()},
        }
    )


def account_from_bytes(data: bytes) -> AccountState:
    """Restore what `account_to_bytes` wrote; ValueError for another format."""
    obj: dict[str, Any] = orjson.loads(data)
    _check_version(obj)
    return account_from_header(
        obj,
        {user_id: user_from_obj(user) for user_id, user in obj["u"].items()},
        {ticket_id: ticket_from_obj(ticket) for ticket_id, ticket in obj["k"].items()},
    )


def header_obj(state: AccountState) -> dict[str, Any]:
    """Everything but the users and the tickets, which grow with the account: the worker
    stores those apart, one changelog row each (streams/worker/state_parts.py)."""
    return {
        "v": ENGINE_STATE_FORMAT,
        "t": state.stream_time,
        "c": [state.activity_time, state.ticket_time, state.billing_time],
        "m": state.milestones.tolist(),
        "s": state.responses.tolist(),
        "r": None if state.revenue is None else revenue_to_bytes(state.revenue).decode(),
        "j": journey_obj(state.journey),
        "f": [list(facts) for facts in state.facts],
    }


def account_from_header(
    obj: dict[str, Any], users: dict[str, User], tickets: dict[str, support.Ticket]
) -> AccountState:
    """The state of `header_obj()` with its users and tickets."""
    _check_version(obj)
    state = AccountState()
    state.stream_time = obj["t"]
    # rows written before the family clocks existed: every clock was the stream time
    state.activity_time, state.ticket_time, state.billing_time = obj.get("c") or [obj["t"]] * 3
    state.users = users
    state.milestones.fromlist(obj["m"])
    state.responses.fromlist(obj["s"])
    state.tickets = tickets
    state.revenue = None if obj["r"] is None else revenue_from_bytes(obj["r"].encode())
    if "j" in obj:  # rows written before the account layer have neither
        state.journey = journey_from_obj(obj["j"])
        state.facts = [crm.Facts(*row) for row in obj["f"]]
    return state


def _check_version(obj: dict[str, Any]) -> None:
    if obj.get("v") != ENGINE_STATE_FORMAT:
        raise ValueError(f"account state format {obj.get('v')!r} is not {ENGINE_STATE_FORMAT}")


# --------------------------------------------------------------------------- users, tickets


def user_version(user: User) -> object:
    """A token of the user's state as it is now, the same object until the user changes
    (`User.version`): an account is written after every batch that touches it, which
    mostly leaves most of its users as they were, and a user whose token is the one last
    written need not be encoded again. A token, not the encoding itself: keeping every
    user's JSON cost about as much memory again as the user's state."""
    if user.version is None:
        user.version = object()
    return user.version


def user_obj(user: User) -> list[Any]:
    obj: list[Any] = [
        activity.seen_of(user).tolist(),
        activity.logins_of(user).tolist(),
        user.trail.tolist(),
        user.trail_head,
        {name: times.tolist() for name, times in adoption.features_of(user)},
        activity.login_seen_of(user).tolist(),
    ]
    if user.tagged:  # rows of users without session ids keep their earlier form
        obj.append(sessions.tagged_trails(user))
    return obj


def user_from_obj(obj: list[Any]) -> User:
    user = User()
    seen, logins, trail, user.trail_head, features = obj[:5]
    # rows written before `login_seen` existed: their login times are all there is
    activity.set_activity(user, seen, logins, obj[5] if len(obj) > 5 else logins)
    user.trail.fromlist(trail)
    adoption.set_features(user, features.items())
    if len(obj) > 6:
        sessions.set_tagged_trails(user, obj[6])
    return user


def ticket_obj(ticket: support.Ticket) -> list[Any]:
    return [
        ticket.opened_at,
        ticket.priority,
        ticket.first_agent_reply,
        ticket.first_resolved,
        ticket.changes.tolist(),
    ]


def ticket_from_obj(obj: list[Any]) -> support.Ticket:
    ticket = support.Ticket()
    (
        ticket.opened_at,
        ticket.priority,
        ticket.first_agent_reply,
        ticket.first_resolved,
        changes,
    ) = obj
    ticket.changes.fromlist(changes)
    return ticket


def journey_obj(journey: Journey) -> list[Any]:
    return [
        journey.signup,
        journey.started,
        journey.completed,
        journey.first_active,
        journey.steps,
        journey.first_use,
        journey.first_seen,
        journey.first_counted,
    ]


def journey_from_obj(obj: list[Any]) -> Journey:
    journey = Journey()
    (
        journey.signup,
        journey.started,
        journey.completed,
        journey.first_active,
        steps,
        uses,
        journey.first_seen,
    ) = obj[:7]
    # rows written before first_counted was kept: their first login or feature use, the
    # answer those versions gave
    journey.first_counted = obj[7] if len(obj) > 7 else journey.first_active
    journey.steps = {sys.intern(name): time for name, time in steps.items()}
    journey.first_use = {sys.intern(name): time for name, time in uses.items()}
    return journey


# --------------------------------------------------------------------------- revenue


def revenue_to_bytes(revenue: AccountRevenue) -> bytes:
    """Compact JSON (positional arrays; Decimals as strings), versioned; the same state
    always gives the same bytes."""
    subs = {
        sub_id: [
            [
                [
                    o,
                    r,
                    e,
                    t.plan,
                    str(t.amount),
                    t.currency,
                    t.interval,
                    t.interval_count,
                    t.quantity,
                    str(t.discount_percent),
                    t.trial_ends_at,
                ]
                for o, r, e, t in sub.sets
            ],
            [list(cancel) for cancel in sub.cancels],
        ]
        for sub_id, sub in sorted(revenue._subs.items())
    }
    payments = [[o, r, str(a), c] for o, r, a, c in revenue._payments]
    history = [[h.paid, h.last_churn] for h in revenue._history]
    state = [REVENUE_STATE_FORMAT, revenue._floor, history, subs, payments]
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()


def revenue_from_bytes(b: bytes) -> AccountRevenue:
    """Restore what `revenue_to_bytes` wrote; ValueError if `b` is not such a state."""
    try:
        version, floor, history, subs, payments = json.loads(b)
        if version != REVENUE_STATE_FORMAT:
            raise ValueError(f"unsupported AccountRevenue format {version}")
        account = AccountRevenue()
        account._floor = floor
        histories = [History(*entry) for entry in history]
        if (
            len(histories) == 2
        ):  # written before the when-known mode: it starts from the rewrite one
            histories.append(histories[0])
        if len(histories) != len(MODES):
            raise ValueError(f"not an AccountRevenue state: {len(histories)} histories")
        account._history = tuple(histories)
        for sub_id, (sets, cancels) in subs.items():
            sub = _Subscription()
            sub.sets = [
                (
                    o,
                    r,
                    e,
                    Terms(
                        sys.intern(p),
                        Decimal(a),
                        sys.intern(c),
                        sys.intern(i),
                        n,
                        q,
                        Decimal(d),
                        trial,
                        o,
                    ),
                )
                for o, r, e, p, a, c, i, n, q, d, trial in sets
            ]
            sub.cancels = [(o, e, eff) for o, e, eff in cancels]
            account._subs[sub_id] = sub
            for record in sub.sets:
                account._max_occurred = max(account._max_occurred, record[0])
            for cancel in sub.cancels:
                account._max_occurred = max(account._max_occurred, cancel[0])
        account._payments = [(o, r, Decimal(a), sys.intern(c)) for o, r, a, c in payments]
        account._payment_times = [record[0] for record in account._payments]
    except (TypeError, KeyError, IndexError, ArithmeticError, AttributeError) as error:
        raise ValueError(f"not an AccountRevenue state: {error}") from error
    return account
