"""The stop deadline (streams/worker/stop_deadline.py): a stop that hangs ends the process
with FORCED_EXIT_CODE, and the log says where every thread was waiting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streams.worker.stop_deadline import FORCED_EXIT_CODE

REPO = Path(__file__).resolve().parent.parent

_HANGING_STOP = """
import asyncio, logging, threading, time
from streams.worker import stop_deadline

logging.basicConfig(level=logging.INFO)

def waits_for_the_broker():
    threading.Event().wait()  # a close that never completes

def fetcher():
    waits_for_the_broker()

async def closes_the_connection():
    await asyncio.Event().wait()  # a close_notify that never comes

async def main():
    asyncio.get_running_loop().create_task(closes_the_connection(), name="the-close")
    stop_deadline.arm(0.3, asyncio.get_running_loop())
    await asyncio.sleep(60)

threading.Thread(target=fetcher, name="the-fetcher", daemon=True).start()
asyncio.run(main())
"""


def test_a_hanging_stop_exits_with_the_forced_code_and_every_threads_stack():
    done = subprocess.run(
        [sys.executable, "-c", _HANGING_STOP],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == FORCED_EXIT_CODE, done.stderr
    log = done.stderr
    assert "did not stop within 0.3 s of the stop signal" in log
    # the thread that hung, by name and by the call it was waiting in, and the main thread
    assert "thread the-fetcher:" in log
    assert "in waits_for_the_broker" in log
    assert "thread MainThread:" in log
    # the tasks pending on the loop, each with the coroutine it waits in
    assert "task the-close:" in log and "in closes_the_connection" in log
