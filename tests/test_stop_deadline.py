"""The stop deadline (streams/worker/stop_deadline.py): a stop that hangs ends the process
with FORCED_EXIT_CODE, and the log says where every thread was waiting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streams.worker.stop_deadline import FORCED_EXIT_CODE

REPO = Path(__file__).resolve().parent.parent

_HANGING_STOP = """
import logging, threading, time
from streams.worker import stop_deadline

logging.basicConfig(level=logging.INFO)

def waits_for_the_broker():
    threading.Event().wait()  # a close that never completes

def fetcher():
    waits_for_the_broker()

threading.Thread(target=fetcher, name="the-fetcher", daemon=True).start()
stop_deadline.arm(0.3)
time.sleep(60)
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
    assert 'File "<string>", line 15, in <module>' in log  # time.sleep(60)
