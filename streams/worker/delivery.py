"""Which delivered Kafka messages the worker may apply: each exactly once, in offset order.

Faust can hand a message over twice (it seeks back to the committed offsets after a
rebalance while records fetched before are still on their way) and can lose one on the way
(records of a fetch are dropped when the flow stops or the generation changes in the middle
of it, or when a partition is not active). And a topic's offsets are not contiguous in
general: a transactional producer's commit markers take offsets, an aborted transaction
leaves a hole (read_committed never returns its records), compaction and retention or
DeleteRecords remove records. So a jump in offsets is either records lost on the way (read
them again) or offsets the log has no record for (go on), and only the consumer's fetcher
knows which: it skips markers, aborted records and removed ones itself.

`FetchTrail` keeps that knowledge. It hears every list of records the fetcher returns,
with the fetcher's position before and after (in the consumer's thread, where fetches and
seeks take turns: streams/worker/faust/hooks.py), and notes each jump the fetcher made, from the
offset it was to return next to the one it did return. The worker keeps, per source partition, the offset it expects next
(`DeliveryGuard`) and judges every message against it:

- APPLY: the expected offset (after a rebalance, the first expected offset is the one
  the consumer was last sought to before anything was applied: the committed offset);
- JUMP: above the expected offset, and the fetcher itself went from the expected offset
  straight to this one: no record lies in between (markers, an aborted transaction,
  records removed); apply it, and let Faust commit over the hole;
- SEEN: below the expected offset, already applied in this generation: let it go;
- GAP: above the expected offset without such a jump: records went missing on the way, so
  the worker rewinds the partition to the expected offset and lets this one go; it comes
  again;
- UNKNOWN: no start offset yet (after a rebalance, before the seek to the committed
  offsets): let it go; the seek brings it again.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping, Sequence


class DeliveryVerdict(enum.Enum):
    APPLY = "apply"
    JUMP = "jump"
    SEEN = "seen"
    GAP = "gap"
    UNKNOWN = "unknown"


class FetchTrail:
    """The jumps the fetcher made, per partition: {offset it was to return next: offset it
    returned}. Fed from the consumer's thread, after each fetch (`fetched`), and read from
    the event loop; each call is a few dict operations, atomic under the GIL."""

    MAX_NOTES = 100_000  # per partition; only records dropped on the way leave notes behind

    def __init__(self) -> None:
        self._next: dict[Hashable, int] = {}  # the offset the fetcher was to return next
        self._end: dict[Hashable, int] = {}  # the fetcher's position after its last fetch
        self._jumps: dict[Hashable, dict[int, int]] = {}

    def fetched(
        self, tp: Hashable, start: int | None, offsets: Sequence[int], end: int | None
    ) -> None:
        """The fetcher went from position `start` to position `end` and returned the records
        of `tp` at `offsets` (in order): the log holds no other record in between. When
        `start` is not where the last fetch ended, the consumer was sought (or its position
        reset): notes of `tp` from before are dropped and the trail starts again at `start`."""
        if start is None or self._end.get(tp) != start or tp not in self._next:
            self._jumps.pop(tp, None)
            following = start
        else:
            following = self._next[tp]
        jumps = self._jumps.get(tp)
        for offset in offsets:
            if following is not None and offset > following:
                if jumps is None:
                    jumps = self._jumps.setdefault(tp, {})
                jumps[following] = offset
            following = offset + 1
        if jumps is not None and len(jumps) > self.MAX_NOTES:
            jumps.clear()  # at worst a rewind more, never a jump taken wrongly
        if following is None or end is None:
            self._next.pop(tp, None)
            self._end.pop(tp, None)
        else:
            self._next[tp] = following
            self._end[tp] = end

    def take_jump(self, tp: Hashable, start: int) -> int | None:
        """Where the fetcher went from `start`, if it jumped there (the note is used up)."""
        jumps = self._jumps.get(tp)
        return jumps.pop(start, None) if jumps else None

    def forget(self, tp: Hashable, below: int) -> None:
        """Drop the notes of jumps that start below `below` (already judged)."""
        jumps = self._jumps.get(tp)
        if jumps:
            for start in [start for start in jumps if start < below]:
                del jumps[start]


class DeliveryGuard:
    """The next offset the worker expects, per partition (keys are topic-partitions)."""

    def __init__(self, trail: FetchTrail | None = None) -> None:
        self._expected: dict[Hashable, int] = {}
        self._applied: set[Hashable] = set()  # partitions applied to since the last reset
        self.trail = trail if trail is not None else FetchTrail()

    def reset(self) -> None:
        """Forget every partition (a rebalance: the committed offsets are the truth again)."""
        self._expected.clear()
        self._applied.clear()

    def start(self, offsets: Mapping[Hashable, int]) -> None:
        """The consumer was sought to these offsets: expect exactly them next, where nothing
        was applied since the last reset (elsewhere the consumer hands over again what was
        applied, and SEEN lets it go). The latest seek counts: after a rebalance the
        consumer is sought at the assignment and again after the recovery, and the first
        can read a committed offset from before a commit Kafka has not made visible yet
        (a transactional offset commit made during the revocation)."""
        for tp, offset in offsets.items():
            if tp not in self._applied:
                self._expected[tp] = offset

    def restart(self, tp: Hashable, offset: int) -> None:
        """The worker itself sought `tp` to `offset`."""
        self._expected[tp] = offset
        self.trail.forget(tp, offset)

    def expected(self, tp: Hashable) -> int | None:
        return self._expected.get(tp)

    def judge(self, tp: Hashable, offset: int) -> DeliveryVerdict:
        expected = self._expected.get(tp)
        if expected is None:
            return DeliveryVerdict.UNKNOWN
        if offset < expected:
            return DeliveryVerdict.SEEN
        verdict = DeliveryVerdict.APPLY
        if offset > expected:
            if self.trail.take_jump(tp, expected) != offset:
                return DeliveryVerdict.GAP
            verdict = DeliveryVerdict.JUMP
        self._expected[tp] = offset + 1
        self._applied.add(tp)
        return verdict
