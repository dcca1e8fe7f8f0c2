"""Exit within a bounded time after SIGTERM or Ctrl-C, whatever the brokers do.

Why: a clean stop commits, flushes the producer and leaves the consumer group, and each
of those waits for the brokers. When the brokers refuse the worker's credentials or do
not answer, those waits never end and the worker ignored SIGTERM for minutes (only
SIGKILL ended it). `DeadlineWorker` arms a timer the moment the stop begins; if the stop
has not finished `STOP_DEADLINE_S` later, the worker logs why, with the stack of every
thread and of every task still pending on the stopping event loop (where the stop was
waiting: the one clue a rare hang leaves; a thread idle in its event loop shows only
`run_until_complete`, its tasks show what they await), and exits with code
`FORCED_EXIT_CODE`. Nothing is lost: what was not committed is read again by the next
start, and the missing clean-shutdown marker makes it rebuild the local store.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
import threading
import traceback

import faust

log = logging.getLogger("cs-pulse.worker")
STOP_DEADLINE_S = 25.0  # inside the 30 s an orchestrator usually waits before SIGKILL
FORCED_EXIT_CODE = 3


def thread_stacks() -> str:
    """The current stack of every thread, innermost call last, each under its name."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    return "\n".join(
        f"thread {names.get(ident, ident)}:\n" + "".join(traceback.format_stack(frame))
        for ident, frame in sys._current_frames().items()
    )


def task_stacks(loop: asyncio.AbstractEventLoop) -> str:
    """What every task pending on `loop` awaits, each under its name. Read from another
    thread while the loop waits: best effort, for a log line at a forced exit only."""
    out = io.StringIO()
    try:
        for task in list(asyncio.all_tasks(loop)):
            out.write(f"task {task.get_name()}:\n")
            task.print_stack(limit=8, file=out)
    except Exception as error:  # noqa: BLE001 - the loop changed meanwhile: say so, exit anyway
        out.write(f"(tasks not readable: {error!r})\n")
    return out.getvalue()


def _force_exit(deadline: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
    log.error(
        "the worker did not stop within %g s of the stop signal (Kafka does not answer or refuses the "
        "worker); exiting now: the next start reads again what was not committed. Where each "
        "thread was waiting:\n%s\nThe tasks pending on the stopping event loop:\n%s",
        deadline,
        thread_stacks(),
        "" if loop is None else task_stacks(loop),
    )
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    os._exit(FORCED_EXIT_CODE)


def arm(deadline: float, loop: asyncio.AbstractEventLoop | None = None) -> threading.Timer:
    """Start the timer that ends the process `deadline` seconds from now (see the module
    header), naming `loop`'s pending tasks; a daemon thread, so a stop that finishes first
    ends the process without it."""
    timer = threading.Timer(deadline, _force_exit, args=(deadline, loop))
    timer.daemon = True
    timer.start()
    return timer


class DeadlineWorker(faust.Worker):
    """faust.Worker whose stop is bounded by STOP_DEADLINE_S (see the module header)."""

    stop_deadline_s: float = STOP_DEADLINE_S

    async def on_stop(self) -> None:
        arm(self.stop_deadline_s, asyncio.get_running_loop())
        await super().on_stop()
