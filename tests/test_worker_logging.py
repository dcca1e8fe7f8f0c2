"""`pulse worker --log-level warning` keeps the root logger at WARNING: Faust's terminal
spinner, which would set it to DEBUG (every library's debug call then builds a record no
handler shows: aiokafka makes one per record sent), is off (streams/worker/run.py,
`build_faust_worker`). Unit test: the worker is built, never started."""

from __future__ import annotations

import logging

import faust
import pytest

from streams.worker.run import build_faust_worker


@pytest.mark.parametrize("level", ["warning", "error"])
def test_the_root_logger_keeps_the_level_asked_for(level):
    app = faust.App("pulse-logging-test", broker="kafka://127.0.0.1:1")
    worker = build_faust_worker(app, level)
    logger = logging.Logger("a-root-stand-in")
    logger.addHandler(logging.StreamHandler())
    logger.setLevel(getattr(logging, level.upper()))
    worker.on_setup_root_logger(logger, getattr(logging, level.upper()))  # Faust's signal
    assert logger.level == getattr(logging, level.upper())
    assert not logger.isEnabledFor(logging.DEBUG)
