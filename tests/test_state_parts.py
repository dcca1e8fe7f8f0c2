"""An account stored in parts: none grows with the account, only changed parts are
written, and the parts give back exactly the state (pure unit tests, no Kafka)."""

from __future__ import annotations

import orjson

from streams.contract.rfc3339 import rfc3339_ms
from streams.engine.state_codec import account_to_bytes
from streams.worker.state import (
    COUNTERS_PREFIX,
    PartitionState,
    partition_of,
)
from streams.worker.state_parts import ROW_FORMAT, account_of, encoded, join, split
from tests.support.worker_book import Message, worker_book

PARTITIONS = 2
T0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z


class Feed:
    def __init__(self, account: str = "big") -> None:
        self.worker = worker_book(T0 + 40 * 86_400_000, partitions=PARTITIONS)
        self.account = account
        self.key = account.encode()
        self.partition = partition_of(self.key, PARTITIONS)
        self.offset = 0

    def login(self, user: str, at: int) -> None:
        self.offset += 1
        value = orjson.dumps(
            {
                "event_id": f"e-{self.offset}",
                "type": "login",
                "account_id": self.account,
                "user_id": user,
                "occurred_at": rfc3339_ms(at),
            }
        )
        self.worker.process(
            Message("pulse.logins", self.partition, self.offset, self.key, value), is_rekeyed=False
        )

    def checkpoint(self) -> list:
        """Checkpoint, commit into the table; the changelog rows written (counters apart)."""
        sends = self.worker.checkpoint().get(self.partition, [])
        rows = self.worker.take_committed(self.partition)
        for key, value in rows:
            if value is None:
                self.worker.table.pop(key, None)
            else:
                self.worker.table[key] = value
        return [
            s for s in sends if s.topic == "changelog" and not s.key.startswith(COUNTERS_PREFIX)
        ]


def test_no_part_grows_with_the_users_and_a_checkpoint_writes_only_what_changed():
    feed = Feed()
    users = 5_000
    for n in range(users):
        feed.login(f"user-{n}", T0 + n * 1_000)
    first = feed.checkpoint()
    sizes = [len(s.value) for s in first]
    assert len(first) >= users and max(sizes) < 100_000, "one part per user; none holding them all"
    feed.login("user-7", T0 + users * 1_000 + 1)
    second = feed.checkpoint()
    parts = sorted(
        account_of(s.key)[1][:1]
        + (b"" if account_of(s.key)[1][:1] == b"i" else account_of(s.key)[1][1:])
        for s in second
    )
    assert parts == [b"h", b"i", b"uuser-7"], "the header, the user and the group of its event id"
    assert sum(len(s.value) for s in second) < sum(sizes) / 10


def test_parts_give_back_the_state_and_a_reload_equals_the_live_state():
    feed = Feed()
    for n in range(300):
        feed.login(f"user-{n % 40}", T0 + n * 3_600_000)
    feed.checkpoint()
    live = feed.worker._states[feed.partition]
    engine, admission = live.engine_rows["big"], live.admission_rows["big"]
    again, again_admission = join(
        {part: encoded(value) for part, value in split(engine, admission).items()}
    )
    assert account_to_bytes(again) == account_to_bytes(engine)
    assert again_admission.to_bytes() == admission.to_bytes()
    feed.worker.forget_cache()
    feed.worker.sync(set(range(PARTITIONS)))
    reloaded = feed.worker._states[feed.partition]
    assert account_to_bytes(reloaded.engine_rows["big"]) == account_to_bytes(engine)
    assert reloaded.admission_rows["big"].to_bytes() == admission.to_bytes()
    assert feed.checkpoint() == [], "a reload writes nothing"


def test_a_row_of_the_one_row_format_is_read_and_replaced_by_parts():
    feed = Feed()
    feed.login("u-1", T0)
    feed.checkpoint()
    state = feed.worker._states[feed.partition]
    admission, engine = (
        state.admission_rows["big"].to_bytes(),
        account_to_bytes(state.engine_rows["big"]),
    )
    import struct

    old_row = b"".join((ROW_FORMAT, struct.pack(">I", len(admission)), admission, engine))
    feed.worker.table.clear()
    feed.worker.table[b"big"] = old_row
    feed.worker.forget_cache()
    feed.worker.sync(set(range(PARTITIONS)))
    assert feed.worker._states[feed.partition].admission_rows["big"].remembers("e-1")
    feed.login("u-2", T0 + 1_000)
    rows = feed.checkpoint()
    assert (b"big", None) in [(s.key, s.value) for s in rows], "the old row is deleted"
    assert b"big" not in feed.worker.table and all(
        account_of(k)[0] == "big" for k in feed.worker.table if not k.startswith(COUNTERS_PREFIX)
    )
    fresh = PartitionState()
    fresh.load_parts(
        "big", {account_of(k)[1]: v for k, v in feed.worker.table.items() if account_of(k)}
    )
    assert fresh.admission_rows["big"].remembers("e-1") and set(fresh.engine_rows["big"].users) == {
        "u-1",
        "u-2",
    }


def _event(feed: Feed, event_id: str, event_type: str, at: int, **fields) -> None:
    topic = {"login": "pulse.logins", "ticket_opened": "pulse.tickets"}[event_type]
    feed.offset += 1
    value = orjson.dumps(
        {
            "event_id": event_id,
            "type": event_type,
            "account_id": feed.account,
            "occurred_at": rfc3339_ms(at),
            **fields,
        }
    )
    feed.worker.process(
        Message(topic, feed.partition, feed.offset, feed.key, value), is_rekeyed=False
    )


def _reload(feed: Feed) -> None:
    feed.worker.forget_cache()
    feed.worker.sync(set(range(PARTITIONS)))


def test_two_ids_with_one_hash_both_count_and_stay_apart_after_a_reload(monkeypatch):
    """A forced collision: every id hashes to the same 64 bits. Both events count; after
    a checkpoint and a reload from the stored parts, each re-delivery is a duplicate and
    a third id with the same hash still counts."""
    for module in ("streams.ingest.admission", "streams.ingest.remembered_ids"):
        monkeypatch.setattr(f"{module}.xxh3_64_intdigest", lambda data: 7)
    feed = Feed()
    _event(feed, "evt-a", "login", T0, user_id="u-1")
    _event(feed, "evt-b", "login", T0 + 1_000, user_id="u-2")
    feed.checkpoint()
    counters = feed.worker._states[feed.partition].counters
    assert counters.events_by_type["login"] == 2 and counters.duplicates == 0
    _reload(feed)
    _event(feed, "evt-a", "login", T0, user_id="u-1")
    _event(feed, "evt-b", "login", T0 + 1_000, user_id="u-2")
    _event(feed, "evt-c", "login", T0 + 2_000, user_id="u-3")
    counters = feed.worker._states[feed.partition].counters
    assert counters.events_by_type["login"] == 3 and counters.duplicates == 2
    assert set(feed.worker._states[feed.partition].engine_rows["big"].users) == {
        "u-1",
        "u-2",
        "u-3",
    }


def test_id_groups_of_the_hashed_form_still_read_and_are_replaced():
    """Parts written before the ids were kept: a lane's ids forgotten within one hour, as
    n keys (u64) and n forget-after times (i64) under tag b"a". They are read (their key
    decides), and the next write replaces them by b"i" groups with a tombstone."""
    import struct

    from streams.ingest.remembered_ids import id_key
    from streams.worker.state_parts import part_key

    feed = Feed()
    feed.login("u-1", T0)
    feed.checkpoint()
    table = feed.worker.table
    groups = [k for k in table if account_of(k) and account_of(k)[1][:1] == b"i"]
    assert len(groups) == 1
    del table[groups[0]]
    until = T0 + 35 * 86_400_000
    old_key = part_key("big", b"apulse.logins\x00" + str(until // 3_600_000).encode())
    table[old_key] = struct.pack("<Qq", id_key("e-1"), until)
    _reload(feed)
    admission = feed.worker._states[feed.partition].admission_rows["big"]
    assert admission.remembers("e-1") and not admission.remembers("e-9")
    feed.login("u-2", T0 + 1_000)  # event e-2
    rows = dict((s.key, s.value) for s in feed.checkpoint())
    assert rows[old_key] is None, "the group of the old form is deleted"
    assert old_key not in table
    _reload(feed)
    admission = feed.worker._states[feed.partition].admission_rows["big"]
    assert admission.remembers("e-1") and admission.remembers("e-2")


def test_a_lane_with_few_events_is_one_row_however_long_its_ids_are_kept():
    """Ticket ids are remembered 400 days: 120 ticket events, 7 hours apart, are two rows
    of ids (groups of 64), not one row per hour with an event; a busy lane's groups stay
    small."""
    feed = Feed()
    for n in range(120):
        _event(feed, f"t-{n}", "ticket_opened", T0 + n * 7 * 3_600_000, ticket_id=f"T-{n}")
        if n % 10 == 9:
            feed.checkpoint()
    for n in range(2_000):
        feed.login(f"u-{n % 50}", T0 + 36 * 86_400_000 + n * 60_000)
    feed.checkpoint()
    groups: dict[str, list[int]] = {}
    for key, value in feed.worker.table.items():
        located = account_of(key)
        if located and located[1][:1] == b"i":
            topic = located[1][1:].split(b"\x00")[0].decode()
            groups.setdefault(topic, []).append(len(value))
    assert len(groups["pulse.tickets"]) == 2  # 120 ids in groups of 64
    assert len(groups["pulse.logins"]) == 2_000 // 64 + 1
    assert max(groups["pulse.logins"]) < 64 * 30


def test_a_duplicate_at_the_edge_of_the_horizon_is_caught_or_refused_after_a_reload():
    """An activity id is remembered exactly as long as its event can still be admitted:
    with the stream time exactly at occurred_at + 35 days the re-delivery is a duplicate,
    1 ms later it is too late; never counted twice, across checkpoints and reloads of
    the stored groups."""
    horizon = 35 * 86_400_000
    feed = Feed()
    _event(feed, "edge", "login", T0, user_id="u-1")
    _event(feed, "later", "login", T0 + horizon, user_id="u-2")
    feed.checkpoint()
    _reload(feed)
    _event(feed, "edge", "login", T0, user_id="u-1")
    counters = feed.worker._states[feed.partition].counters
    assert counters.duplicates == 1 and counters.events_by_type["login"] == 2
    _event(feed, "last", "login", T0 + horizon + 1, user_id="u-3")
    feed.checkpoint()
    _reload(feed)
    assert not feed.worker._states[feed.partition].admission_rows["big"].remembers("edge")
    _event(feed, "edge", "login", T0, user_id="u-1")
    counters = feed.worker._states[feed.partition].counters
    assert counters.duplicates == 1 and counters.events_by_type["login"] == 3
    assert counters.rejected_by_reason["too_late"] == 1
