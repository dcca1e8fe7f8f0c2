"""The event ids one admission lane remembers: exact, compact, forgotten by stream time.

Admission (streams/ingest/admission.py) asks, per (account, topic): was this event_id
accepted, and is it still remembered, i.e. has the lane's stream time not passed its
forget-after time yet? Each id is kept with no Python object of its own, in flat arrays:

- `_keys` (u64: xxh3 of the id's UTF-8 bytes, `id_key`), `_untils` (i64: forget-after,
  epoch ms), `_ends` (u32: where the id's bytes end in `_blob`), `_groups` (u32: the
  stored group the id belongs to): one entry per id, in arrival order;
- `_blob`: the ids' UTF-8 bytes, one after another;
- `_slots`: an open-addressing index over the entries (linear probing, a power of two in
  size, at most half full); a slot holds entry + 1, 0 is free. u16 while the index has at
  most 65,536 slots (a lane of up to about 21,800 ids: every lane but the busiest), else u32.

Exact, not probabilistic: the 64-bit key only finds the candidates, and a candidate is
the id only when its stored bytes are equal; two ids that share a key are two entries.
(An entry restored from state written before the ids were kept, which stored the key
alone, has no bytes: its key decides, as it did when that state was written.)

Forgetting is lazy and changes no verdict: an entry whose forget-after time is before
the stream time is not remembered (the caller compares `until(entry)`). Entries are
looked over when their number reaches a limit, 1.5 times what was kept at the last look:
if any has been forgotten, the kept ones are copied into fresh arrays; the index grows
(or shrinks) to stay at most half full at the new limit. So at most half again as many
entries are held as were remembered at the last look, each at 24 bytes, the id's bytes
and 6 to 12 bytes of index (about 50 bytes for a 16-character id, against about 190 in
a dict of ints plus a heap of tuples), and a new id costs O(1) amortized.

Stored groups (the worker keeps each as one changelog row, streams/worker/state_parts.py):
ids are put in groups of at most GROUP_SIZE in the order they are accepted; an id keeps
its group. A group's stored form holds its ids still remembered, so it changes when it
gains an id or one of its ids is forgotten, and it is gone once all of them are. Groups
by count, not by time: a lane of an account with few events (a few tickets or invoices a
month, each remembered 400 days) is one or two rows whatever the horizon, and a busy lane
is rows of bounded size. Ids are accepted roughly in the order they are forgotten, so the
groups are forgotten roughly in order too. Once asked for (`group_versions`, by the worker
only), each group keeps a token of its stored form until it changes, so that a checkpoint
encodes only the groups that did; the form itself is not kept (it held 10 bytes plus the
id, once more, per remembered id).
"""

from __future__ import annotations

import itertools
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

from xxhash import xxh3_64_intdigest

GROUP_SIZE = 64
"""At most this many ids in one stored group (a group of 64 ids of 36 characters: 3 KB)."""
_MIN_SLOTS = 8
_MIN_LIMIT = 4
_LITTLE = sys.byteorder == "little"
_COUNT = struct.Struct("<I")
_KEY = struct.Struct("<Q")


def id_key(event_id: str) -> int:
    """The 64-bit key an event id is found by: xxh3 of its UTF-8 bytes. Only a way to find
    it: the id's bytes are kept too and compared."""
    return xxh3_64_intdigest(event_id.encode())


_U16_SLOTS = 1 << 16
"""The largest index kept in u16: it holds at most half as many entries, 32,768, so an
entry number + 1 always fits."""


def _index(size: int) -> array[int]:
    """A free index of `size` slots (a power of two), in the narrowest type that fits."""
    if size <= _U16_SLOTS:
        return array("H", bytes(2 * size))
    return array("I", bytes(4 * size))


def _little(values: array[int]) -> bytes:
    if not _LITTLE:
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_little(typecode: str, data: bytes | memoryview) -> array[int]:
    values = array(typecode)
    values.frombytes(data)
    if not _LITTLE:
        values.byteswap()
    return values


class RememberedIds:
    """Event ids with their forget-after times; see the module header."""

    __slots__ = (
        "_blob",
        "_ends",
        "_groups",
        "_keys",
        "_limit",
        "_mask",
        "_open",
        "_open_left",
        "_slots",
        "_untils",
        "_versions",
    )

    def __init__(self) -> None:
        self._keys: array[int] = array("Q")
        self._untils: array[int] = array("q")
        self._ends: array[int] = array("I")
        self._groups: array[int] = array("I")
        self._blob = bytearray()
        self._slots = _index(_MIN_SLOTS)
        self._mask = _MIN_SLOTS - 1
        self._limit = _MIN_LIMIT
        self._open = 0  # the group new ids go to
        self._open_left = GROUP_SIZE  # how many more it takes
        # group -> (earliest forget-after in it, a token of its stored form), while unchanged
        self._versions: dict[int, tuple[int, object]] = {}

    def stored(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._keys)

    def live(self, stream_time: int) -> int:
        """Entries still remembered at `stream_time`."""
        return sum(1 for until in self._untils if until >= stream_time)

    def find(self, key: int, data: bytes) -> int:
        """The entry of the id `data` (its UTF-8 bytes; `key` its xxh3), or -1."""
        slots, keys, mask = self._slots, self._keys, self._mask
        at = key & mask
        while True:
            entry = slots[at]
            if not entry:
                return -1
            entry -= 1
            if keys[entry] == key:
                ends = self._ends
                start = ends[entry - 1] if entry else 0
                end = ends[entry]
                if start == end or self._blob[start:end] == data:
                    return entry
            at = (at + 1) & mask

    def until(self, entry: int) -> int:
        return self._untils[entry]

    def remember(self, key: int, data: bytes, until: int, entry: int, stream_time: int) -> None:
        """Remember the id until `until`: in place when `entry` (from `find`) is its
        entry, else as a new one; `stream_time` tells which entries may be dropped."""
        if entry >= 0:
            self._untils[entry] = until
            self._versions.pop(self._groups[entry], None)
            return
        if len(self._keys) >= self._limit:
            self._make_room(stream_time)
        self._append(key, data, until, self._assign())

    def _assign(self) -> int:
        """The group of a new id: the open one, or the next once it is full."""
        if self._open_left <= 0:
            self._open += 1
            self._open_left = GROUP_SIZE
        self._open_left -= 1
        self._versions.pop(self._open, None)
        return self._open

    def _append(self, key: int, data: bytes, until: int, group: int) -> None:
        keys = self._keys
        entry = len(keys) + 1
        keys.append(key)
        self._untils.append(until)
        self._groups.append(group)
        blob = self._blob
        blob += data
        self._ends.append(len(blob))
        slots, mask = self._slots, self._mask
        at = key & mask
        while slots[at]:
            at = (at + 1) & mask
        slots[at] = entry

    def _make_room(self, stream_time: int) -> None:
        """Drop the entries forgotten at `stream_time` (when there are any), then allow
        half as many entries again as are left before the next look, with an index at
        most half full."""
        dropped = bool(self._untils) and min(self._untils) < stream_time
        if dropped:
            self._drop_forgotten(stream_time)
        held = len(self._keys)
        self._limit = max(_MIN_LIMIT, held + held // 2)
        if dropped or 2 * self._limit > len(self._slots):
            self._reindex()  # entries renumbered, or more of them to come

    def _drop_forgotten(self, stream_time: int) -> None:
        keys, untils, ends, groups, blob = (
            self._keys,
            self._untils,
            self._ends,
            self._groups,
            self._blob,
        )
        live = [entry for entry, until in enumerate(untils) if until >= stream_time]
        kept = [blob[ends[entry - 1] if entry else 0 : ends[entry]] for entry in live]
        self._keys = array("Q", [keys[entry] for entry in live])
        self._untils = array("q", [untils[entry] for entry in live])
        self._groups = array("I", [groups[entry] for entry in live])
        self._blob = bytearray().join(kept)
        self._ends = array("I", itertools.accumulate(len(data) for data in kept))

    def _reindex(self) -> None:
        """A fresh index for the entries, sized for `_limit` of them at load 1/2."""
        size = _MIN_SLOTS
        while size < 2 * self._limit:
            size *= 2
        slots, mask = _index(size), size - 1
        for entry, key in enumerate(self._keys, 1):
            at = key & mask
            while slots[at]:
                at = (at + 1) & mask
            slots[at] = entry
        self._slots, self._mask = slots, mask

    def items(self, stream_time: int | None = None) -> Iterator[tuple[int, int, bytes]]:
        """(key, until, id bytes; b"" when only the key is known) of every stored entry,
        or of those still remembered at `stream_time`."""
        ends, blob = self._ends, self._blob
        start = 0
        for key, until, end in zip(self._keys, self._untils, ends, strict=True):
            if stream_time is None or until >= stream_time:
                yield key, until, bytes(blob[start:end])
            start = end

    # ------------------------------------------------------------------ stored groups

    def group_versions(self, stream_time: int) -> dict[int, object]:
        """Group number -> a token of its stored form at `stream_time` (`group_bytes`): the
        same object while the group neither gains an id nor loses one to forgetting;
        groups with no id still remembered are left out."""
        groups, untils, versions = self._groups, self._untils, self._versions
        out: dict[int, object] = {}
        at, count = 0, len(groups)
        while at < count:  # entries are in group order: each group is one run of them
            group = groups[at]
            end = bisect_right(groups, group, at)
            kept = versions.get(group)
            if kept is None or kept[0] < stream_time:
                earliest = min(
                    (until for until in untils[at:end] if until >= stream_time), default=None
                )
                if earliest is None:
                    versions.pop(group, None)
                    kept = None
                else:
                    kept = versions[group] = (earliest, object())
            if kept is not None:
                out[group] = kept[1]
            at = end
        if len(versions) > len(out):
            for gone in [group for group in versions if group not in out]:
                del versions[gone]
        return out

    def group_bytes(self, group: int, stream_time: int) -> bytes:
        """The stored form of a group `group_versions` names (`_group_form`)."""
        start = bisect_left(self._groups, group)
        form = self._group_form(start, bisect_right(self._groups, group, start), stream_time)
        if form is None:
            raise KeyError(f"no id of group {group} is remembered at {stream_time}")
        return form[1]

    def groups(self, stream_time: int) -> dict[int, bytes]:
        """Group number -> stored form, of every group `group_versions` names."""
        return {
            group: self.group_bytes(group, stream_time)
            for group in self.group_versions(stream_time)
        }

    def _group_form(self, start: int, end: int, stream_time: int) -> tuple[int, bytes] | None:
        """(earliest forget-after, bytes) of the remembered entries in [start, end):
        n (u32), n forget-after times (i64), n byte lengths (u16), then each id's UTF-8
        bytes one after another, little-endian. An id known by its key alone has length 0
        and its key (u64) in place of its bytes."""
        untils, ends, blob, keys = self._untils, self._ends, self._blob, self._keys
        kept = [entry for entry in range(start, end) if untils[entry] >= stream_time]
        if not kept:
            return None
        times = array("q", [untils[entry] for entry in kept])
        lengths = array("H")
        pieces = []
        for entry in kept:
            first, last = ends[entry - 1] if entry else 0, ends[entry]
            lengths.append(last - first)
            pieces.append(blob[first:last] if last > first else _KEY.pack(keys[entry]))
        form = b"".join(
            (_COUNT.pack(len(kept)), _little(times), _little(lengths), b"".join(pieces))
        )
        return min(times), form

    @classmethod
    def from_groups(
        cls, groups: Iterable[tuple[int, bytes]], key_only: Iterable[tuple[int, int]] = ()
    ) -> RememberedIds:
        """The ids of stored groups ((number, bytes), as `groups` gives them), then ids
        known by their key alone ((key, until), from state of earlier formats), which join
        groups as new ids do. Raises ValueError on a truncated or corrupt group."""
        ids = cls()
        for group, data in sorted(groups):
            ids._open = group
            ids._open_left = GROUP_SIZE
            for key, until, data_of_id in _group_entries(data):
                ids._open_left -= 1
                ids._raw_append(key, data_of_id, until, group)
        for key, until in key_only:
            ids._raw_append(key, b"", until, ids._assign())
        held = len(ids._keys)
        ids._limit = max(_MIN_LIMIT, held + held // 2)
        ids._reindex()
        return ids

    def _raw_append(self, key: int, data: bytes, until: int, group: int) -> None:
        """Append without the index (from_groups builds it once at the end)."""
        self._keys.append(key)
        self._untils.append(until)
        self._groups.append(group)
        self._blob += data
        self._ends.append(len(self._blob))

    # ------------------------------------------------------------------ one-row byte form

    def to_bytes(self, stream_time: int | None) -> tuple[int, bytes]:
        """(n, bytes) of the entries remembered at `stream_time` (all when None): n keys
        (u64), n untils (i64), n ends (u32), then the ids' bytes; little-endian. The
        one-row form of admission state (format 4), which keeps no groups."""
        keys, untils, ends = array("Q"), array("q"), array("I")
        blob = bytearray()
        for key, until, data in self.items(stream_time):
            keys.append(key)
            untils.append(until)
            blob += data
            ends.append(len(blob))
        return len(keys), b"".join((_little(keys), _little(untils), _little(ends), bytes(blob)))

    @classmethod
    def from_arrays(
        cls, keys: array[int], untils: array[int], ends: array[int], blob: bytes
    ) -> RememberedIds:
        """From the parts `to_bytes` writes (`ends` all 0 and `blob` empty: keys alone);
        the ids join groups as new ids do."""
        ids = cls()
        start = 0
        for key, until, end in zip(keys, untils, ends, strict=True):
            ids._raw_append(key, blob[start:end], until, ids._assign())
            start = end
        held = len(keys)
        ids._limit = max(_MIN_LIMIT, held + held // 2)
        ids._reindex()
        return ids


def _group_entries(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(key, until, id bytes or b"") of one stored group (see `_group_form`)."""
    view = memoryview(data)
    if len(view) < _COUNT.size:
        raise ValueError("truncated group of remembered ids")
    (count,) = _COUNT.unpack_from(view, 0)
    at = _COUNT.size + 10 * count
    if len(view) < at:
        raise ValueError("truncated group of remembered ids")
    untils = _from_little("q", view[_COUNT.size : _COUNT.size + 8 * count])
    lengths = _from_little("H", view[_COUNT.size + 8 * count : at])
    entries = []
    for until, length in zip(untils, lengths, strict=True):
        if length:
            data_of_id = bytes(view[at : at + length])
            if len(data_of_id) != length:
                raise ValueError("truncated group of remembered ids")
            entries.append((xxh3_64_intdigest(data_of_id), until, data_of_id))
            at += length
        else:
            if len(view) < at + _KEY.size:
                raise ValueError("truncated group of remembered ids")
            (key,) = _KEY.unpack_from(view, at)
            entries.append((key, until, b""))
            at += _KEY.size
    if at != len(view):
        raise ValueError("corrupt group of remembered ids: bytes left over")
    return iter(entries)
