"""An account's stored state in parts, so that no changelog row grows with the account.

One row per account grew with its users, tickets and remembered event ids: 20,000 users
logging in on half the days made a 22 MB row in 30 days, past the 16 MiB the changelog
allows, and every checkpoint rewrote it whole. The worker stores an account as parts
instead, each one changelog row under its own key:

    key  = PART_MARK | u16 length of account_id | account_id (UTF-8) | tag | name
    tags = b"h"  header: the engine state but users and tickets (clocks, milestones,
                 survey answers, revenue, journey, CRM facts) and each admission lane's
                 stream time
           b"u"  one user (name: user_id): its activity, sessions and feature use
           b"k"  one ticket (name: ticket_id)
           b"i"  a group of at most 64 event ids one admission lane remembers, the ids
                 themselves with their forget-after times (name: topic, NUL, the group
                 number as a decimal number; streams/ingest/remembered_ids.py)
           b"a"  (read only) the ids of one lane forgotten within one hour, as 64-bit
                 hashes alone (name: topic, NUL, the hour), as earlier versions stored
                 them: read, and replaced by b"i" groups when the account is written

Every part is bounded by something other than the account's size: a user by its own
35-day history, a ticket by its events, an id group by its 64 ids. Grouping the ids by
count rather than by time keeps a lane with few events (a few tickets or invoices a
month, remembered 400 days) in one or two rows, where groups by hour made one row per
event.
The keys are not account ids, so the worker places each part in its account's partition
itself (`account_of`), and Faust's table never hashes them.

Accounts stored by earlier versions as one row are still read (`one_row`) and replaced by
parts the next time the account is written:

    row = ROW_FORMAT (2) | u32 length of admission bytes | admission bytes | engine bytes

or, format 1, that row without its first byte, zlib-compressed.

The values inside: the engine state's JSON (header, user, ticket) is
streams/engine/state_codec.py; the admission lanes and id groups are
streams/ingest/admission.py's. This module owns only the keys and the row framing.

At a checkpoint only the parts whose bytes changed are written (`AccountParts.rows`
compares a 64-bit hash of each part with what was last written or loaded); a part that is
gone (a pruned user, a ticket forgotten, an hour of ids expired) is deleted with a
tombstone, and so is a row of the earlier one-row format once its account is written again.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from xxhash import xxh3_64_intdigest

from streams.engine import state_codec, support
from streams.engine.account import AccountState
from streams.engine.users import User
from streams.ingest.admission import AccountAdmission, LaneAdmission

PART_MARK = b"\x01"
_LENGTH = struct.Struct(">H")
HEADER, USER, TICKET, IDS, HASHED_IDS = b"h", b"u", b"k", b"i", b"a"

Row = tuple[bytes, bytes | None]

ROW_FORMAT = b"\x02"
"""The first byte of a one-row account (format 2)."""
ROW_FORMAT_ZLIB = b"\x78"
"""The first byte of a zlib stream: a one-row account of format 1."""
_ROW_LENGTH = struct.Struct(">I")


def one_row(account_id: str, value: bytes) -> tuple[bytes, bytes]:
    """(admission bytes, engine bytes) of an account stored as one row."""
    if value[:1] == ROW_FORMAT_ZLIB:
        value = ROW_FORMAT + zlib.decompress(value)
    elif value[:1] != ROW_FORMAT:
        raise ValueError(f"row of {account_id!r} has unknown format {value[:1]!r}")
    (length,) = _ROW_LENGTH.unpack_from(value, 1)
    start = 1 + _ROW_LENGTH.size
    return value[start : start + length], value[start + length :]


def part_key(account_id: str, part: bytes) -> bytes:
    """The table key of one part (tag and name) of an account."""
    account = account_id.encode()
    return b"".join((PART_MARK, _LENGTH.pack(len(account)), account, part))


def account_of(key: bytes) -> tuple[str, bytes] | None:
    """(account_id, tag and name) of a part's key; None for a key of another kind."""
    if key[:1] != PART_MARK or len(key) < 3:
        return None
    (length,) = _LENGTH.unpack_from(key, 1)
    return key[3 : 3 + length].decode(), key[3 + length :]


@dataclass(frozen=True, slots=True)
class IdGroup:
    """A group of the ids a lane remembers, as a part: encoded only if its version is not
    the one last written."""

    lane: LaneAdmission
    group: int
    version: object


Part = bytes | User | IdGroup
"""A part's value: bytes, or a user or an id group (encoded only if it changed since it
was written)."""


def split(engine: AccountState | None, admission: AccountAdmission | None) -> dict[bytes, Part]:
    """The parts (tag and name -> bytes) of an account's state; a user's part is the user
    itself and an id group's an `IdGroup`, so that unchanged ones (their version is the
    one last written) cost neither encoding nor hashing at a checkpoint.
    `AccountParts.rows` encodes the changed ones at once: the objects are live."""
    lanes = admission.lanes if admission is not None else {}
    parts: dict[bytes, Part] = {
        HEADER: orjson.dumps(
            {
                "e": None if engine is None else state_codec.header_obj(engine),
                "a": {topic: lane.stream_time for topic, lane in lanes.items()},
            }
        )
    }
    if engine is not None:
        for user_id, user in engine.users.items():
            parts[USER + user_id.encode()] = user  # encoded by AccountParts.rows, if changed
        for ticket_id, ticket in engine.tickets.items():
            parts[TICKET + ticket_id.encode()] = orjson.dumps(state_codec.ticket_obj(ticket))
    for topic, lane in lanes.items():
        prefix = IDS + topic.encode() + b"\x00"
        for group, version in lane.group_versions().items():
            parts[prefix + str(group).encode()] = IdGroup(lane, group, version)
    return parts


def encoded(value: Part) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, IdGroup):
        return value.lane.group_bytes(value.group)
    return orjson.dumps(state_codec.user_obj(value))


def version_of(value: User | IdGroup) -> object:
    """A token of the part's value, the same object while it is unchanged."""
    return value.version if isinstance(value, IdGroup) else state_codec.user_version(value)


def join(parts: Mapping[bytes, bytes]) -> tuple[AccountState | None, AccountAdmission]:
    """The account state of its parts (the inverse of `split`)."""
    if HEADER not in parts:
        raise ValueError("an account's parts without their header")
    header = orjson.loads(parts[HEADER])
    users: dict[str, User] = {}
    tickets: dict[str, support.Ticket] = {}
    groups: dict[str, list[tuple[int, bytes]]] = {}
    hashed: dict[str, list[bytes]] = {}
    for part, data in parts.items():
        tag, name = part[:1], part[1:]
        if tag == USER:
            users[name.decode()] = state_codec.user_from_obj(orjson.loads(data))
        elif tag == TICKET:
            tickets[name.decode()] = state_codec.ticket_from_obj(orjson.loads(data))
        elif tag == IDS:
            topic, _, number = name.partition(b"\x00")
            groups.setdefault(topic.decode(), []).append((int(number), data))
        elif tag == HASHED_IDS:
            hashed.setdefault(name.split(b"\x00", 1)[0].decode(), []).append(data)
        elif tag != HEADER:
            raise ValueError(f"unknown part {part[:40]!r}")
    engine = (
        None
        if header["e"] is None
        else state_codec.account_from_header(header["e"], users, tickets)
    )
    admission = AccountAdmission(
        {
            topic: LaneAdmission.from_groups(
                stream_time, groups.get(topic, ()), hashed.get(topic, ())
            )
            for topic, stream_time in header["a"].items()
        }
    )
    return engine, admission


class AccountParts:
    """What was last written (or loaded) of each account of a partition: key -> hash,
    and the version of each user and id group last written (the same token means the
    same value)."""

    def __init__(self) -> None:
        self.written: dict[str, dict[bytes, int]] = {}
        self.versions: dict[str, dict[bytes, object]] = {}

    def loaded(self, account_id: str, rows: Iterable[tuple[bytes, bytes]]) -> None:
        self.written[account_id] = {key: xxh3_64_intdigest(value) for key, value in rows}
        self.versions.pop(account_id, None)

    def rows(self, account_id: str, parts: Mapping[bytes, Part] | None) -> list[Row]:
        """The rows that bring the stored account to `parts` (None: the account is gone):
        the parts that changed, then tombstones for the keys no longer used."""
        old = self.written.pop(account_id, {})
        old_versions = self.versions.pop(account_id, {})
        new: dict[bytes, int] = {}
        versions: dict[bytes, object] = {}
        rows: list[Row] = []
        for part, value in (parts or {}).items():
            key = part_key(account_id, part)
            if not isinstance(value, bytes):
                version = versions[key] = version_of(value)
                if old_versions.get(key) is version and key in old:  # unchanged
                    new[key] = old[key]
                    continue
            data = encoded(value)
            digest = new[key] = xxh3_64_intdigest(data)
            if old.get(key) != digest:
                rows.append((key, data))
        rows += [(key, None) for key in old if key not in new]
        if new:
            self.written[account_id] = new
            self.versions[account_id] = versions
        return rows
