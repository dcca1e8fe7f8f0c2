"""CRM facts of one account: name, segment, owner, renewal date, seats purchased.

Definition: at T the account's facts are those of its latest `account_updated` with
occurred_at <= T (ties: the larger event_id); before the first one they are unknown
(None). Each event is the full record: an absent optional field is unknown at T, not
"as before". The state is the records in (occurred_at, event_id) order; `prune` keeps
those a snapshot at or after a floor can need (the records after it, and the latest one
at or before it), so the answer never depends on arrival order or on pruning.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import NamedTuple

from streams.contract.model import AccountUpdated


class Facts(NamedTuple):
    occurred_at: int
    event_id: str
    name: str
    segment: str
    owner: str
    renewal_at: int | None
    seats_purchased: int | None


def record(history: list[Facts], event: AccountUpdated) -> None:
    facts = Facts(
        event.occurred_at,
        event.event_id,
        event.name,
        event.segment,
        event.owner,
        event.renewal_at,
        event.seats_purchased,
    )
    if facts not in history:
        insort(history, facts)


def facts_at(history: list[Facts], as_of: int) -> Facts | None:
    index = bisect_right(history, as_of, key=lambda facts: facts.occurred_at)
    return history[index - 1] if index else None


def prune(history: list[Facts], floor: int) -> None:
    """Keep what any T >= floor needs: the records after floor and the latest at or before it."""
    index = bisect_right(history, floor, key=lambda facts: facts.occurred_at)
    if index > 1:
        del history[: index - 1]
