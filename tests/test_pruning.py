"""State that shrinks: the worker's checkpoints prune, without changing any metric.

Through the worker's own path without Kafka (WorkerBook: the per-event pipeline, the
cached rows, checkpoints), against a reference engine that never forgets anything.
"""

from __future__ import annotations

import orjson

from streams.contract.decoding import Decoder
from streams.contract.rfc3339 import rfc3339_ms
from streams.engine import activity
from streams.engine.account import AccountState
from streams.engine.engine import Engine
from streams.engine.engine_config import EngineConfig
from streams.engine.timeline import DAY_MS, HOUR_MS
from streams.pulse_config import PulseConfig
from streams.worker.state import PartitionState, partition_of
from streams.worker.state_parts import account_of
from tests.engine_events import T0, opened, reopened, resolved, value
from tests.support.worker_book import Message, worker_book

PARTITIONS = 2
UNBOUNDED = EngineConfig(
    activity_lag_ms=10**15, survey_lag_ms=10**15, ticket_retention_ms=2 * 10**15
)


class Feed:
    """Events into a WorkerBook, as Kafka would deliver them, with the committed rows kept."""

    def __init__(self) -> None:
        self.book = worker_book(2_000_000_000_000, partitions=PARTITIONS)
        self.offset = 0
        self.rows: dict[bytes, bytes | None] = {}
        self.reference = Engine(UNBOUNDED)
        self.pipeline_config = PulseConfig()

    def send(self, topic: str, event: dict) -> None:
        key = event["account_id"].encode()
        self.offset += 1
        raw = orjson.dumps(event)
        self.book.process(
            Message(topic, partition_of(key, PARTITIONS), self.offset, key, raw), is_rekeyed=False
        )
        self.reference.apply(Decoder().decode(raw, topic))

    def checkpoint(self) -> None:
        for partition, sends in self.book.checkpoint().items():
            for send in sends:
                if send.topic == "changelog":
                    self.rows[send.key] = send.value
            self.book.take_committed(partition)

    def parts(self) -> dict[str, dict[bytes, bytes]]:
        """The committed parts of every account (streams/worker/state_parts.py)."""
        out: dict[str, dict[bytes, bytes]] = {}
        for key, row in self.rows.items():
            located = account_of(key)
            if located is not None and row is not None:
                out.setdefault(located[0], {})[located[1]] = row
        return out

    def stored(self, account: str) -> AccountState:
        state = PartitionState()
        state.load_parts(account, self.parts()[account])
        return state.engine_rows[account]

    def snapshot(self, as_of: int) -> list:
        """The metrics from the committed rows alone (what a restarted worker would show)."""
        engine = Engine(self.pipeline_config.engine, self.pipeline_config.revenue)
        for account in self.parts():
            engine.store[account] = self.stored(account)
        return engine.snapshot(as_of)


def _event(n: int, kind: str, at: int, user: str, **extra) -> dict:
    return {
        "event_id": f"e{n}",
        "type": kind,
        "occurred_at": rfc3339_ms(at),
        "account_id": "acme",
        "user_id": user,
        **extra,
    }


def test_a_user_inactive_beyond_every_horizon_is_gone_from_the_stored_row_and_no_metric_changes():
    feed = Feed()
    n = 0
    for hour in (9, 10, 11):  # the user who leaves: a day of logins, feature use and a logout
        n += 1
        feed.send("pulse.logins", _event(n, "login", T0 + hour * HOUR_MS, "leaver"))
        n += 1
        feed.send(
            "pulse.feature-use",
            _event(n, "feature_used", T0 + hour * HOUR_MS + 60_000, "leaver", feature="export"),
        )
    n += 1
    feed.send("pulse.logins", _event(n, "logout", T0 + 12 * HOUR_MS, "leaver"))
    feed.checkpoint()
    assert "leaver" in feed.stored("acme").users
    for day in range(1, 200):  # the user who stays logs in every day; a checkpoint a day
        n += 1
        feed.send("pulse.logins", _event(n, "login", T0 + day * DAY_MS + 9 * HOUR_MS, "stayer"))
        feed.checkpoint()
    stored = feed.stored("acme")
    assert set(stored.users) == {"stayer"}, "a user quiet beyond every horizon is still stored"
    assert (
        len(activity.logins_of(stored.users["stayer"])) <= 43
    )  # the 35-day horizon + the 7-day window, no more
    end = T0 + 199 * DAY_MS + 10 * HOUR_MS
    for as_of in (end, end - 3 * DAY_MS - 17, end - 35 * DAY_MS):
        assert feed.snapshot(as_of) == feed.reference.snapshot(as_of)


def test_a_ticket_resolved_159_days_ago_and_reopened_is_not_open_with_or_without_a_prune_between():
    """docs/metrics.md: a ticket not open and quiet for ticket_retention_days (90) is
    forgotten; a later reopening of it is then not counted as open."""
    events = [
        opened(T0, ticket="old"),
        resolved(T0 + HOUR_MS, ticket="old"),
        opened(T0 + 150 * DAY_MS, ticket="other"),
    ]
    reopening = reopened(T0 + HOUR_MS + 159 * DAY_MS, ticket="old")
    as_of = reopening.occurred_at + HOUR_MS
    for prune_between in (False, True):
        engine = Engine()
        for event in events:
            engine.apply(event)
        if prune_between:
            engine.prune()
            assert "old" not in engine.store.get("a1").tickets
        engine.apply(reopening)
        engine.prune()
        samples = engine.snapshot(as_of)
        assert (
            sum(
                value(samples, "pulse_tickets_open", priority=p)
                for p in ("none", "low", "normal", "high", "urgent")
            )
            == 1
        )
        assert value(samples, "pulse_tickets_reopened", window="7d") == 0


def test_a_row_left_with_nothing_is_a_tombstone():
    state = PartitionState()
    state.engine_rows["acme"] = AccountState()
    written = state.rows_of("acme")
    assert written and all(value is not None for _, value in written)
    del state.engine_rows["acme"]
    deleted = state.rows_of("acme")
    assert sorted(key for key, _ in deleted) == sorted(key for key, _ in written)
    assert all(value is None for _, value in deleted), (
        "an empty account must be deleted, not written"
    )


def test_pruning_only_changed_accounts_at_a_checkpoint_writes_nothing_else():
    feed = Feed()
    feed.send("pulse.logins", _event(1, "login", T0, "u1"))
    feed.checkpoint()
    other = {
        "event_id": "x1",
        "type": "login",
        "occurred_at": rfc3339_ms(T0 + 90 * DAY_MS),
        "account_id": "beta",
        "user_id": "u9",
    }
    feed.send("pulse.logins", other)
    sends = [
        send
        for sends in feed.book.checkpoint().values()
        for send in sends
        if send.topic == "changelog"
    ]
    assert {account_of(send.key)[0] for send in sends if not send.key.startswith(b"\x00")} == {
        "beta"
    }
