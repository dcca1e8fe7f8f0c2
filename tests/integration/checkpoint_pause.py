"""`pulse worker` that, once a trigger file exists, pauses in the middle of a checkpoint and
says so in a marker file: a test can then make another worker join exactly while this one
is in a checkpoint.

    python tests/integration/checkpoint_pause.py TRIGGER MARKER worker [options]

By default it pauses after the next checkpoint's first send and goes on once a rebalance
has begun (tests/integration/test_worker_join.py, the first test).

With CHECKPOINT_PAUSE_HOLD=1 in its environment it builds the one case the commit gate
exists for (streams/worker/faust/hooks.py, hook 4; docs/worker.md, "The commit gate") and
never goes on (the test kills it):

1. Faust's commit timer is off (`broker_commit_interval` of a day), so that acknowledged
   offsets stay uncommitted until this program asks for a commit. In production the timer
   commits every second; a checkpoint that begins before the timer has committed the
   previous one's offsets (one per batch while catching up, a commit still under way)
   meets the same state.
2. Of the first batch (after the trigger) with two messages or more of one partition P, it
   applies the first message and writes a checkpoint of everything held (its offsets are
   acknowledged), then applies the rest and begins the next checkpoint, each checkpoint
   inside the commit gate, as the agent takes it.
3. That checkpoint stops for good after sending P's counters row: P's Kafka transaction
   holds the rows of both checkpoints and the offsets of the first only. Then the commit
   timer ticks (a commit in a task of its own, as Faust's `_commit_handler` makes it).
   The marker says "a commit waits at the gate" when the commit asks for the gate while
   the checkpoint holds it, or "a commit went through during the checkpoint" when it
   committed P (the gate removed): the second checkpoint's rows are then durable without
   their events' offsets, and whoever takes P over applies those events again.
4. It says "rebalance began" once a rebalance suspended its flow (a second worker joined).

A rebalance's own commit cannot do that harm: Faust forgets the acknowledged offsets of
revoked partitions before it commits (`Consumer.on_partitions_revoked`), so the commit a
join asks for carries no offsets of the checkpoint before.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from streams.cli import main  # noqa: E402
from streams.worker.app import PulseWorker  # noqa: E402
from streams.worker.state import COUNTERS_PREFIX  # noqa: E402

TRIGGER, MARKER = Path(sys.argv[1]), Path(sys.argv[2])
HOLD = os.environ.get("CHECKPOINT_PAUSE_HOLD") == "1"
NO_TIMER_S = 24 * 3600.0  # Faust's commit timer, in hold mode: never within a test
_send, _apply, _init = PulseWorker._send, PulseWorker._apply, PulseWorker.__init__
_build_app, _on_committed = PulseWorker._build_app, PulseWorker._on_committed
#: hold mode: {"partition": P} once the two checkpoints began, "armed" until P's counters
#: row of the second is sent, "held" from then on
holding: dict[str, Any] = {}


def note(line: str) -> None:
    text = MARKER.read_text() if MARKER.exists() else ""
    if line not in text.splitlines():
        MARKER.write_text(text + line + "\n")


async def _wait_for_rebalance(worker: PulseWorker, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while worker.app.flow_control.is_active() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _send_pausing_once(self: PulseWorker, partition: int, send: Any) -> Any:
    future = await _send(self, partition, send)
    if TRIGGER.exists() and not MARKER.exists():
        MARKER.write_text("in a checkpoint\n")
        await _wait_for_rebalance(self, 120)
        MARKER.write_text("in a checkpoint\nrebalance began\n")
    return future


# ---- hold mode ---------------------------------------------------------------------------


def _build_app_without_commit_timer(self: PulseWorker) -> Any:
    app = _build_app(self)
    app.conf.broker_commit_interval = NO_TIMER_S  # read when the consumer is made, later
    app.conf.broker_commit_every = 1 << 40  # nor a commit after so many acknowledgements
    return app


async def _send_holding(self: PulseWorker, partition: int, send: Any) -> Any:
    future = await _send(self, partition, send)
    if (
        holding.get("armed")
        and partition == holding["partition"]
        and send.topic == self.book.changelog_topic
        and send.key.startswith(COUNTERS_PREFIX)
    ):
        holding["armed"], holding["held"] = False, True
        note("in a checkpoint")
        # Faust's commit timer, ticking now (as `Consumer._commit_handler` does, in a task of its own)
        holding["commit"] = asyncio.ensure_future(self.app.consumer.commit())
        await _wait_for_rebalance(self, float("inf"))
        note("rebalance began")
        await asyncio.Event().wait()  # held until the test kills the worker
    return future


def _shares_a_partition(messages: list) -> bool:
    return len(messages) > 1 and any(m.partition == messages[0].partition for m in messages[1:])


async def _apply_in_two_checkpoints(self: PulseWorker, messages: list) -> list:
    if "partition" in holding or not TRIGGER.exists() or not _shares_a_partition(messages):
        return await _apply(self, messages)
    if self.app.consumer.commit_interval != NO_TIMER_S:
        raise RuntimeError("the commit timer is still on: the hold would not be deterministic")
    first = await _apply(self, messages[:1])
    if not first:  # not due (let go, read again): try again with a later batch
        return await _apply(self, messages[1:])
    holding["partition"] = first[0].partition
    async with self.hooks.lock:  # as the agent takes it for a checkpoint
        await self._checkpoint([*self.held, *first])
    self.held = []
    holding["armed"] = True
    rest = await _apply(self, messages[1:])
    async with self.hooks.lock:
        await self._checkpoint(rest)  # stops in _send_holding once P's counters row is sent
    holding.clear()  # the rest changed nothing of P (let go, read again): try a later batch
    return []


class _ObservedLock(asyncio.Lock):
    async def acquire(self) -> bool:
        if self.locked() and holding.get("held"):
            note("a commit waits at the gate")
        return await super().acquire()


def _init_observed(self: PulseWorker, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    self.hooks.lock = _ObservedLock()


async def _on_committed_observed(self: PulseWorker, partitions: set[int]) -> None:
    if holding.get("held") and holding["partition"] in partitions:
        note("a commit went through during the checkpoint")
    await _on_committed(self, partitions)


if HOLD:
    PulseWorker._build_app = _build_app_without_commit_timer
    PulseWorker._send = _send_holding
    PulseWorker._apply = _apply_in_two_checkpoints
    PulseWorker.__init__ = _init_observed
    PulseWorker._on_committed = _on_committed_observed
else:
    PulseWorker._send = _send_pausing_once
sys.argv = ["pulse", *sys.argv[3:]]
main()
