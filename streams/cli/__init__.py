"""The `pulse` command. Each subcommand lives in its own module and is imported only
when it runs, so `pulse --help` stays fast and a broken optional part cannot break the rest.

Every option that reads a PULSE_* environment variable shows it in `--help` (click's
`show_envvar`, set here once for all subcommands). Exit codes follow one rule
(`streams.errors.exit_code`): 2 for usage errors, 1 when a run fails."""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import click

from streams.errors import PulseError, exit_code

# name -> ("module:attribute", one-line help shown by `pulse --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "worker": (
        "streams.worker.cli:worker",
        "Run a stream worker: consume the event topics, keep state, serve /metrics.",
    ),
    "replay": (
        "streams.cli.replay:replay",
        "Compute every metric from JSONL events, without Kafka, as Prometheus text.",
    ),
    "accounts": (
        "streams.cli.accounts:accounts",
        "Account records with health and onboarding from JSONL events, as JSON, CSV or Parquet.",
    ),
    "report": (
        "streams.cli.report:report",
        "Self-contained HTML reports: a QBR pack per account, a portfolio report for leadership.",
    ),
    "generate": (
        "streams.cli.generate:generate",
        "Write realistic, seeded telemetry to a JSONL file or to Kafka.",
    ),
    "dev": (
        "streams.cli.dev:dev",
        "Developer helpers: a local Apache Kafka broker and the project's topics.",
    ),
    "webhooks": (
        "streams.cli.connectors:webhooks",
        "Receive signed Segment, Stripe and Zendesk webhooks into the raw topics.",
    ),
    "bridge": (
        "streams.cli.connectors:bridge",
        "Translate the raw Segment, Stripe and Zendesk topics into contract events.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        target, _ = SUBCOMMANDS[name]
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        show_envvars(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def fail(error: PulseError | str, code: int | None = None) -> NoReturn:
    """Print `Error: <one sentence>` on stderr and exit: with `code`, else by
    `streams.errors.exit_code` (2 for a usage error, 1 for a failed run)."""
    click.echo(f"Error: {error}", err=True)
    if code is None:
        code = exit_code(error) if isinstance(error, PulseError) else 1
    sys.exit(code)


def show_envvars(command: click.Command) -> None:
    """Show each option's environment variable in --help, in this command and below it."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            show_envvars(sub)


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
