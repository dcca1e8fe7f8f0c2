"""Support tickets: backlog, volume, first response and resolution times.

Definitions (T = evaluation time; windows (T - W, T]; a ticket is identified by
(account_id, ticket_id); only events at or before T count):
- A ticket is *known* at T once a `ticket_opened` event at or before T exists; its
  opening time is the earliest such event and its priority that event's priority
  (`none` when absent). Replies, resolutions and reopenings of a ticket whose opening is
  not known are held and counted once the opening arrives.
- Open at T: a known ticket whose latest state change at or before T is `ticket_opened`
  or `ticket_reopened` (not `ticket_resolved`). At equal times the order is opened,
  resolved, reopened. `pulse_tickets_open{priority}` (additive over priority).
- `pulse_tickets_opened{window="1d"|"7d"}`: known tickets opened in the window.
- `pulse_tickets_resolved{window="7d"}`, `pulse_tickets_reopened{window="7d"}`: the
  `ticket_resolved` / `ticket_reopened` events of known tickets in the window (a ticket
  resolved twice counts twice; their ratio is the reopen rate).
- First response time: first `ticket_replied` with author `agent` minus the opening
  (customer replies never count). Counted in the window containing that first agent
  reply: `pulse_ticket_first_responses{window="7d"}` and the sum of the times,
  `pulse_ticket_first_response_duration_sum_seconds{window="7d"}`.
- Resolution time: first `ticket_resolved` minus the opening, counted in the window of
  that first resolution: `pulse_ticket_resolutions{window="7d"}` and
  `pulse_ticket_resolution_duration_sum_seconds{window="7d"}`.
A reply or resolution stamped before the opening (clock skew) counts with time 0.

State per ticket: opening time and priority, first agent reply, first resolution, and the
sorted state changes `tagged(time, rank)` (engine.timeline) since the late horizon minus 7 days (plus the one
change before that which still gives the state). A ticket that is not open and has had
no event for `ticket_retention_days` is forgotten.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

from streams.engine.engine_config import EngineConfig
from streams.engine.samples import Sample
from streams.engine.timeline import (
    DAY_MS,
    NEVER,
    NO_TIME,
    SECOND_MS,
    TAGS,
    insert_sorted,
    last_tagged,
    tag_of,
    tagged,
    tagged_time,
    window_change,
)

OPENED, RESOLVED, REOPENED = 0, 1, 2
RANK_OF_TYPE = {"ticket_opened": OPENED, "ticket_resolved": RESOLVED, "ticket_reopened": REOPENED}
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent", "none")
OPENED_WINDOWS: tuple[tuple[str, int], ...] = (("1d", DAY_MS), ("7d", 7 * DAY_MS))
WINDOW_NAME = "7d"
WINDOW_MS = 7 * DAY_MS
HELP: dict[str, str] = {
    "pulse_tickets_open": "Tickets whose latest state at T is opened or reopened, by priority at opening.",
    "pulse_tickets_opened": "Tickets opened (first ticket_opened) in the window (T - W, T].",
    "pulse_tickets_resolved": "ticket_resolved events of known tickets in the window.",
    "pulse_tickets_reopened": "ticket_reopened events of known tickets in the window.",
    "pulse_ticket_first_responses": "Tickets whose first agent reply is in the window.",
    "pulse_ticket_first_response_duration_sum_seconds": "Sum of first agent reply - opening over the tickets first answered in the window.",
    "pulse_ticket_resolutions": "Tickets whose first resolution is in the window.",
    "pulse_ticket_resolution_duration_sum_seconds": "Sum of first resolution - opening over the tickets first resolved in the window.",
}


class Ticket:
    __slots__ = ("changes", "first_agent_reply", "first_resolved", "opened_at", "priority")

    def __init__(self) -> None:
        self.opened_at = NO_TIME
        self.priority = "none"
        self.first_agent_reply = NO_TIME
        self.first_resolved = NO_TIME
        self.changes: array[int] = array("q")

    def last_time(self) -> int:
        return max(
            tagged_time(self.changes[-1]) if self.changes else NO_TIME,
            self.first_agent_reply,
            self.first_resolved,
        )


def _earliest(current: int, time: int) -> int:
    return time if current == NO_TIME or time < current else current


def record_change(ticket: Ticket, event_type: str, time: int, priority: str | None = None) -> None:
    rank = RANK_OF_TYPE[event_type]
    insert_sorted(ticket.changes, tagged(time, rank))
    if rank == OPENED:
        label = priority if priority in PRIORITIES else "none"
        if ticket.opened_at == NO_TIME or time < ticket.opened_at:
            ticket.opened_at, ticket.priority = time, label
        elif time == ticket.opened_at:
            ticket.priority = min(ticket.priority, label)  # deterministic for simultaneous openings
    elif rank == RESOLVED:
        ticket.first_resolved = _earliest(ticket.first_resolved, time)


def record_reply(ticket: Ticket, time: int, author: str) -> None:
    if author == "agent":
        ticket.first_agent_reply = _earliest(ticket.first_agent_reply, time)


def forgotten_by(ticket: Ticket, time: int, config: EngineConfig) -> bool:
    """Is the ticket forgotten by `time`: not open, and no event for ticket_retention?"""
    is_open = (
        ticket.opened_at != NO_TIME and ticket.changes and tag_of(ticket.changes[-1]) != RESOLVED
    )
    return not is_open and ticket.last_time() <= time - config.ticket_retention_ms


def prune(tickets: dict[str, Ticket], stream_time: int, config: EngineConfig) -> None:
    """Trim each ticket's change history and forget long-quiet tickets that are not open.

    `stream_time` is the account's latest ticket event. A ticket event forgets a ticket
    by the same rule (`forgotten_by`, in AccountState), so whether a prune ran before a
    reopening or not, a ticket resolved longer than ticket_retention ago and reopened is
    a ticket whose opening is not known: it does not count as open."""
    cutoff = stream_time - config.activity_lag_ms - WINDOW_MS
    forgotten = []
    for ticket_id, ticket in tickets.items():
        changes = ticket.changes
        if len(changes) > 1 and tagged_time(changes[1]) <= cutoff:
            # keep the last change at or before the cutoff: it still gives the state
            del changes[: bisect_right(changes, last_tagged(cutoff)) - 1]
        if forgotten_by(ticket, stream_time, config):
            forgotten.append(ticket_id)
    for ticket_id in forgotten:
        del tickets[ticket_id]


@dataclass(slots=True)
class SupportTotals:
    open_by_priority: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))
    opened: list[int] = field(default_factory=lambda: [0] * len(OPENED_WINDOWS))
    resolved: int = 0
    reopened: int = 0
    first_responses: int = 0
    first_response_ms: int = 0
    resolutions: int = 0
    resolution_ms: int = 0


def tally(tickets: dict[str, Ticket], as_of: int, totals: SupportTotals) -> None:
    low = as_of - WINDOW_MS
    for ticket in tickets.values():
        opened_at = ticket.opened_at
        if opened_at == NO_TIME or opened_at > as_of:
            continue  # not known at T
        changes = ticket.changes
        end = bisect_right(changes, last_tagged(as_of))
        if tag_of(changes[end - 1]) != RESOLVED:
            totals.open_by_priority[ticket.priority] += 1
        for index, (_, width) in enumerate(OPENED_WINDOWS):
            if opened_at > as_of - width:
                totals.opened[index] += 1
        if end and tagged_time(changes[-1]) > low:
            for position in range(bisect_right(changes, last_tagged(low)), end):
                rank = tag_of(changes[position])
                if rank == RESOLVED:
                    totals.resolved += 1
                elif rank == REOPENED:
                    totals.reopened += 1
        reply = ticket.first_agent_reply
        if reply != NO_TIME and low < reply <= as_of:
            totals.first_responses += 1
            totals.first_response_ms += max(0, reply - opened_at)
        resolved = ticket.first_resolved
        if resolved != NO_TIME and low < resolved <= as_of:
            totals.resolutions += 1
            totals.resolution_ms += max(0, resolved - opened_at)


def next_change(tickets: dict[str, Ticket], as_of: int) -> int:
    """The earliest time after T at which `tally` can give other figures without a new
    event: a ticket becomes known, a state change comes into view or leaves the window
    (the open state follows the latest change), the opening leaves an opened window, the
    first agent reply or first resolution comes into view or leaves the window
    (timeline.NEVER: none)."""
    change = NEVER
    for ticket in tickets.values():
        opened_at = ticket.opened_at
        if opened_at == NO_TIME:
            continue
        if opened_at > as_of:
            change = min(change, opened_at)
            continue
        change = min(change, window_change(ticket.changes, as_of, WINDOW_MS, TAGS))
        for _, width in OPENED_WINDOWS:
            if opened_at + width > as_of:
                change = min(change, opened_at + width)
        for moment in (ticket.first_agent_reply, ticket.first_resolved):
            if moment == NO_TIME:
                continue
            if moment > as_of:
                change = min(change, moment)
            elif moment + WINDOW_MS > as_of:
                change = min(change, moment + WINDOW_MS)
    return change


def opened_in(tickets: dict[str, Ticket], as_of: int, width: int) -> int:
    """Known tickets opened in (T - width, T] (the account record's 30-day count; exact for
    widths up to the ticket retention minus the late horizon)."""
    return sum(
        1
        for ticket in tickets.values()
        if ticket.opened_at != NO_TIME and as_of - width < ticket.opened_at <= as_of
    )


def samples(totals: SupportTotals) -> list[Sample]:
    week = (("window", WINDOW_NAME),)
    out = [
        Sample("pulse_tickets_open", (("priority", p),), n)
        for p, n in totals.open_by_priority.items()
    ]
    out += [
        Sample("pulse_tickets_opened", (("window", name),), count)
        for (name, _), count in zip(OPENED_WINDOWS, totals.opened, strict=True)
    ]
    out += [
        Sample("pulse_tickets_resolved", week, totals.resolved),
        Sample("pulse_tickets_reopened", week, totals.reopened),
        Sample("pulse_ticket_first_responses", week, totals.first_responses),
        Sample(
            "pulse_ticket_first_response_duration_sum_seconds",
            week,
            totals.first_response_ms / SECOND_MS,
        ),
        Sample("pulse_ticket_resolutions", week, totals.resolutions),
        Sample(
            "pulse_ticket_resolution_duration_sum_seconds", week, totals.resolution_ms / SECOND_MS
        ),
    ]
    return out
