"""`pulse dev`: a local Apache Kafka broker and the project's topics, for the demo and tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from streams.devtools.localkafka import DEFAULT_HOME, LocalKafka, SecureListeners
from streams.errors import PulseError
from streams.kafka.options import bootstrap_option, partitions_option
from streams.kafka.security import KafkaSecurity, security_options
from streams.kafka.topics import PROJECT_TOPICS, ensure_topics_sync

_port = click.option(
    "--port",
    default=9092,
    show_default=True,
    envvar="PULSE_KAFKA_PORT",
    help="Broker port on 127.0.0.1 (the controller uses port+1).",
)
_home = click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=DEFAULT_HOME,
    show_default=True,
    envvar="PULSE_KAFKA_HOME",
    help="Cache folder for the jars, data and logs (git-ignored).",
)


def _run(action: Callable[[], object]) -> None:
    try:
        action()
    except PulseError as error:
        raise click.ClickException(str(error)) from None


@click.group()
def dev() -> None:
    """Developer helpers: a local Apache Kafka broker and the project's topics."""


@dev.group()
def kafka() -> None:
    """Fetch (once, with Maven), start, stop and inspect a single-node KRaft broker on loopback."""


@kafka.command()
@_port
@_home
@partitions_option
@click.option(
    "--sasl-ssl-port",
    type=int,
    default=None,
    help="Also listen with SASL_SSL (SCRAM-SHA-512) on this port.",
)
@click.option(
    "--mtls-port", type=int, default=None, help="Also listen with mutual TLS on this port."
)
@click.option(
    "--keystore",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="PEM file: the broker's unencrypted PKCS#8 key followed by its certificate (secured listeners).",
)
@click.option(
    "--truststore",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="PEM file of the CA certificates that sign client certificates (secured listeners).",
)
def up(
    port: int,
    home: Path,
    partitions: int,
    sasl_ssl_port: int | None,
    mtls_port: int | None,
    keystore: Path | None,
    truststore: Path | None,
) -> None:
    """Start the broker (or reuse a running one) and wait until it answers. With the four
    secured-listener options it also serves SASL_SSL and mutual TLS (docs/worker.md#security)."""
    given = [value is not None for value in (sasl_ssl_port, mtls_port, keystore, truststore)]
    if any(given) and not all(given):
        raise click.UsageError(
            "secured listeners need --sasl-ssl-port, --mtls-port, --keystore and --truststore together."
        )
    secure = None
    if (
        sasl_ssl_port is not None
        and mtls_port is not None
        and keystore is not None
        and truststore is not None
    ):
        secure = SecureListeners(sasl_ssl_port, mtls_port, keystore, truststore)
    _run(lambda: LocalKafka(home, port, partitions, secure).up(echo=click.echo))


@kafka.command("scram-user")
@_port
@_home
@click.argument("user")
@click.option(
    "--mechanism",
    default="SCRAM-SHA-512",
    show_default=True,
    type=click.Choice(["SCRAM-SHA-256", "SCRAM-SHA-512"]),
)
def scram_user(port: int, home: Path, user: str, mechanism: str) -> None:
    """Create USER, or change its password, with the password in PULSE_SASL_PASSWORD."""
    password = os.environ.get("PULSE_SASL_PASSWORD")
    if not password:
        raise click.UsageError("set the password in PULSE_SASL_PASSWORD (it is never asked for).")
    _run(lambda: LocalKafka(home, port).scram_user(user, password, mechanism))
    click.echo(f"SCRAM user {user} ({mechanism}) set on 127.0.0.1:{port}")


@kafka.command()
@_port
@_home
def down(port: int, home: Path) -> None:
    """Stop the broker cleanly."""
    _run(lambda: LocalKafka(home, port).down(echo=click.echo))


@kafka.command()
@_port
@_home
def status(port: int, home: Path) -> None:
    """Say whether the broker runs and answers."""
    click.echo(LocalKafka(home, port).status())


@kafka.command()
@_port
@_home
@click.option("--lines", default=40, show_default=True)
def logs(port: int, home: Path, lines: int) -> None:
    """Print the tail of the broker log."""
    click.echo(LocalKafka(home, port).log_tail(lines))


@dev.command()
@bootstrap_option
@partitions_option
@click.option(
    "--prefix",
    default="",
    envvar="PULSE_TOPIC_PREFIX",
    help="Prefix of every topic name (see pulse worker --topic-prefix).",
)
@security_options
def topics(bootstrap: str, partitions: int, prefix: str, **security: object) -> None:
    """Create the project's topics (idempotent), all with one partition count. Takes the
    worker's Kafka security options (and PULSE_* variables) for a secured cluster."""

    def create() -> None:
        names = tuple(prefix + name for name in PROJECT_TOPICS)
        options = KafkaSecurity.from_options(dict(security))
        for name, state in ensure_topics_sync(
            bootstrap, partitions, names=names, security=options
        ).items():
            click.echo(f"{name}: {state} ({partitions} partitions)")

    _run(create)
