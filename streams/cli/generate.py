"""`pulse generate`: realistic, seeded telemetry to a JSONL file (the replay input) or to Kafka.

The data model lives in `streams.generator`; this module only reads options, picks the sink,
reports progress and prints the summary on stderr.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

import click

from streams.cli import fail
from streams.errors import USAGE_EXIT, PulseError
from streams.generator import GeneratedMessage, Generator, GeneratorConfig, Summary
from streams.generator.clock import DEFAULT_END_TEXT, parse_end
from streams.generator.sinks import Pacer, Progress, produce, write_jsonl
from streams.kafka.security import KafkaSecurity, security_options

LIVE_DEFAULT_RATE = 20.0
FUTURE_SLACK_MS = 5 * 60 * 1000  # consumers reject events more than 5 minutes ahead

FC = TypeVar("FC", bound=Callable[..., object])


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _echo(text: str) -> None:
    click.echo(text, err=True)


def _fraction_option(name: str, help: str) -> Callable[[FC], FC]:
    """An option of a share of the valid events (--duplicates, --late, --malformed): 0 to 1."""
    return click.option(name, default=0.0, type=click.FloatRange(0, 1), help=help)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option(
    "--accounts",
    default=100,
    type=click.IntRange(min=1),
    help="Number of customer accounts (users per account follow a power law, about 5 on average).",
)
@click.option(
    "--days",
    default=30,
    type=click.IntRange(1, 3660),
    help="Days of product activity before --end; billing history reaches back up to a year (or twice --days) further.",
)
@click.option(
    "--seed",
    default=1,
    type=int,
    help="Random seed: the same options and seed give byte-identical output.",
)
@click.option(
    "--end",
    "end_text",
    default=None,
    metavar="TIME|now",
    show_default=f"{DEFAULT_END_TEXT}; now with --live",
    help="End of the dataset (exclusive): a date (midnight UTC), an RFC 3339 time with offset, or 'now' (the wall clock).",
)
@click.option(
    "--out",
    default="-",
    metavar="PATH|-",
    help="JSONL file to write, one Kafka message value per line; '-' is stdout. Not with --bootstrap.",
)
@click.option(
    "--bootstrap",
    default=None,
    metavar="HOST:PORT",
    help="Produce to this Kafka cluster instead of writing JSONL (topic per event type, key = account_id).",
)
@click.option(
    "--topic-prefix",
    default="",
    help="Prepended to every topic name when producing to Kafka, e.g. 'test.' -> test.pulse.logins.",
)
@click.option(
    "--rate",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    metavar="EVENTS/S",
    show_default=f"unlimited; {LIVE_DEFAULT_RATE:g}/s for the --live feed",
    help="Messages per second for the whole run (backlog and live feed).",
)
@_fraction_option(
    "--duplicates",
    "Exact re-sends of earlier valid messages, as a fraction of valid events.",
)
@_fraction_option(
    "--late",
    "Activity events stamped 36-60 days behind their account (rejected as too late), as a fraction of valid events.",
)
@_fraction_option(
    "--malformed",
    "Messages that must fail decoding (bad JSON, missing or mistyped fields, bad values; with --bootstrap also wrong topics), as a fraction of valid events.",
)
@click.option(
    "--live",
    is_flag=True,
    default=False,
    help="After the backlog, keep producing events stamped with the current time at --rate until Ctrl-C (the demo feed).",
)
@security_options
def generate(
    accounts: int,
    days: int,
    seed: int,
    end_text: str | None,
    out: str,
    bootstrap: str | None,
    topic_prefix: str,
    rate: float | None,
    duplicates: float,
    late: float,
    malformed: float,
    live: bool,
    **security_settings: object,
) -> None:
    """Write realistic, seeded telemetry to a JSONL file or to Kafka.

    Accounts on several plans, intervals, currencies and seat counts, with trials,
    upgrades, downgrades, cancellations, reactivations and payments; users with weekday
    working-hours sessions and feature use; tickets, surveys, signups and onboarding.
    Progress and a summary (counts by kind and by type) go to stderr.
    """
    if bootstrap is not None and out != "-":
        raise click.UsageError("give either --out (JSONL) or --bootstrap (Kafka), not both.")
    now = _now_ms()
    try:
        security = KafkaSecurity.from_options(dict(security_settings))
        end = parse_end(
            end_text if end_text is not None else ("now" if live else DEFAULT_END_TEXT), now
        )
        config = GeneratorConfig(
            accounts=accounts,
            days=days,
            seed=seed,
            end=end,
            duplicate_fraction=duplicates,
            late_fraction=late,
            malformed_fraction=malformed,
            wrong_topic=bootstrap is not None,
        )
    except PulseError as error:
        fail(error, USAGE_EXIT)  # a bad option value
    if live and end > now + FUTURE_SLACK_MS:
        fail(
            "--live stamps events with the current time, so --end must not lie in the future: use --end now.",
            USAGE_EXIT,
        )
    if end > now + FUTURE_SLACK_MS:
        _echo(
            "note: --end lies in the future; a consumer that checks its own clock will reject the later events."
        )

    generator = Generator(config)
    summary = Summary()
    progress = Progress(_echo, summary)
    started = time.monotonic()
    interrupted = False
    try:
        if bootstrap is not None:
            asyncio.run(
                _to_kafka(
                    generator, bootstrap, topic_prefix, rate, live, summary, progress, security
                )
            )
        else:
            _to_jsonl(generator, out, rate, live, summary, progress)
    except KeyboardInterrupt:
        interrupted = not live  # Ctrl-C is how a live feed ends
    except PulseError as error:
        if summary.messages:
            _echo(summary.format(time.monotonic() - started, interrupted=True))
        raise click.ClickException(str(error)) from None
    _echo(summary.format(time.monotonic() - started, interrupted=interrupted))
    if interrupted:
        sys.exit(130)


def _phases(
    generator: Generator, rate: float | None, live: bool
) -> Iterator[tuple[Iterator[GeneratedMessage], Pacer]]:
    """The backlog as fast as --rate allows, then (with --live) the live feed, created only
    once the backlog is done (it continues from the backlog's customers and ids)."""
    yield generator.backlog(), Pacer(rate)
    if live:
        yield generator.live(_now_ms), Pacer(rate or LIVE_DEFAULT_RATE)


def _to_jsonl(
    generator: Generator,
    out: str,
    rate: float | None,
    live: bool,
    summary: Summary,
    progress: Progress,
) -> None:
    if out == "-":
        _write_phases(generator, click.get_binary_stream("stdout"), rate, live, summary, progress)
        return
    try:
        stream = Path(out).open("wb", buffering=1 << 20)
    except OSError as error:
        raise PulseError(
            f"cannot write {out} ({error.strerror}): pass --out a writable path or '-'."
        ) from None
    with stream:
        _write_phases(generator, stream, rate, live, summary, progress)


def _write_phases(
    generator: Generator,
    stream: BinaryIO,
    rate: float | None,
    live: bool,
    summary: Summary,
    progress: Progress,
) -> None:
    try:
        for messages, pacer in _phases(generator, rate, live):
            write_jsonl(
                messages,
                stream,
                summary,
                progress,
                pacer,
                flush_each=pacer.rate is not None and live,
            )
    finally:
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


async def _to_kafka(
    generator: Generator,
    bootstrap: str,
    topic_prefix: str,
    rate: float | None,
    live: bool,
    summary: Summary,
    progress: Progress,
    security: KafkaSecurity,
) -> None:
    await produce(
        _phases(generator, rate, live), bootstrap, topic_prefix, summary, progress, security
    )
