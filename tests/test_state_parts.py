"""An account stored in parts: none grows with the account, only changed parts are
written, and the parts give back exactly the state (pure unit tests, no Kafka)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from streams.engine.state_codec import account_to_bytes
from streams.pulse_config import PulseConfig
from streams.worker.state import (
    COUNTERS_PREFIX,
    PartitionState,
    WorkerBook,
    partition_of,
)
from streams.worker.state_parts import ROW_FORMAT, account_of, encoded, join, split

PARTITIONS = 2
T0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list | None = None


class Table(dict):
    class changelog_topic:  # noqa: N801 - the attribute Faust's table has
        @staticmethod
        def get_topic_name() -> str:
            return "changelog"


def book() -> WorkerBook:
    worker = WorkerBook(
        PulseConfig(),
        lambda: T0 + 40 * 86_400_000,
        partitions=PARTITIONS,
        rekey_topic="rekeyed",
        dead_letter_topic="dead-letter",
        unprefixed=lambda topic: topic,
    )
    worker.attach(Table())
    worker.sync(set(range(PARTITIONS)))
    return worker


class Feed:
    def __init__(self, account: str = "big") -> None:
        self.worker = book()
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
                "occurred_at": _rfc3339(at),
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


def _rfc3339(ms: int) -> str:
    from datetime import UTC, datetime

    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


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
        + (b"" if account_of(s.key)[1][:1] == b"a" else account_of(s.key)[1][1:])
        for s in second
    )
    assert parts == [b"a", b"h", b"uuser-7"], "the header, the user and the group of its event id"
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
