"""A long list taken a slice at a time, the event loop serving other work between slices.

The worker's event loop also answers /accounts and /metrics: a step over tens of thousands
of items (a checkpoint's acknowledgements, a commit's rows) would hold every request for
its whole length.

A turn is given as several passes of the event loop, not one: a request that arrived while
the worker was busy needs a pass for each of its steps (the listener's accept, the
connection's task, its bytes, the handler) before its answer is written, and with one
pass per turn each step waited behind the next busy stretch (docs/performance.md,
"Account layer, live")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Passes of the event loop in one turn: the steps of a request above. A pass with nothing
# else to run costs a few microseconds.
LOOP_PASSES = 4


async def give_turn() -> None:
    """Let the event loop run everything else that is ready, LOOP_PASSES times."""
    for _ in range(LOOP_PASSES):
        await asyncio.sleep(0)


async def in_turns(items: Sequence[T], size: int) -> AsyncIterator[Sequence[T]]:
    """`items` in consecutive slices of `size`, with a turn of the event loop before each
    slice but the first."""
    for start in range(0, len(items), size):
        if start:
            await give_turn()
        yield items[start : start + size]
