"""`pulse worker`: options, environment variables, start-up checks and clean shutdown."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from streams.cli import fail
from streams.contract.rfc3339 import MissingOffset, parse_rfc3339_ms
from streams.errors import USAGE_EXIT, PulseError
from streams.kafka.options import bootstrap_option, partitions_option, topic_prefix_option
from streams.kafka.security import KafkaSecurity, security_options
from streams.worker.settings import GUARANTEES, WorkerSettings
from streams.worker.web_auth import WebSecurity, web_options


def _parse_time(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_rfc3339_ms(value)
    except MissingOffset:
        raise click.BadParameter(f"{value!r} has no UTC offset: add Z or +hh:mm") from None
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an RFC 3339 time such as 2026-03-01T00:00:00Z"
        ) from None


@click.command(context_settings={"show_default": True, "max_content_width": 100})
@bootstrap_option
@click.option(
    "--app-id",
    default="cs-pulse",
    envvar="PULSE_APP_ID",
    help="Consumer group and prefix of the worker's internal topics; workers with one id share the partitions.",
)
@topic_prefix_option
@partitions_option
@click.option(
    "--data-dir",
    default=Path(".cache/worker"),
    type=click.Path(path_type=Path),
    envvar="PULSE_DATA_DIR",
    help="Where the local state store lives (one folder per worker).",
)
@click.option(
    "--store",
    default="rocksdb",
    type=click.Choice(["rocksdb", "memory"]),
    envvar="PULSE_STORE",
    help="Local table store; both are rebuilt from changelog topics when missing.",
)
@click.option(
    "--metrics-bind",
    default="127.0.0.1",
    envvar="PULSE_METRICS_BIND",
    help="Address /metrics listens on.",
)
@click.option(
    "--metrics-port",
    default=9108,
    type=int,
    envvar="PULSE_METRICS_PORT",
    help="Port /metrics listens on.",
)
@click.option(
    "--processing-guarantee",
    default="exactly_once",
    type=click.Choice(GUARANTEES),
    envvar="PULSE_PROCESSING_GUARANTEE",
    help="Kafka transactions (exactly_once) or at-least-once delivery.",
)
@click.option(
    "--batch-size",
    default=10_000,
    type=int,
    envvar="PULSE_BATCH_SIZE",
    help="Most messages applied to the in-memory state at once.",
)
@click.option(
    "--batch-seconds",
    default=0.25,
    type=float,
    envvar="PULSE_BATCH_SECONDS",
    help="Longest wait to fill a batch: the latency it adds before /metrics shows an event.",
)
@click.option(
    "--checkpoint-seconds",
    default=10.0,
    type=float,
    envvar="PULSE_CHECKPOINT_SECONDS",
    help="How often changed state is written to Kafka with the offsets it covers (one transaction per "
    "partition). Longer intervals write each busy account less often; a crash re-reads at most "
    "this much (docs/performance.md).",
)
@click.option(
    "--checkpoint-events",
    default=200_000,
    type=int,
    envvar="PULSE_CHECKPOINT_EVENTS",
    help="Write a checkpoint sooner once this many events were applied since the last one.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="PULSE_CONFIG",
    help="TOML file with [policy], [engine] and [revenue] settings (see docs/metrics.md).",
)
@click.option(
    "--frozen-clock",
    default=None,
    envvar="PULSE_FROZEN_CLOCK",
    help="Evaluate every window at this RFC 3339 instant instead of the wall clock (tests, history).",
)
@click.option(
    "--account-records/--no-account-records",
    default=True,
    envvar="PULSE_ACCOUNT_RECORDS",
    help="Compute the account records and health scores: the /accounts API and the account and "
    "watchlist metrics (docs/accounts.md). Off, the worker keeps the account state but computes "
    "no record; /accounts answers 404 and the pulse_accounts* series are absent.",
)
@security_options
@click.option(
    "--fetch-stall-seconds",
    default=60.0,
    type=float,
    envvar="PULSE_FETCH_STALL_SECONDS",
    help="/healthz answers 503 once Kafka has answered no fetch for this long (refused credentials, "
    "unreachable brokers).",
)
@web_options
@click.option(
    "--log-level",
    default="info",
    type=click.Choice(["debug", "info", "warning", "error"]),
    envvar="PULSE_LOG_LEVEL",
)
def worker(
    config_path: Path | None, frozen_clock: str | None, log_level: str, **options: Any
) -> None:
    """Run a stream worker: consume the six event topics, keep the metric state in
    changelogged tables, and serve Prometheus metrics on http://BIND:PORT/metrics.

    Start several workers with the same --app-id to split the partitions; sum() their
    additive series in PromQL for global figures. SIGTERM or Ctrl-C stops cleanly
    (commit, flush, close). Every option can also be set with the PULSE_* variable shown.
    """
    from streams.worker.run import run_worker

    try:
        # a rejected option value is a usage error (exit 2); a failing run exits 1
        web = WebSecurity.from_options(options)
        security = KafkaSecurity.from_options(options)
        settings = WorkerSettings(
            config_path=config_path,
            frozen_clock_ms=_parse_time(frozen_clock),
            web=web,
            security=security,
            **options,
        )
    except PulseError as error:
        fail(error, USAGE_EXIT)
    try:
        code = run_worker(settings, log_level)
    except PulseError as error:
        raise click.ClickException(str(error)) from None
    sys.exit(code)
