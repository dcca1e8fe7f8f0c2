"""A turn of the worker's busy stretches lets a request through all its steps.

A request is a chain of steps, each scheduled by the one before (the listener's accept,
the connection's task, its bytes, the handler): with one pass of the event loop per turn,
each step waited behind another busy stretch. Checked on the loops the worker runs
(uvloop) and the standard one, and over a real socket with aiohttp."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable

import pytest
import uvloop
from aiohttp import web

from streams.worker.turns import LOOP_PASSES, give_turn, in_turns

LOOPS: list[Callable[[], asyncio.AbstractEventLoop]] = [
    asyncio.new_event_loop,
    uvloop.new_event_loop,
]


@pytest.mark.parametrize("new_loop", LOOPS, ids=["asyncio", "uvloop"])
def test_a_chain_of_steps_completes_within_one_turn(new_loop):
    request_steps = 4  # accept, the connection's task, its bytes, the handler
    done: list[int] = []

    def step(n: int) -> None:
        done.append(n)
        if n < request_steps:
            asyncio.get_running_loop().call_soon(step, n + 1)

    async def busy() -> list[int]:
        asyncio.get_running_loop().call_soon(step, 1)  # arrives during a busy stretch
        await give_turn()
        return list(done)  # what had run when the busy task went on

    loop = new_loop()
    try:
        assert loop.run_until_complete(busy()) == list(range(1, request_steps + 1))
    finally:
        loop.close()


@pytest.mark.parametrize("new_loop", LOOPS, ids=["asyncio", "uvloop"])
def test_a_request_over_a_socket_is_answered_between_two_busy_stretches(new_loop):
    """The busy task holds the loop for whole stretches (as the agent does, 5 ms at a time)
    and gives a turn between two; the request is sent while a stretch runs. Counted in
    stretches, not timed: its answer must come before the next stretch ends."""
    stretches = 0

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=str(stretches))

    async def scenario() -> tuple[int, int]:
        nonlocal stretches
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        loop = asyncio.get_running_loop()
        try:
            answer = loop.run_in_executor(
                None, lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
            )
            sent_during = stretches
            while not answer.done():
                _hold_the_loop(0.05)  # a busy stretch, long enough for the request to arrive
                stretches += 1
                await give_turn()
            return sent_during, int(await answer)
        finally:
            await runner.cleanup()

    loop = new_loop()
    try:
        sent_during, answered_after = loop.run_until_complete(scenario())
    finally:
        loop.close()
    # The request arrives during the first stretch (or the second, if the client thread is
    # slow to start); its answer is written in the turn right after that stretch.
    assert answered_after - sent_during <= 2


def _hold_the_loop(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        time.sleep(0.001)  # lets the client thread send meanwhile (the GIL is released)


def test_in_turns_gives_a_turn_between_slices():
    ran: list[str] = []

    async def scenario() -> None:
        async def other() -> None:
            while True:
                ran.append("other")
                await asyncio.sleep(0)

        task = asyncio.ensure_future(other())
        await asyncio.sleep(0)
        ran.clear()
        async for part in in_turns(list(range(5)), 2):
            ran.append(f"slice {list(part)}")
        task.cancel()

    asyncio.run(scenario())
    assert ran == (
        ["slice [0, 1]"]
        + ["other"] * LOOP_PASSES
        + ["slice [2, 3]"]
        + ["other"] * LOOP_PASSES
        + ["slice [4]"]
    )
