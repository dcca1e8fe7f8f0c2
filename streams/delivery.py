"""Which delivered Kafka messages the worker may apply: each exactly once, in offset order.

Faust can hand a message over twice (it seeks back to the committed offsets after a
rebalance while records fetched before are still on their way) and can lose one on the way
(a record fetched while its partition was paused is dropped, and a later jump in offsets is
taken for a gap that is safe to commit). The worker therefore keeps, per source partition,
the offset it expects next and judges every message against it:

- APPLY: the expected offset (after a rebalance, the first expected offset is the one
  the consumer was sought to: the committed offset);
- SEEN: below the expected offset, already applied in this generation: let it go;
- GAP: above the expected offset on a topic whose offsets are contiguous (every source
  topic, written without transactions): messages went missing, so the worker rewinds the
  partition to the expected offset and lets this one go; it comes again;
- UNKNOWN: no start offset yet (after a rebalance, before the seek to the committed
  offsets): let it go; the seek brings it again.

The re-key topic is written in transactions, whose commit markers take offsets, so a jump
there is normal and is applied.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping


class Verdict(enum.Enum):
    APPLY = "apply"
    SEEN = "seen"
    GAP = "gap"
    UNKNOWN = "unknown"


class DeliveryGuard:
    """The next offset the worker expects, per partition (keys are topic-partitions)."""

    def __init__(self) -> None:
        self._expected: dict[Hashable, int] = {}

    def reset(self) -> None:
        """Forget every partition (a rebalance: the committed offsets are the truth again)."""
        self._expected.clear()

    def start(self, offsets: Mapping[Hashable, int]) -> None:
        """The consumer was sought to these offsets: expect exactly them next, where nothing
        was applied since the last reset (elsewhere the consumer hands over again what was
        applied, and SEEN lets it go)."""
        for tp, offset in offsets.items():
            self._expected.setdefault(tp, offset)

    def restart(self, tp: Hashable, offset: int) -> None:
        """The worker itself sought `tp` to `offset`."""
        self._expected[tp] = offset

    def expected(self, tp: Hashable) -> int | None:
        return self._expected.get(tp)

    def judge(self, tp: Hashable, offset: int, *, jumps_allowed: bool) -> Verdict:
        expected = self._expected.get(tp)
        if expected is None:
            return Verdict.UNKNOWN
        if offset < expected:
            return Verdict.SEEN
        if offset > expected and not jumps_allowed:
            return Verdict.GAP
        self._expected[tp] = offset + 1
        return Verdict.APPLY
