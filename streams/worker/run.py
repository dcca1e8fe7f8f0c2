"""Start-up of `pulse worker`: check the broker and topics, then run Faust until SIGTERM or
Ctrl-C. Every failure a user can fix ends in one sentence (PulseError)."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from typing import TYPE_CHECKING

from streams.errors import PulseError
from streams.kafka.topics import ensure_topics
from streams.worker.settings import WorkerSettings

if TYPE_CHECKING:
    import faust

    from streams.pulse_config import PulseConfig
    from streams.worker.datadir import DataDirLock

# Faust runs the aiokafka consumer in a second thread. With Python's default 5 ms switch
# interval the two threads trade the interpreter lock some hundred times a second and the
# main thread, which runs the whole pipeline, waits each time. At 50 ms the worker
# handles about 13 % more events per second (docs/performance.md); the consumer thread
# still gets the lock many times a second, far inside its 3 s heartbeat.
SWITCH_INTERVAL = 0.05


def run_worker(settings: WorkerSettings, log_level: str = "info") -> int:
    from streams.pulse_config import load_config
    from streams.worker.app import rekey_topic_name
    from streams.worker.datadir import DataDirLock, worker_data_dir
    from streams.worker.faust.compat import check as check_libraries

    check_libraries()  # before anything is patched: the hooks' libraries, exactly
    config = load_config(settings.config_path)
    check_metrics_address(settings)
    with DataDirLock(worker_data_dir(settings.data_dir)) as lock:  # held until the process ends
        asyncio.run(check_topics(settings, rekey_topic_name(settings.app_id)))
        return _run_in(lock, settings, config, log_level)


def _run_in(
    lock: DataDirLock, settings: WorkerSettings, config: PulseConfig, log_level: str
) -> int:
    from streams.worker.app import PulseWorker, rekey_topic_name
    from streams.worker.datadir import mark_clean_shutdown, prepare_data_dir
    from streams.worker.gc_policy import tune_collector
    from streams.worker.state import WorkerBook

    prepare_data_dir(lock)
    frozen = settings.frozen_clock_ms
    clock = (lambda: frozen) if frozen is not None else (lambda: int(time.time() * 1000))
    book = WorkerBook(
        config,
        clock,
        partitions=settings.partitions,
        rekey_topic=rekey_topic_name(settings.app_id),
        dead_letter_topic=settings.dead_letter_topic,
        unprefixed=settings.unprefixed,
        frozen_clock=frozen is not None,
        account_records=settings.account_records,
    )
    worker = PulseWorker(settings, book, clock)  # it logs the settings line once logging is set up

    _use_uvloop()
    sys.setswitchinterval(SWITCH_INTERVAL)
    tune_collector()
    faust_worker = build_faust_worker(worker.app, log_level)
    try:
        faust_worker.execute_from_commandline()
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    if code == 0:
        mark_clean_shutdown(lock)
    return code


def build_faust_worker(app: faust.App, log_level: str) -> faust.Worker:
    """The Faust worker that runs `app`, without Faust's terminal progress spinner.

    Why: at --log-level warning or error, Faust's worker sets the root logger to DEBUG and
    hangs its spinner on it, so that the spinner turns on every record. Every debug call
    of every library then builds a LogRecord that no handler shows; aiokafka makes one per
    record it sends, and a checkpoint sends one per changed row: 14 % of a worker's samples
    (py-spy, docs/performance.md "Account layer, live"). Without the spinner the root
    logger keeps the level asked for."""
    from streams.worker.stop_deadline import DeadlineWorker

    faust_worker = DeadlineWorker(
        app, loglevel=log_level.upper(), quiet=True, redirect_stdouts=False
    )
    faust_worker.spinner = None  # Faust's public attribute: None is its own "no spinner"
    return faust_worker


def check_metrics_address(settings: WorkerSettings) -> None:
    """Fail in one sentence when /metrics (or the --open-port copy) cannot listen where asked."""
    addresses: list[tuple[str | None, int, str]] = [
        (settings.metrics_bind, settings.metrics_port, "--metrics-port")
    ]
    if settings.web.open_port is not None:
        addresses.append((settings.web.open_bind, settings.web.open_port, "--open-port"))
    for bind, port, option in addresses:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((bind, port))
            except OSError as error:
                raise PulseError(
                    f"/metrics cannot listen on {bind}:{port} ({error.strerror}): "
                    f"pass a free {option} or stop the program using it."
                ) from None


def _use_uvloop() -> None:
    """uvloop's event loop: Faust's per-message asyncio machinery is the worker's main cost."""
    try:
        import uvloop
    except ImportError:  # not on Windows; the default loop works, slower
        return
    uvloop.install()


async def check_topics(settings: WorkerSettings, rekey_topic: str) -> None:
    """Fail clearly when the broker is unreachable or a source topic is missing or mis-sized;
    create the worker's internal re-key topic with the one partition count (the one topic
    check: streams/kafka/topics.py)."""
    prefix = f" --prefix {settings.topic_prefix}" if settings.topic_prefix else ""
    await ensure_topics(
        settings.bootstrap,
        settings.partitions,
        names=(rekey_topic,),
        security=settings.security,
        required=(*settings.source_topics, settings.dead_letter_topic),
        create_hint=(
            f"create the project's topics with `pulse dev topics --bootstrap {settings.bootstrap} "
            f"--partitions {settings.partitions}{prefix}`"
        ),
    )
