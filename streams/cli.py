"""The `pulse` command. Each subcommand lives in its own module and is imported only
when it runs, so `pulse --help` stays fast and a broken optional part cannot break the rest."""

from __future__ import annotations

import importlib

import click

# name -> ("module:attribute", one-line help shown by `pulse --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "worker": ("streams.worker_cli:worker", "Run a stream worker: consume the event topics, keep state, serve /metrics."),
    "replay": ("streams.replay:replay", "Compute every metric from JSONL events, without Kafka, as Prometheus text."),
    "accounts": ("streams.accounts_cli:accounts", "Account records with health and onboarding from JSONL events, as JSON, CSV or Parquet."),
    "generate": ("streams.generate:generate", "Write realistic, seeded telemetry to a JSONL file or to Kafka."),
    "dev": ("streams.dev:dev", "Developer helpers: a local Apache Kafka broker and the project's topics."),
    "webhooks": ("streams.connectors.cli:webhooks", "Receive signed Segment, Stripe and Zendesk webhooks into the raw topics."),
    "bridge": ("streams.connectors.cli:bridge", "Translate the raw Segment, Stripe and Zendesk topics into contract events."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        target, _ = SUBCOMMANDS[name]
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cs-pulse")
def main() -> None:
    """cs-pulse: live customer-success metrics from Kafka events.

    Workers consume login, feature-use, ticket, billing, survey and lifecycle events and
    export DAU/WAU/MAU, adoption, sessions, MRR and its movements, NRR/GRR, support and
    satisfaction metrics as Prometheus gauges. Run `pulse COMMAND --help` for details.
    """


if __name__ == "__main__":
    main()
