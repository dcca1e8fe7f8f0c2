"""The engine state's byte formats live in one module (engine/state_codec.py): every stored
shape round-trips through it, other versions are refused, and the state classes carry no
byte form of their own."""

from __future__ import annotations

import orjson
import pytest

from streams.engine import crm, state_codec, support
from streams.engine.account import AccountState
from streams.engine.engine import Engine
from streams.engine.journey import Journey
from streams.engine.revenue.account import AccountRevenue
from streams.engine.users import User
from tests.engine_events import synthetic_events


def test_every_account_round_trips_through_the_codec() -> None:
    engine = Engine()
    for event in synthetic_events(seed=5, days=20):
        engine.apply(event)
    assert engine.store
    for state in engine.store.values():
        data = state_codec.account_to_bytes(state)
        assert state_codec.account_to_bytes(state_codec.account_from_bytes(data)) == data
        header = state_codec.header_obj(state)
        rebuilt = state_codec.account_from_header(
            orjson.loads(orjson.dumps(header)),
            {
                user_id: state_codec.user_from_obj(
                    orjson.loads(orjson.dumps(state_codec.user_obj(u)))
                )
                for user_id, u in state.users.items()
            },
            {
                ticket_id: state_codec.ticket_from_obj(state_codec.ticket_obj(t))
                for ticket_id, t in state.tickets.items()
            },
        )
        assert state_codec.account_to_bytes(rebuilt) == data


def test_another_format_version_is_refused() -> None:
    data = orjson.loads(state_codec.account_to_bytes(AccountState()))
    assert data["v"] == state_codec.ENGINE_STATE_FORMAT
    data["v"] = state_codec.ENGINE_STATE_FORMAT + 1
    with pytest.raises(ValueError, match="account state format"):
        state_codec.account_from_bytes(orjson.dumps(data))
    revenue = orjson.loads(state_codec.revenue_to_bytes(AccountRevenue()))
    assert revenue[0] == state_codec.REVENUE_STATE_FORMAT
    revenue[0] += 1
    with pytest.raises(ValueError, match="format"):
        state_codec.revenue_from_bytes(orjson.dumps(revenue))


@pytest.mark.parametrize("cls", [AccountState, AccountRevenue, User, support.Ticket, Journey])
def test_the_state_classes_have_no_byte_form_of_their_own(cls: type) -> None:
    for name in ("to_bytes", "from_bytes", "to_obj", "from_obj", "header_obj", "from_header"):
        assert not hasattr(cls, name), f"{cls.__name__}.{name}: the format lives in state_codec"
    assert not hasattr(crm, "to_obj") and not hasattr(crm, "from_obj")


def test_a_journey_stored_before_first_counted_reads_it_as_its_first_activity() -> None:
    """Rows written before the journey kept the first counted activity (7 fields) read it
    as the first login or feature use, the answer those versions gave; new rows keep it."""
    journey = Journey()
    journey.record_activity(1_000, None, counted=False)
    journey.record_activity(2_000, "reports", counted=True)
    stored = state_codec.journey_obj(journey)
    assert state_codec.journey_from_obj(stored).first_counted == 2_000
    assert state_codec.journey_from_obj(stored[:7]).first_counted == 1_000
