"""A long list taken a slice at a time, the event loop serving other work between slices.

The worker's event loop also answers /accounts and /metrics: a step over tens of thousands
of items (a checkpoint's acknowledgements, a commit's rows) would hold every request for
its whole length."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")


async def in_turns(items: Sequence[T], size: int) -> AsyncIterator[Sequence[T]]:
    """`items` in consecutive slices of `size`, with a turn of the event loop before each
    slice but the first."""
    for start in range(0, len(items), size):
        if start:
            await asyncio.sleep(0)
        yield items[start : start + size]
