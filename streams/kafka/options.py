"""The cluster options every Kafka-facing `pulse` command shares: one declaration each.

`pulse worker`, `pulse connectors ...` and `pulse dev topics` reach the same cluster and the
same topics, so `--bootstrap`, `--topic-prefix` and `--partitions` (with their PULSE_*
variables and defaults) are declared here once and applied as decorators, as
`security.security_options` is. A command whose option means something else (`pulse generate
--bootstrap` switches from a file to Kafka and has no default) declares its own.
"""

from __future__ import annotations

import click

from streams.kafka.topics import DEFAULT_PARTITIONS

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

bootstrap_option = click.option(
    "--bootstrap",
    default=DEFAULT_BOOTSTRAP,
    show_default=True,
    envvar="PULSE_BOOTSTRAP",
    help="Kafka bootstrap servers, host:port[,host:port].",
)
topic_prefix_option = click.option(
    "--topic-prefix",
    default="",
    envvar="PULSE_TOPIC_PREFIX",
    help="Prefix of every topic name, e.g. 'staging.' reads staging.pulse.logins.",
)
partitions_option = click.option(
    "--partitions",
    default=DEFAULT_PARTITIONS,
    type=int,
    show_default=True,
    envvar="PULSE_PARTITIONS",
    help="Partition count of the project's topics.",
)
