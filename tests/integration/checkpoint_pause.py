"""`pulse worker` that, once a trigger file exists, pauses in the middle of its next
checkpoint (after its first send) until a rebalance begins, and says so in a marker file:
a test can then make another worker join exactly while this one is in a checkpoint.

    python tests/integration/checkpoint_pause.py TRIGGER MARKER worker [options]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from streams.cli import main  # noqa: E402
from streams.worker.app import PulseWorker  # noqa: E402

TRIGGER, MARKER = Path(sys.argv[1]), Path(sys.argv[2])
_send = PulseWorker._send


async def _send_pausing_once(self: PulseWorker, partition: int, send):
    future = await _send(self, partition, send)
    if TRIGGER.exists() and not MARKER.exists():
        MARKER.write_text("in a checkpoint\n")
        deadline = time.monotonic() + 120
        while self.app.flow_control.is_active() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        MARKER.write_text("in a checkpoint\nrebalance began\n")
    return future


PulseWorker._send = _send_pausing_once
sys.argv = ["pulse", *sys.argv[3:]]
main()
