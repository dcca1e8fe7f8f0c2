"""Admission: the stateful policies a decoded event passes before it reaches the engine.

Definition (contract v1; docs/events.md, "Policies"). Pure Python, no Kafka. Time is
int epoch milliseconds UTC. Checks run in this order; the first that applies decides:

1. `future_timestamp`: occurred_at > clock() + future_tolerance_ms. The clock is the
   worker's wall clock or replay's --as-of; without a clock nothing is in the future.
2. DUPLICATE: an event with the same event_id was already ACCEPTED for the same
   account_id and is still remembered. Dedup scope is the account, because messages are
   keyed (partitioned) by account_id. Dropped and counted, never applied twice.
3. `too_late`: the stream time S of an account on a topic is the latest occurred_at
   ACCEPTED so far for that account_id among the event types of that topic (the lane of
   the event: pulse.logins, pulse.feature-use, pulse.lifecycle, pulse.surveys, ...). An activity event (model.ACTIVITY_POLICY_TYPES) with S - occurred_at >
   activity_horizon_ms (35 days), or a survey response (model.SURVEY_TYPES) with
   S - occurred_at > survey_horizon_ms (95 days), is too late; exactly at the horizon is
   accepted. Billing and ticket events (model.LONG_LIVED_TYPES) are never too late.
4. ACCEPTED: S becomes max(S, occurred_at) and the event_id is remembered.

Why per topic and not per account: Kafka orders messages only within one partition of one
topic, and a worker interleaves its topics however they arrive. An account-wide stream
time would make "too late" depend on that interleaving (a burst of billing events read
before a day of logins would push the logins out); per (account, topic) it depends only
on the order the producer wrote each topic, which a worker and `pulse replay` of the same
messages share. Dedup is per (account, topic) for the same reason; an event_id names one
event, whose type fixes its topic.

A rejected or duplicate event changes nothing: it does not move S and is not
remembered. How long an accepted id is remembered:
- activity and survey types: until S passes occurred_at + the type's late horizon. From
  then on a re-delivery is too_late, so "remembered" and "not too late" coincide and a
  late copy is always reported as too_late, never as a duplicate.
- billing and ticket types (never too late): until S passes S' + dedup_long_lived_ms
  (400 days), S' being the stream time right after the acceptance, max(S, occurred_at).
  Counting from S' rather than occurred_at keeps an old event that is accepted today
  (a backfilled invoice) remembered for 400 days too.
Memory per account is bounded by the events accepted within the longest horizon of
stream time. The ids sit in flat arrays (streams/ingest/remembered_ids.py,
`RememberedIds`): a 64-bit xxh3 key finds an id, and its stored UTF-8 bytes confirm it,
so the dedup is exact (a key shared by two ids never makes one the other's duplicate).
About 24 bytes plus the id per remembered id in memory (plus its index), 10 bytes plus
the id stored.
"""

from __future__ import annotations

import enum
import math
import struct
import sys
from array import array
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson
from xxhash import xxh3_64_intdigest

from streams.contract.decoding import Rejection
from streams.contract.model import (
    ACTIVITY_POLICY_TYPES,
    EVENT_TYPES,
    SURVEY_TYPES,
    TOPIC_OF_TYPE,
    Event,
)
from streams.engine.store import AccountStore
from streams.engine.timeline import DAY_MS
from streams.errors import ConfigError
from streams.ingest.remembered_ids import RememberedIds


class AdmissionOutcome(enum.Enum):
    """An admitted event's fate when it is not rejected."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


ACCEPTED = AdmissionOutcome.ACCEPTED
DUPLICATE = AdmissionOutcome.DUPLICATE
AdmissionVerdict: TypeAlias = AdmissionOutcome | Rejection


# --------------------------------------------------------------------------- configuration

# [policy] key -> (PolicyConfig field, milliseconds per unit of the key; 0 = a plain count)
POLICY_KEYS: dict[str, tuple[str, int]] = {
    "max_bytes": ("max_bytes", 0),
    "future_tolerance_seconds": ("future_tolerance_ms", 1000),
    "activity_horizon_days": ("activity_horizon_ms", DAY_MS),
    "survey_horizon_days": ("survey_horizon_ms", DAY_MS),
    "dedup_long_lived_days": ("dedup_long_lived_ms", DAY_MS),
}


@dataclass(frozen=True)
class PolicyConfig:
    """The policies' limits; every duration in milliseconds."""

    max_bytes: int = 65536
    future_tolerance_ms: int = 5 * 60_000
    activity_horizon_ms: int = 35 * DAY_MS
    survey_horizon_ms: int = 95 * DAY_MS
    dedup_long_lived_ms: int = 400 * DAY_MS

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "future_tolerance_ms",
            "activity_horizon_ms",
            "survey_horizon_ms",
            "dedup_long_lived_ms",
        ):
            value = getattr(self, name)
            if type(value) is not int or value < (1 if name == "max_bytes" else 0):
                least = "a positive" if name == "max_bytes" else "a non-negative"
                raise ConfigError(f"Policy {name} must be {least} integer, not {value!r}.")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> PolicyConfig:
        """From the TOML [policy] table: max_bytes (bytes), future_tolerance_seconds,
        activity_horizon_days, survey_horizon_days, dedup_long_lived_days (numbers >= 0;
        fractions allowed, rounded to the millisecond). Absent keys keep their defaults."""
        values: dict[str, int] = {}
        for key, value in table.items():
            if key not in POLICY_KEYS:
                raise ConfigError(
                    f"Unknown key {key!r} in [policy]: use one of {', '.join(POLICY_KEYS)}."
                )
            field_name, unit = POLICY_KEYS[key]
            if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"[policy] {key} must be a number >= 0, not {value!r}.")
            if unit == 0:
                if type(value) is not int or value < 1:
                    raise ConfigError(
                        f"[policy] {key} must be a whole number of bytes >= 1, not {value!r}."
                    )
                values[field_name] = value
            else:
                values[field_name] = round(value * unit)
        return cls(**values)


# --------------------------------------------------------------------------- per-account state

_FORMAT_VERSION = 4
_KEYS_ONLY_VERSION = 3
_LANE_HEAD = struct.Struct("<B")
_LANE_BODY = struct.Struct("<qI")
_LANE_BODY_4 = struct.Struct("<qII")
_NO_STREAM_TIME = -(1 << 63)


def _int64s(data: memoryview, typecode: str) -> array[int]:
    values = array(typecode)
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


_NO_IDS = RememberedIds()
"""The ids of every lane that has remembered none yet, shared and never changed: a lane
gets its own before its first id (`accept_found`). An empty RememberedIds costs about
670 bytes, and a replay of files remembers only the ids that can repeat
(streams/ingest/repeated_ids.py), so most of its lanes never hold one."""


def _no_ids() -> RememberedIds:
    return _NO_IDS


@dataclass(slots=True)
class LaneAdmission:
    """What admission keeps for one account on one topic: its stream time and the ids it
    remembers (each until its forget-after time, in `ids`)."""

    stream_time: int | None = None
    ids: RememberedIds = field(default_factory=_no_ids)
    _encoded: bytes | None = field(
        default=None, repr=False, compare=False
    )  # body() while unchanged

    def __len__(self) -> int:
        return 0 if self.stream_time is None else self.ids.live(self.stream_time)

    def remembers(self, event_id: str) -> bool:
        data = event_id.encode()
        entry = self.ids.find(xxh3_64_intdigest(data), data)
        return (
            entry >= 0
            and self.stream_time is not None
            and self.ids.until(entry) >= self.stream_time
        )

    def accept(
        self, event_id: str, occurred_at: int, keep_ms: int, *, from_stream_time: bool
    ) -> None:
        """Record an accepted event: advance stream time, remember the id for keep_ms past
        its occurred_at (or past the new stream time). Ids past their time are forgotten
        (streams/ingest/remembered_ids.py)."""
        data = event_id.encode()
        key = xxh3_64_intdigest(data)
        self.accept_found(
            key, data, self.ids.find(key, data), occurred_at, keep_ms, from_stream_time
        )

    def accept_found(
        self,
        key: int,
        data: bytes,
        entry: int,
        occurred_at: int,
        keep_ms: int,
        from_stream_time: bool,
        remember: bool = True,
    ) -> None:
        """`accept` of an id already looked up: its key, UTF-8 bytes and entry (or -1).
        `remember=False`: the id cannot occur again (streams/ingest/repeated_ids.py), so
        only the stream time moves."""
        stream_time = (
            occurred_at
            if self.stream_time is None or occurred_at > self.stream_time
            else self.stream_time
        )
        self.stream_time = stream_time
        self._encoded = None
        if remember:
            if self.ids is _NO_IDS:
                self.ids = RememberedIds()
            until = (stream_time if from_stream_time else occurred_at) + keep_ms
            self.ids.remember(key, data, until, entry, stream_time)

    def body(self) -> bytes:
        """The lane in AccountAdmission.to_bytes, after its topic: kept while the lane is
        unchanged."""
        if self._encoded is None:
            stream_time = _NO_STREAM_TIME if self.stream_time is None else self.stream_time
            count, ids = self.ids.to_bytes(self.stream_time)
            self._encoded = _LANE_BODY_4.pack(stream_time, count, len(ids) - 20 * count) + ids
        return self._encoded

    def group_versions(self) -> dict[int, object]:
        """The remembered ids' stored groups (group number -> a token of its bytes, the same
        object while the group is unchanged): the worker stores each group apart, so that
        no stored value grows with the account's whole history
        (streams/worker/state_parts.py). See remembered_ids.py: groups of at most
        GROUP_SIZE ids in the order they were accepted, each holding its ids not yet
        forgotten."""
        if self.stream_time is None:
            return {}
        return self.ids.group_versions(self.stream_time)

    def group_bytes(self, group: int) -> bytes:
        """The stored form of a group `group_versions` names."""
        if self.stream_time is None:
            raise KeyError(f"a lane without events has no group {group}")
        return self.ids.group_bytes(group, self.stream_time)

    def groups(self) -> dict[int, bytes]:
        """Group number -> stored form, of every group `group_versions` names."""
        return {group: self.group_bytes(group) for group in self.group_versions()}

    @classmethod
    def from_groups(
        cls,
        stream_time: int | None,
        groups: Iterable[tuple[int, bytes]],
        key_only: Iterable[bytes] = (),
    ) -> LaneAdmission:
        """The lane of its stored groups ((number, bytes), from `groups`) and of groups of
        the earlier key-only form (`key_only`: n keys (u64) then n forget-after times
        (i64), whose ids join groups as new ones do)."""
        return cls(stream_time, RememberedIds.from_groups(groups, _key_only_ids(key_only)))


def _key_only_ids(groups: Iterable[bytes]) -> list[tuple[int, int]]:
    ids: list[tuple[int, int]] = []
    for data in groups:
        view, count = memoryview(data), len(data) // 16
        keys, untils = (
            _int64s(view[: 8 * count], "Q"),
            _int64s(view[8 * count : 16 * count], "q"),
        )
        if len(data) != 16 * count or len(keys) != count or len(untils) != count:
            raise ValueError("truncated or corrupt group of remembered ids")
        ids += zip(keys, untils, strict=True)
    return ids


class AccountAdmission:
    """Admission state of one account: one lane per topic it has events on."""

    __slots__ = ("lanes",)

    def __init__(self, lanes: dict[str, LaneAdmission] | None = None) -> None:
        self.lanes: dict[str, LaneAdmission] = lanes if lanes is not None else {}

    def lane(self, topic: str) -> LaneAdmission:
        lane = self.lanes.get(topic)
        if lane is None:
            lane = self.lanes[topic] = LaneAdmission()
        return lane

    def __len__(self) -> int:
        return sum(len(lane) for lane in self.lanes.values())

    def remembers(self, event_id: str) -> bool:
        return any(lane.remembers(event_id) for lane in self.lanes.values())

    def to_bytes(self) -> bytes:
        """Binary, little-endian: version byte 4, then per lane: topic length (u8), topic
        (UTF-8), stream time (i64, minimum = none yet), n (u32), the ids' byte count m
        (u32), n id keys (u64), n forget_after times (i64), n ends (u32) of the ids in the
        m bytes that follow (the ids' UTF-8, one after another); only the ids still
        remembered. About 20 bytes plus the id per remembered id. Format 3 (the same
        without ends and ids: keys alone) and format 2 (JSON) are still read."""
        parts = [bytes((_FORMAT_VERSION,))]
        for topic, lane in self.lanes.items():
            name = topic.encode()
            parts += (_LANE_HEAD.pack(len(name)), name, lane.body())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> AccountAdmission:
        if data[:1] == b"{":  # format 2 (JSON, ids in full), written by earlier versions
            state = orjson.loads(data)
            if state.get("v") != 2:
                raise ValueError(
                    f"not an admission state of format version 2, 3 or {_FORMAT_VERSION}"
                )
            return cls(
                {
                    topic: LaneAdmission(lane["t"], _ids_from_json(lane["ids"]))
                    for topic, lane in state["lanes"].items()
                }
            )
        if data[:1] not in (bytes((_FORMAT_VERSION,)), bytes((_KEYS_ONLY_VERSION,))):
            raise ValueError(f"not an admission state of format version 2, 3 or {_FORMAT_VERSION}")
        try:
            return cls(_lanes_from(memoryview(data), with_ids=data[0] == _FORMAT_VERSION))
        except (struct.error, UnicodeDecodeError) as error:
            raise ValueError(f"truncated or corrupt admission state: {error}") from error


def _ids_from_json(ids: dict[str, int]) -> RememberedIds:
    """The ids of a format-2 lane (id -> forget_after), in full."""
    keys, untils, ends, blob = array("Q"), array("q"), array("I"), bytearray()
    for event_id, until in ids.items():
        data = event_id.encode()
        keys.append(xxh3_64_intdigest(data))
        untils.append(until)
        blob += data
        ends.append(len(blob))
    return RememberedIds.from_arrays(keys, untils, ends, bytes(blob))


def _lanes_from(view: memoryview, *, with_ids: bool) -> dict[str, LaneAdmission]:
    """The lanes of an admission state of format 4 (`with_ids`) or 3 (keys alone)."""
    at, lanes = 1, {}
    while at < len(view):
        (length,) = _LANE_HEAD.unpack_from(view, at)
        topic = bytes(view[at + 1 : at + 1 + length]).decode()
        at += 1 + length
        if with_ids:
            stream_time, count, blob_size = _LANE_BODY_4.unpack_from(view, at)
            at += _LANE_BODY_4.size
        else:
            stream_time, count = _LANE_BODY.unpack_from(view, at)
            at += _LANE_BODY.size
            blob_size = 0
        keys = _int64s(view[at : at + 8 * count], "Q")
        untils = _int64s(view[at + 8 * count : at + 16 * count], "q")
        at += 16 * count
        if with_ids:
            ends = _int64s(view[at : at + 4 * count], "I")
            blob = bytes(view[at + 4 * count : at + 4 * count + blob_size])
            at += 4 * count + blob_size
        else:
            ends, blob = array("I", bytes(4 * count)), b""
        if (
            len(keys) != count
            or len(untils) != count
            or len(ends) != count
            or len(blob) != blob_size
            or (count and ends[-1] != blob_size)
            or any(a > b for a, b in zip(ends, ends[1:]))
        ):
            raise struct.error(f"{count} ids announced, fewer stored")
        lanes[topic] = LaneAdmission(
            None if stream_time == _NO_STREAM_TIME else stream_time,
            RememberedIds.from_arrays(keys, untils, ends, blob),
        )
    return lanes


AdmissionState: TypeAlias = AccountStore[AccountAdmission]
"""Where admission keeps AccountAdmission per account_id (the one store protocol,
streams/engine/store.py): a dict in tests and replay, the partition's cache in the worker."""


class DictAdmissionState(dict[str, AccountAdmission]):
    """AdmissionState in a dict, for replay and tests."""


# --------------------------------------------------------------------------- the policies


class Admission:
    """Applies the future, duplicate and late policies to decoded events, in that order."""

    def __init__(
        self,
        config: PolicyConfig,
        state: AdmissionState | None = None,
        clock: Callable[[], int] | None = None,
        may_repeat: Container[int] | None = None,
    ) -> None:
        self.config = config
        self.state: AdmissionState = state if state is not None else DictAdmissionState()
        self.clock = clock
        self.may_repeat = may_repeat
        """The keys (`id_key`) of the only ids that can occur more than once, when the
        whole input is known in advance (replay of files: streams/ingest/repeated_ids.py);
        the other ids are neither looked up nor remembered. None: any id can repeat."""
        # type -> how far behind stream time it may be (None: never too late) / how long its id is kept
        self.late_horizon_ms: dict[str, int | None] = {}
        self.keep_ms: dict[str, int] = {}
        for event_type in EVENT_TYPES:
            if event_type in ACTIVITY_POLICY_TYPES:
                horizon: int | None = config.activity_horizon_ms
            elif event_type in SURVEY_TYPES:
                horizon = config.survey_horizon_ms
            else:
                horizon = None
            self.late_horizon_ms[event_type] = horizon
            self.keep_ms[event_type] = config.dedup_long_lived_ms if horizon is None else horizon

    def admit(self, event: Event) -> AdmissionVerdict:
        """ACCEPTED (state updated), DUPLICATE, or a Rejection (future_timestamp, too_late)."""
        occurred_at = event.occurred_at
        if self.clock is not None:
            now = self.clock()
            if occurred_at > now + self.config.future_tolerance_ms:
                return Rejection(
                    "future_timestamp",
                    f"occurred_at is {occurred_at - now} ms ahead of the clock, more than the tolerance of {self.config.future_tolerance_ms} ms.",
                )
        account = self.state.get(event.account_id)
        if account is None:
            account = AccountAdmission()
        lane = account.lane(TOPIC_OF_TYPE[event.type])
        data = event.event_id.encode()
        key = xxh3_64_intdigest(data)
        ids = lane.ids
        remember = self.may_repeat is None or key in self.may_repeat
        entry = ids.find(key, data) if remember else -1
        stream_time = lane.stream_time
        if entry >= 0 and stream_time is not None and ids.until(entry) >= stream_time:
            return DUPLICATE
        horizon = self.late_horizon_ms[event.type]
        if horizon is not None and stream_time is not None and stream_time - occurred_at > horizon:
            return Rejection(
                "too_late",
                f"occurred_at is {stream_time - occurred_at} ms behind the account's stream time on its topic, more than the {event.type} horizon of {horizon} ms.",
            )
        lane.accept_found(
            key, data, entry, occurred_at, self.keep_ms[event.type], horizon is None, remember
        )
        self.state[event.account_id] = account
        return ACCEPTED
