"""Admission policies: future, duplicate, late; per-account stream time; bounded memory;
the state's bytes form; the [policy] configuration."""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from streams.contract.decoding import Rejection
from streams.contract.model import (
    ACTIVITY_POLICY_TYPES,
    LONG_LIVED_TYPES,
    Event,
    Login,
    Payment,
    SurveyResponse,
    TicketResolved,
)
from streams.errors import ConfigError
from streams.ingest.admission import (
    ACCEPTED,
    DAY_MS,
    DUPLICATE,
    POLICY_KEYS,
    AccountAdmission,
    Admission,
    AdmissionVerdict,
    DictAdmissionState,
    LaneAdmission,
    PolicyConfig,
)
from streams.ingest.remembered_ids import GROUP_SIZE, RememberedIds, id_key

T0 = 1_772_356_500_000  # 2026-03-01T09:15:00Z
CONFIG = PolicyConfig()
_ids = iter(range(10**9))


def login(at: int, *, account: str = "acme", event_id: str | None = None) -> Login:
    return Login(event_id or f"login-{next(_ids)}", "login", at, account, "u-1")


def survey(at: int, *, account: str = "acme", event_id: str | None = None) -> SurveyResponse:
    return SurveyResponse(
        event_id or f"survey-{next(_ids)}",
        "survey_response",
        at,
        account,
        "u-1",
        survey="nps",
        score=9,
    )


def payment(at: int, *, account: str = "acme", event_id: str | None = None) -> Payment:
    return Payment(
        event_id or f"pay-{next(_ids)}",
        "payment_succeeded",
        at,
        account,
        None,
        subscription_id="s",
        currency="USD",
    )


def ticket(at: int, *, account: str = "acme", event_id: str | None = None) -> TicketResolved:
    return TicketResolved(
        event_id or f"tkt-{next(_ids)}", "ticket_resolved", at, account, None, ticket_id="T-1"
    )


def reason(verdict: AdmissionVerdict) -> str:
    assert isinstance(verdict, Rejection), verdict
    return verdict.reason


# --------------------------------------------------------------------------- future


def test_future_exactly_at_tolerance_is_accepted_one_ms_more_is_rejected() -> None:
    admission = Admission(CONFIG, clock=lambda: T0)
    assert admission.admit(login(T0 + CONFIG.future_tolerance_ms)) is ACCEPTED
    assert reason(admission.admit(login(T0 + CONFIG.future_tolerance_ms + 1))) == "future_timestamp"


def test_without_a_clock_nothing_is_in_the_future() -> None:
    assert Admission(CONFIG).admit(login(T0 + 1000 * 365 * DAY_MS)) is ACCEPTED


def test_clock_is_read_per_event() -> None:
    now = [T0]
    admission = Admission(CONFIG, clock=lambda: now[0])
    event = login(T0 + DAY_MS)
    assert reason(admission.admit(event)) == "future_timestamp"
    now[0] = T0 + DAY_MS
    assert admission.admit(event) is ACCEPTED


# --------------------------------------------------------------------------- late


@pytest.mark.parametrize(
    ("make", "horizon"), [(login, CONFIG.activity_horizon_ms), (survey, CONFIG.survey_horizon_ms)]
)
def test_exactly_at_the_horizon_is_accepted_one_ms_beyond_is_too_late(
    make: Any, horizon: int
) -> None:
    admission = Admission(CONFIG)
    assert admission.admit(make(T0)) is ACCEPTED
    assert admission.admit(make(T0 - horizon)) is ACCEPTED
    assert reason(admission.admit(make(T0 - horizon - 1))) == "too_late"


def test_horizons_are_35_and_95_days_by_default() -> None:
    assert (CONFIG.activity_horizon_ms, CONFIG.survey_horizon_ms) == (35 * DAY_MS, 95 * DAY_MS)


@pytest.mark.parametrize("make", [payment, ticket])
def test_billing_and_ticket_events_are_never_too_late(make: Any) -> None:
    admission = Admission(CONFIG)
    assert admission.admit(login(T0)) is ACCEPTED
    assert admission.admit(make(T0 - 3650 * DAY_MS)) is ACCEPTED


def test_every_type_has_a_late_rule() -> None:
    admission = Admission(CONFIG)
    for event_type, horizon in admission.late_horizon_ms.items():
        assert (horizon is None) == (event_type in LONG_LIVED_TYPES)
        if event_type in ACTIVITY_POLICY_TYPES:
            assert horizon == CONFIG.activity_horizon_ms


def test_stream_time_is_per_topic_so_topic_interleaving_does_not_matter() -> None:
    # A worker may read an account's billing topic far ahead of its logins topic; the
    # logins are judged against the logins already seen, exactly as in file order.
    admission = Admission(CONFIG)
    assert admission.admit(payment(T0)) is ACCEPTED
    assert admission.admit(login(T0 - 100 * DAY_MS)) is ACCEPTED
    assert admission.admit(survey(T0 - 100 * DAY_MS)) is ACCEPTED
    assert reason(admission.admit(login(T0 - 136 * DAY_MS))) == "too_late"
    assert admission.admit(login(T0 - 135 * DAY_MS)) is ACCEPTED


def test_stream_time_is_per_account() -> None:
    admission = Admission(CONFIG)
    assert admission.admit(login(T0, account="a")) is ACCEPTED
    assert admission.admit(login(T0 - 100 * DAY_MS, account="b")) is ACCEPTED
    assert reason(admission.admit(login(T0 - 100 * DAY_MS, account="a"))) == "too_late"


def test_out_of_order_within_the_horizon_is_accepted_and_does_not_move_stream_time_back() -> None:
    state = DictAdmissionState()
    admission = Admission(CONFIG, state)
    for at in (T0, T0 - 10 * DAY_MS, T0 - 3 * DAY_MS, T0 - 35 * DAY_MS):
        assert admission.admit(login(at)) is ACCEPTED
    assert state["acme"].lanes["pulse.logins"].stream_time == T0


def test_rejected_events_do_not_move_stream_time() -> None:
    admission = Admission(CONFIG, clock=lambda: T0)
    assert admission.admit(login(T0)) is ACCEPTED
    assert reason(admission.admit(login(T0 + 400 * DAY_MS))) == "future_timestamp"
    assert (
        admission.admit(login(T0 - 30 * DAY_MS)) is ACCEPTED
    )  # would be too_late had the future one counted
    assert reason(admission.admit(login(T0 - 40 * DAY_MS))) == "too_late"
    assert (
        admission.admit(login(T0 - 35 * DAY_MS)) is ACCEPTED
    )  # the too_late one did not count either


# --------------------------------------------------------------------------- duplicates


def test_duplicate_of_an_accepted_event() -> None:
    admission = Admission(CONFIG)
    event = login(T0, event_id="e-1")
    assert admission.admit(event) is ACCEPTED
    assert admission.admit(event) is DUPLICATE
    assert (
        admission.admit(msgspec.structs.replace(event, occurred_at=T0 + 1)) is DUPLICATE
    )  # same id: the id decides


def test_dedup_scope_is_the_account() -> None:
    admission = Admission(CONFIG)
    assert admission.admit(login(T0, account="a", event_id="e-1")) is ACCEPTED
    assert admission.admit(login(T0, account="b", event_id="e-1")) is ACCEPTED


def test_duplicate_after_a_rejection_is_not_a_duplicate() -> None:
    now = [T0]
    admission = Admission(CONFIG, clock=lambda: now[0])
    early = login(T0 + DAY_MS, event_id="e-1")
    assert reason(admission.admit(early)) == "future_timestamp"
    now[0] += DAY_MS
    assert admission.admit(early) is ACCEPTED
    assert admission.admit(early) is DUPLICATE
    late = login(T0 - 40 * DAY_MS, event_id="e-2")
    assert reason(admission.admit(late)) == "too_late"
    assert reason(admission.admit(late)) == "too_late"


def test_duplicates_do_not_move_stream_time() -> None:
    state = DictAdmissionState()
    admission = Admission(CONFIG, state)
    first = payment(T0, event_id="p-1")
    assert admission.admit(first) is ACCEPTED
    assert (
        admission.admit(msgspec.structs.replace(first, occurred_at=T0 + 100 * DAY_MS)) is DUPLICATE
    )
    assert state["acme"].lanes["pulse.billing"].stream_time == T0


def test_activity_id_is_forgotten_when_it_becomes_too_late() -> None:
    state = DictAdmissionState()
    admission = Admission(CONFIG, state)
    event = login(T0, event_id="e-1")
    assert admission.admit(event) is ACCEPTED
    assert admission.admit(login(T0 + CONFIG.activity_horizon_ms)) is ACCEPTED
    assert admission.admit(event) is DUPLICATE  # exactly at the horizon: still remembered
    assert admission.admit(login(T0 + CONFIG.activity_horizon_ms + 1)) is ACCEPTED
    assert not state["acme"].remembers("e-1")
    assert reason(admission.admit(event)) == "too_late"  # never applied twice


def test_long_lived_id_is_remembered_400_days_of_stream_time_after_acceptance() -> None:
    state = DictAdmissionState()
    admission = Admission(CONFIG, state)
    assert (
        admission.admit(payment(T0, event_id="p-0")) is ACCEPTED
    )  # the billing topic's stream time is T0
    old_invoice = payment(T0 - 3 * 365 * DAY_MS, event_id="inv-1")  # backfilled: accepted now
    assert admission.admit(old_invoice) is ACCEPTED
    assert admission.admit(payment(T0 + CONFIG.dedup_long_lived_ms)) is ACCEPTED
    assert admission.admit(old_invoice) is DUPLICATE
    assert admission.admit(payment(T0 + CONFIG.dedup_long_lived_ms + 1)) is ACCEPTED
    assert not state["acme"].remembers("inv-1")


@pytest.mark.parametrize(
    ("make", "keep"), [(login, 35 * DAY_MS), (survey, 95 * DAY_MS), (ticket, 400 * DAY_MS)]
)
def test_memory_stays_bounded_over_a_long_stream(make: Any, keep: int) -> None:
    """Three years of one event per hour, each delivered twice, up to 2 hours out of order:
    the remembered ids never exceed the hourly slots of one keep period (both ends
    included) plus the 2 that out-of-order arrival can add."""
    state = DictAdmissionState()
    admission = Admission(CONFIG, state)
    rng = random.Random(7)
    step = 3_600_000
    max_lag = 2
    bound = keep // step + 1 + max_lag
    largest = stored = 0
    for hour in range(3 * 365 * 24):
        at = T0 + hour * step - rng.randrange(0, max_lag + 1) * step
        event = make(at)
        assert admission.admit(event) is ACCEPTED
        assert admission.admit(event) is DUPLICATE
        account = state["acme"]
        if hour % 8 == 0:  # counting the live ids walks them all
            largest = max(largest, len(account))
        stored = max(stored, sum(lane.ids.stored() for lane in account.lanes.values()))
    assert bound - 16 <= largest <= bound
    # forgotten entries wait for the next look, when 1.5 times the entries kept at the
    # last look are held
    assert largest <= stored <= 1.5 * bound + 4


# --------------------------------------------------------------------------- state bytes


def _stream(seed: int, count: int) -> list[Event]:
    rng = random.Random(seed)
    makers = [login, survey, payment, ticket]
    events: list[Event] = []
    for i in range(count):
        at = T0 + i * 6 * 3_600_000 - rng.randrange(0, 60) * DAY_MS
        events.append(
            rng.choice(makers)(at, account=rng.choice("ab"), event_id=f"e-{rng.randrange(count)}")
        )
    return events


def test_state_round_trips_through_bytes() -> None:
    state = DictAdmissionState()
    admission = Admission(CONFIG, state)
    for event in _stream(1, 2000):
        admission.admit(event)
    for account in state.values():
        restored = AccountAdmission.from_bytes(account.to_bytes())
        assert restored.lanes.keys() == account.lanes.keys()
        for topic, lane in account.lanes.items():
            again = restored.lanes[topic]
            assert again.stream_time == lane.stream_time
            assert list(again.ids.items()) == list(lane.ids.items(lane.stream_time))
            assert len(again) == len(lane)
            for _, _, data in lane.ids.items():
                assert again.remembers(data.decode()) == lane.remembers(data.decode())
        # 20 bytes + ids of up to 6 characters, per remembered id
        assert len(account.to_bytes()) < 26 * max(len(account), 1) + 60


class BytesState:
    """An AdmissionState that keeps only bytes, as a changelogged table would."""

    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}

    def get(self, account_id: str) -> AccountAdmission | None:
        row = self.rows.get(account_id)
        return None if row is None else AccountAdmission.from_bytes(row)

    def __setitem__(self, account_id: str, account: AccountAdmission) -> None:
        self.rows[account_id] = account.to_bytes()

    def __delitem__(self, account_id: str) -> None:
        del self.rows[account_id]

    def keys(self) -> Iterable[str]:
        return self.rows.keys()

    def values(self) -> Iterable[AccountAdmission]:
        return [AccountAdmission.from_bytes(row) for row in self.rows.values()]


def test_a_bytes_backed_state_gives_the_same_verdicts() -> None:
    events = _stream(2, 3000)
    in_memory = Admission(CONFIG, DictAdmissionState(), clock=lambda: T0 + 400 * DAY_MS)
    in_bytes = Admission(CONFIG, BytesState(), clock=lambda: T0 + 400 * DAY_MS)
    verdicts = [(in_memory.admit(e), in_bytes.admit(e)) for e in events]
    assert all(a == b for a, b in verdicts)
    kinds = {v if not isinstance(v, Rejection) else v.reason for v, _ in verdicts}
    assert kinds == {ACCEPTED, DUPLICATE, "too_late", "future_timestamp"}


def test_from_bytes_refuses_other_formats() -> None:
    with pytest.raises(ValueError):
        AccountAdmission.from_bytes(b'{"v": 99, "t": 0, "ids": {}}')
    with pytest.raises(ValueError):
        AccountAdmission.from_bytes(b"[]")


def test_empty_state_round_trips() -> None:
    restored = AccountAdmission.from_bytes(AccountAdmission().to_bytes())
    assert restored.lanes == {} and len(restored) == 0


# --------------------------------------------------------------------------- configuration


def test_from_mapping_units() -> None:
    config = PolicyConfig.from_mapping(
        {
            "max_bytes": 1024,
            "future_tolerance_seconds": 30,
            "activity_horizon_days": 7,
            "survey_horizon_days": 0.5,
            "dedup_long_lived_days": 800,
        }
    )
    assert config == PolicyConfig(1024, 30_000, 7 * DAY_MS, DAY_MS // 2, 800 * DAY_MS)
    assert PolicyConfig.from_mapping({}) == PolicyConfig()


def test_unknown_key_names_the_key_and_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        PolicyConfig.from_mapping({"activity_horizon": 7})
    message = str(caught.value)
    assert (
        "'activity_horizon'" in message
        and "activity_horizon_days" in message
        and "max_bytes" in message
    )


@pytest.mark.parametrize(
    "table",
    [
        {"max_bytes": 0},
        {"max_bytes": 1.5},
        {"max_bytes": "64k"},
        {"activity_horizon_days": -1},
        {"survey_horizon_days": True},
        {"future_tolerance_seconds": float("nan")},
        {"dedup_long_lived_days": float("inf")},
        {"activity_horizon_days": "35"},
    ],
)
def test_bad_values_are_config_errors(table: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        PolicyConfig.from_mapping(table)
    assert next(iter(table)) in str(caught.value)


def test_direct_construction_is_checked() -> None:
    with pytest.raises(ConfigError):
        PolicyConfig(activity_horizon_ms=-1)


def test_docs_list_every_policy_key_with_its_default() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "events.md").read_text("utf-8")
    defaults = {
        "max_bytes": 65536,
        "future_tolerance_seconds": 300,
        "activity_horizon_days": 35,
        "survey_horizon_days": 95,
        "dedup_long_lived_days": 400,
    }
    assert set(defaults) == set(POLICY_KEYS)
    assert PolicyConfig.from_mapping(defaults) == PolicyConfig()
    for key, default in defaults.items():
        assert re.search(rf"\| `{key}` \| [a-z]+ \| {default} \|", docs), key


def test_from_bytes_refuses_truncated_state() -> None:
    account = AccountAdmission()
    account.lane("pulse.logins").accept("e-1", T0, DAY_MS, from_stream_time=False)
    data = account.to_bytes()
    assert AccountAdmission.from_bytes(data).remembers("e-1")
    for cut in (2, len(data) - 1):
        with pytest.raises(ValueError):
            AccountAdmission.from_bytes(data[:cut])


def test_reads_the_json_state_of_format_2() -> None:
    legacy = b'{"v": 2, "lanes": {"pulse.logins": {"t": 5, "ids": {"e-1": 9, "e-2": 7}}}}'
    restored = AccountAdmission.from_bytes(legacy)
    lane = restored.lanes["pulse.logins"]
    assert lane.stream_time == 5 and restored.remembers("e-1") and restored.remembers("e-2")
    assert list(lane.ids.items()) == [(id_key("e-1"), 9, b"e-1"), (id_key("e-2"), 7, b"e-2")]
    assert not restored.remembers("e-3")


def _format_3(stream_time: int, ids: dict[str, int]) -> bytes:
    """A row as format 3 wrote it: per lane the keys and their times, no ids."""
    keys = b"".join(struct.pack("<Q", id_key(i)) for i in ids)
    untils = b"".join(struct.pack("<q", u) for u in ids.values())
    topic = b"pulse.logins"
    return (
        bytes((3, len(topic))) + topic + struct.pack("<qI", stream_time, len(ids)) + keys + untils
    )


def test_reads_the_key_only_rows_of_format_3() -> None:
    """Rows written before the ids were kept: their keys alone decide, as they did."""
    restored = AccountAdmission.from_bytes(_format_3(5, {"e-1": 9, "e-2": 7}))
    lane = restored.lanes["pulse.logins"]
    assert lane.stream_time == 5 and restored.remembers("e-1") and restored.remembers("e-2")
    assert not restored.remembers("e-3") and len(restored) == 2
    lane.accept("e-3", 6, 10, from_stream_time=False)
    again = AccountAdmission.from_bytes(restored.to_bytes())
    assert again.to_bytes()[0] == 4 and all(again.remembers(i) for i in ("e-1", "e-2", "e-3"))
    assert list(again.lanes["pulse.logins"].ids.items()) == [
        (id_key("e-1"), 9, b""),
        (id_key("e-2"), 7, b""),
        (id_key("e-3"), 16, b"e-3"),
    ]


def _same_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every id gets the same 64-bit key: a forced collision, wherever a key is made."""
    for module in ("streams.ingest.admission", "streams.ingest.remembered_ids"):
        monkeypatch.setattr(f"{module}.xxh3_64_intdigest", lambda data: 42)


def test_ids_sharing_a_key_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dedup is exact: with every id given the same 64-bit key, a new id is still new
    (it counts) and a re-delivery still a duplicate, in memory and through bytes."""
    _same_key(monkeypatch)
    for state in (DictAdmissionState(), BytesState()):
        admission = Admission(CONFIG, state)
        events = [login(T0 + i * 1000, event_id=f"e-{i}") for i in range(50)]
        assert [admission.admit(e) for e in events] == [ACCEPTED] * 50
        assert [admission.admit(e) for e in events] == [DUPLICATE] * 50


def test_ids_sharing_a_key_are_told_apart_in_stored_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same through the groups the worker stores (LaneAdmission.groups/from_groups)."""
    _same_key(monkeypatch)
    admission = Admission(CONFIG)
    first = [payment(T0 + i, event_id=f"p-{i}") for i in range(GROUP_SIZE + 10)]
    assert [admission.admit(e) for e in first] == [ACCEPTED] * len(first)
    lane = admission.state.get("acme").lanes["pulse.billing"]
    groups = lane.groups()
    assert sorted(groups) == [0, 1]
    again = LaneAdmission.from_groups(lane.stream_time, groups.items())
    assert all(again.remembers(e.event_id) for e in first)
    assert not again.remembers("p-new")
    account = AccountAdmission({"pulse.billing": again})
    restored = Admission(CONFIG)
    restored.state["acme"] = account
    assert [restored.admit(e) for e in first] == [DUPLICATE] * len(first)
    assert restored.admit(payment(T0 + 1000, event_id="p-new")) is ACCEPTED


def test_a_lane_past_32768_ids_moves_its_index_to_u32_and_finds_every_id() -> None:
    """The index is u16 while an entry number fits, u32 beyond: every id is found on
    either side of the switch and after it, nothing new is taken for a known id."""
    ids = RememberedIds()
    count = 70_000
    typecodes = []
    for number in range(count):
        data = f"evt-{number}".encode()
        ids.remember(id_key(data.decode()), data, T0 + 10**9, -1, T0)
        if number in (100, 15_000, count - 1):
            typecodes.append(ids._slots.typecode)
    assert typecodes == ["H", "H", "I"]
    for number in range(0, count, 7):
        data = f"evt-{number}".encode()
        assert ids.find(id_key(data.decode()), data) == number
    assert ids.find(id_key("evt-new"), b"evt-new") == -1
    assert ids.stored() == count


def test_a_forgotten_id_is_accepted_again_and_remembered_anew() -> None:
    state = DictAdmissionState()
    admission = Admission(CONFIG, state)
    first = ticket(T0, event_id="t-1")
    assert admission.admit(first) is ACCEPTED
    for day in range(1, 420, 7):  # 400 days of stream time pass: the id is forgotten
        admission.admit(ticket(T0 + day * DAY_MS, event_id=f"t-x{day}"))
    again = ticket(T0 + 420 * DAY_MS, event_id="t-1")
    assert admission.admit(again) is ACCEPTED
    assert admission.admit(again) is DUPLICATE
    lane = state["acme"].lanes["pulse.tickets"]
    assert sum(1 for _, _, data in lane.ids.items() if data == b"t-1") == 1


def test_kept_lane_encodings_never_go_stale() -> None:
    state = DictAdmissionState()
    admission = Admission(CONFIG, state)
    for number, event in enumerate(_stream(4, 1500)):
        admission.admit(event)
        if number % 5 == 0:
            for account in state.values():
                kept = account.to_bytes()
                for lane in account.lanes.values():
                    lane._encoded = None
                assert kept == account.to_bytes()


class GroupsState:
    """An AdmissionState that keeps each lane as the worker stores it: its stream time and
    its groups of remembered ids (LaneAdmission.groups / from_groups)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, tuple[int | None, dict[int, bytes]]]] = {}

    def get(self, account_id: str) -> AccountAdmission | None:
        row = self.rows.get(account_id)
        if row is None:
            return None
        return AccountAdmission(
            {
                topic: LaneAdmission.from_groups(stream_time, groups.items())
                for topic, (stream_time, groups) in row.items()
            }
        )

    def __setitem__(self, account_id: str, account: AccountAdmission) -> None:
        self.rows[account_id] = {
            topic: (lane.stream_time, dict(lane.groups())) for topic, lane in account.lanes.items()
        }

    def __delitem__(self, account_id: str) -> None:
        del self.rows[account_id]

    def keys(self) -> Iterable[str]:
        return self.rows.keys()

    def values(self) -> Iterable[AccountAdmission]:
        return [account for key in self.rows if (account := self.get(key)) is not None]


def test_stored_groups_give_the_same_verdicts_and_hold_only_remembered_ids() -> None:
    """Ids re-sent, out of order, forgotten and accepted again: a state kept only as
    stored groups gives every verdict the in-memory state gives; the groups kept between
    calls equal groups computed afresh, hold only ids still remembered, never more than
    GROUP_SIZE each."""
    events = _stream(5, 4000)
    in_memory = Admission(CONFIG, DictAdmissionState())
    stored = Admission(CONFIG, GroupsState())
    for number, event in enumerate(events):
        assert in_memory.admit(event) == stored.admit(event), (number, event)
        if number % 97 == 0:
            for account in in_memory.state.values():
                for lane in account.lanes.values():
                    groups = lane.groups()
                    again = LaneAdmission.from_groups(lane.stream_time, groups.items())
                    assert again.groups() == groups
                    held = [
                        entry
                        for data in groups.values()
                        for entry in LaneAdmission.from_groups(
                            lane.stream_time, [(0, data)]
                        ).ids.items()
                    ]
                    assert len(held) == len(lane)
                    assert all(until >= lane.stream_time for _, until, _ in held)
                    assert all(
                        len(list(LaneAdmission.from_groups(0, [(0, d)]).ids.items())) <= GROUP_SIZE
                        for d in groups.values()
                    )


def test_a_group_version_changes_whenever_its_stored_form_does() -> None:
    """Checkpoints skip the id groups whose version is the one last written
    (state_parts.AccountParts.rows): a group whose version stayed the same object must
    have the same stored form, through new ids, re-sent ones and forgetting."""
    admission = Admission(CONFIG, DictAdmissionState())
    seen: dict[tuple[str, str, int], tuple[object, bytes]] = {}
    unchanged = changed = 0
    for number, event in enumerate(_stream(5, 4000)):
        admission.admit(event)
        if number % 31:
            continue
        for account_id, account in admission.state.items():
            for topic, lane in account.lanes.items():
                for group, version in lane.group_versions().items():
                    data = lane.group_bytes(group)
                    before = seen.get((account_id, topic, group))
                    if before is not None and before[0] is version:
                        assert before[1] == data, (number, account_id, topic, group)
                        unchanged += 1
                    elif before is not None:
                        changed += before[1] != data
                    seen[account_id, topic, group] = (version, data)
    assert unchanged > 100 and changed > 100  # both kinds were compared
