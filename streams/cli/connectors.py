"""`pulse webhooks` and `pulse bridge`: the connectors' two commands (docs/connectors.md).

Kafka options: --bootstrap and the worker's security options (SASL, TLS, mutual TLS), from
their one definition in streams/kafka/security.py; a failed connection is named in one
sentence, as for the worker."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import click

from streams.errors import PulseError
from streams.kafka.options import bootstrap_option, topic_prefix_option
from streams.kafka.security import (
    KafkaSecurity,
    client_log_muted,
    connection_error,
    security_options,
)


def _security(options: dict[str, Any]) -> KafkaSecurity:
    try:
        return KafkaSecurity.from_options(options)
    except PulseError as error:
        raise click.UsageError(str(error)) from None


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@click.command()
@bootstrap_option
@topic_prefix_option
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    envvar="PULSE_WEBHOOKS_BIND",
    help="Address to listen on.",
)
@click.option(
    "--port",
    default=8088,
    show_default=True,
    type=int,
    envvar="PULSE_WEBHOOKS_PORT",
    help="Port to listen on.",
)
@click.option(
    "--segment-secret",
    envvar="PULSE_SEGMENT_WEBHOOK_SECRET",
    default=None,
    show_envvar=True,
    help="Shared secret of the Segment-style source (X-Signature HMAC-SHA1 or Authorization: Bearer).",
)
@click.option(
    "--stripe-secret",
    envvar="PULSE_STRIPE_WEBHOOK_SECRET",
    default=None,
    show_envvar=True,
    help="The Stripe endpoint's signing secret (whsec_...); comma-separate two while rolling it.",
)
@click.option(
    "--zendesk-secret",
    envvar="PULSE_ZENDESK_WEBHOOK_SECRET",
    default=None,
    show_envvar=True,
    help="The Zendesk webhooks' signing secrets, comma-separated (the event webhook and the ratings trigger webhook).",
)
@click.option(
    "--max-body-bytes",
    default=512 * 1024,
    show_default=True,
    type=click.IntRange(1024, 900 * 1024),
    envvar="PULSE_WEBHOOKS_MAX_BODY_BYTES",
    help="Larger bodies are refused with 413.",
)
@click.option(
    "--tolerance-seconds",
    default=300,
    show_default=True,
    type=click.IntRange(1, 86400),
    help="How far a signed timestamp (Stripe, Zendesk) may be from the clock.",
)
@security_options
def webhooks(
    bootstrap: str,
    topic_prefix: str,
    bind: str,
    port: int,
    segment_secret: str | None,
    stripe_secret: str | None,
    zendesk_secret: str | None,
    max_body_bytes: int,
    tolerance_seconds: int,
    **security_settings: object,
) -> None:
    """Receive signed webhooks from Segment, Stripe and Zendesk and write them to the raw topics.

    Pass a secret (prefer the environment variables) for each source you use; a source
    without one answers 404. A 200 means the body is in Kafka (acks from all in-sync replicas).
    """
    secrets = {
        name: value
        for name, value in (
            ("segment", segment_secret),
            ("stripe", stripe_secret),
            ("zendesk", zendesk_secret),
        )
        if value
    }
    if not secrets:
        raise click.ClickException(
            "no webhook secret is set: export PULSE_STRIPE_WEBHOOK_SECRET, PULSE_ZENDESK_WEBHOOK_SECRET "
            "or PULSE_SEGMENT_WEBHOOK_SECRET (or pass --stripe-secret / --zendesk-secret / --segment-secret)."
        )
    security = _security(dict(security_settings))
    _logging()

    async def serve() -> None:
        from aiohttp import web
        from aiokafka import AIOKafkaProducer
        from aiokafka.errors import KafkaError

        from streams.connectors.webhooks import make_app

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            **security.aiokafka_options(),
        )
        with client_log_muted():  # the outcome is reported here, once, naming the cause
            try:
                await producer.start()
            except KafkaError as error:
                await producer.stop()
                raise await connection_error(error, bootstrap, security) from None
        runner = web.AppRunner(
            make_app(
                producer,
                secrets,
                topic_prefix=topic_prefix,
                max_body_bytes=max_body_bytes,
                tolerance=tolerance_seconds,
            ),
            access_log=None,
        )
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, bind, port).start()
            except OSError as error:
                raise PulseError(
                    f"cannot listen on {bind}:{port} ({error.strerror}): pass another --port."
                ) from None
            logging.getLogger("pulse.webhooks").info(
                "listening on http://%s:%d/webhooks/{%s}", bind, port, ",".join(sorted(secrets))
            )
            await stop.wait()
        finally:
            await runner.cleanup()
            await producer.stop()

    try:
        asyncio.run(serve())
    except PulseError as error:
        raise click.ClickException(str(error)) from None


@click.command()
@bootstrap_option
@topic_prefix_option
@click.option(
    "--group-id",
    default="pulse-bridge",
    show_default=True,
    envvar="PULSE_BRIDGE_GROUP_ID",
    help="Kafka consumer group; run more bridges with the same id to share the partitions.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="PULSE_CONFIG",
    default=None,
    help="TOML file whose [connectors] section holds the mappings.",
)
@security_options
def bridge(
    bootstrap: str,
    topic_prefix: str,
    group_id: str,
    config_path: Path | None,
    **security_settings: object,
) -> None:
    """Translate the raw topics (pulse.raw.segment|stripe|zendesk) into contract events.

    Untranslatable messages go to the dead-letter topic with reason untranslatable:<why>.
    At-least-once: offsets are committed after every produced record is acknowledged.
    """
    from streams.connectors.bridge import run_bridge
    from streams.pulse_config import load_config

    try:
        connectors = load_config(config_path).connectors
    except PulseError as error:
        raise click.ClickException(str(error)) from None
    security = _security(dict(security_settings))
    _logging()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_bridge(
            bootstrap,
            connectors,
            topic_prefix=topic_prefix,
            group_id=group_id,
            stop=stop,
            security=security,
        )

    try:
        asyncio.run(main())
    except PulseError as error:
        raise click.ClickException(str(error)) from None
