"""Support tickets: backlog, reopen, volume, first response and resolution times."""

from __future__ import annotations

from streams.engine.engine import Engine
from tests.engine_events import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    T0,
    opened,
    reopened,
    replied,
    resolved,
    value,
)

T = T0 + 20 * DAY_MS


def snapshot_of(*events, as_of: int = T):
    engine = Engine()
    for event in events:
        engine.apply(event)
    return engine.snapshot(as_of)


def open_tickets(samples) -> float:
    return sum(s.value for s in samples if s.name == "pulse_tickets_open")


def test_open_follows_the_latest_state_change():
    start = T - 3 * DAY_MS
    assert open_tickets(snapshot_of(opened(start))) == 1
    assert open_tickets(snapshot_of(opened(start), resolved(start + HOUR_MS))) == 0
    assert (
        open_tickets(
            snapshot_of(opened(start), resolved(start + HOUR_MS), reopened(start + 2 * HOUR_MS))
        )
        == 1
    )
    # arrival order does not matter
    assert (
        open_tickets(
            snapshot_of(reopened(start + 2 * HOUR_MS), resolved(start + HOUR_MS), opened(start))
        )
        == 1
    )


def test_open_at_a_past_time_uses_the_state_then():
    start = T - 3 * DAY_MS
    events = (opened(start), resolved(start + HOUR_MS), reopened(start + 2 * HOUR_MS))
    assert open_tickets(snapshot_of(*events, as_of=start + HOUR_MS - 1)) == 1
    assert open_tickets(snapshot_of(*events, as_of=start + HOUR_MS)) == 0
    assert open_tickets(snapshot_of(*events, as_of=start - 1)) == 0


def test_simultaneous_resolve_and_reopen_leave_the_ticket_open():
    start = T - DAY_MS
    assert (
        open_tickets(
            snapshot_of(opened(start), reopened(start + HOUR_MS), resolved(start + HOUR_MS))
        )
        == 1
    )


def test_open_backlog_is_split_by_priority_at_opening():
    samples = snapshot_of(
        opened(T - DAY_MS, ticket="a", priority="urgent"),
        opened(T - DAY_MS, ticket="b"),
        opened(T - DAY_MS, ticket="c", priority="urgent"),
        resolved(T - 1, ticket="c"),
    )
    assert value(samples, "pulse_tickets_open", priority="urgent") == 1
    assert value(samples, "pulse_tickets_open", priority="none") == 1
    assert value(samples, "pulse_tickets_open", priority="low") == 0


def test_tickets_opened_window_edges():
    samples = snapshot_of(
        opened(T, ticket="at_t"),
        opened(T - DAY_MS, ticket="edge_1d"),
        opened(T - 7 * DAY_MS + 1, ticket="in_7d"),
        opened(T - 7 * DAY_MS, ticket="edge_7d"),
        opened(T + 1, ticket="future"),
    )
    assert value(samples, "pulse_tickets_opened", window="1d") == 1
    assert value(samples, "pulse_tickets_opened", window="7d") == 3


def test_duplicate_opening_counts_the_ticket_once_from_its_earliest_time():
    samples = snapshot_of(
        opened(T - 2 * DAY_MS), opened(T - HOUR_MS), replied(T - 2 * DAY_MS + HOUR_MS)
    )
    assert value(samples, "pulse_tickets_opened", window="1d") == 0
    assert value(samples, "pulse_tickets_opened", window="7d") == 1
    assert value(samples, "pulse_ticket_first_response_duration_sum_seconds", window="7d") == 3600


def test_first_response_is_the_first_agent_reply_and_customers_do_not_count():
    start = T - 2 * DAY_MS
    samples = snapshot_of(
        opened(start),
        replied(start + 10 * MINUTE_MS, author="customer"),
        replied(start + HOUR_MS, author="agent"),
        replied(start + 2 * HOUR_MS, author="agent"),
    )
    assert value(samples, "pulse_ticket_first_responses", window="7d") == 1
    assert value(samples, "pulse_ticket_first_response_duration_sum_seconds", window="7d") == 3600


def test_customer_only_replies_give_no_first_response():
    samples = snapshot_of(opened(T - DAY_MS), replied(T - HOUR_MS, author="customer"))
    assert value(samples, "pulse_ticket_first_responses", window="7d") == 0


def test_first_response_counts_in_the_window_of_the_reply_not_of_the_opening():
    old_ticket = (opened(T - 30 * DAY_MS, ticket="old"), replied(T - DAY_MS, ticket="old"))
    answered_long_ago = (opened(T - 9 * DAY_MS, ticket="x"), replied(T - 7 * DAY_MS, ticket="x"))
    samples = snapshot_of(*old_ticket, *answered_long_ago)
    assert value(samples, "pulse_ticket_first_responses", window="7d") == 1
    assert (
        value(samples, "pulse_ticket_first_response_duration_sum_seconds", window="7d")
        == 29 * 24 * 3600
    )


def test_reply_and_resolution_before_the_opening_is_known_are_held_until_it_arrives():
    engine = Engine()
    start = T - DAY_MS
    engine.apply(replied(start + HOUR_MS))
    engine.apply(resolved(start + 3 * HOUR_MS))
    before = engine.snapshot(T)
    assert value(before, "pulse_ticket_first_responses", window="7d") == 0
    assert value(before, "pulse_ticket_resolutions", window="7d") == 0
    assert value(before, "pulse_tickets_resolved", window="7d") == 0
    engine.apply(opened(start))
    after = engine.snapshot(T)
    assert value(after, "pulse_ticket_first_response_duration_sum_seconds", window="7d") == 3600
    assert value(after, "pulse_ticket_resolution_duration_sum_seconds", window="7d") == 3 * 3600
    assert value(after, "pulse_tickets_resolved", window="7d") == 1
    assert open_tickets(after) == 0


def test_opening_after_the_evaluation_time_is_not_known():
    samples = snapshot_of(opened(T + 1), replied(T - 1), as_of=T)
    assert value(samples, "pulse_ticket_first_responses", window="7d") == 0
    assert open_tickets(samples) == 0


def test_resolution_time_uses_the_first_resolution_and_reopen_counts():
    start = T - 3 * DAY_MS
    samples = snapshot_of(
        opened(start),
        resolved(start + 2 * HOUR_MS),
        reopened(start + DAY_MS),
        resolved(start + 2 * DAY_MS),
    )
    assert value(samples, "pulse_ticket_resolutions", window="7d") == 1
    assert value(samples, "pulse_ticket_resolution_duration_sum_seconds", window="7d") == 2 * 3600
    assert value(samples, "pulse_tickets_resolved", window="7d") == 2
    assert value(samples, "pulse_tickets_reopened", window="7d") == 1


def test_reply_stamped_before_the_opening_counts_with_time_zero():
    samples = snapshot_of(opened(T - HOUR_MS), replied(T - 2 * HOUR_MS))
    assert value(samples, "pulse_ticket_first_responses", window="7d") == 1
    assert value(samples, "pulse_ticket_first_response_duration_sum_seconds", window="7d") == 0


def test_seed_vectors_for_average_first_response_and_resolution():
    # T-FRT: 0.5, 2, 1.5, 4 h -> mean 2.0 h; T-RES: 4, 26, 10, 8 h -> mean 12.0 h.
    events = []
    for index, (first_reply, resolution) in enumerate(
        zip((0.5, 2, 1.5, 4), (4, 26, 10, 8), strict=True)
    ):
        start = T - 3 * DAY_MS + index * HOUR_MS
        ticket = f"k{index}"
        events += [
            opened(start, ticket=ticket),
            replied(start + int(first_reply * HOUR_MS), ticket=ticket),
            resolved(start + resolution * HOUR_MS, ticket=ticket),
        ]
    samples = snapshot_of(*events)
    responses = value(samples, "pulse_ticket_first_responses", window="7d")
    assert (
        value(samples, "pulse_ticket_first_response_duration_sum_seconds", window="7d") / responses
        == 2.0 * 3600
    )
    resolutions = value(samples, "pulse_ticket_resolutions", window="7d")
    assert (
        value(samples, "pulse_ticket_resolution_duration_sum_seconds", window="7d") / resolutions
        == 12.0 * 3600
    )


def test_quiet_closed_tickets_are_forgotten_and_open_ones_kept():
    engine = Engine()
    engine.apply(opened(T0, ticket="closed"))
    engine.apply(resolved(T0 + HOUR_MS, ticket="closed"))
    engine.apply(opened(T0, ticket="backlog"))
    engine.apply(opened(T0 + 200 * DAY_MS, ticket="new"))
    engine.prune()
    assert set(engine.store.get("a1").tickets) == {"backlog", "new"}
    assert open_tickets(engine.snapshot(T0 + 200 * DAY_MS)) == 2
