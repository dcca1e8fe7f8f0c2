"""`pulse report qbr|portfolio`: self-contained HTML reports from JSONL events.

Each writes one HTML file: inline SVG charts and CSS, no script and nothing fetched from
the network, laid out for A4 so a browser prints it to PDF. Figures come from the
account records and the engine at instants of the period (`streams.reports`), equal to
`pulse accounts` / `pulse replay` with `--as-of` at those instants. Both commands take
the same inputs and options (`_report_options`) and write the same way (`_run`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from streams.cli import fail
from streams.cli.replay import ReplayError
from streams.errors import PulseError
from streams.pulse_config import PulseConfig, load_config

if TYPE_CHECKING:
    from streams.reports.timeline import Period

F = TypeVar("F", bound=Callable[..., None])


def _report_options(default_out: str) -> Callable[[F], F]:
    """The inputs and options every report takes: FILE ..., --from, --to, --out, --config."""
    decorators = (
        click.argument("files", nargs=-1, metavar="[FILE ...|-]"),
        click.option(
            "--from",
            "from_",
            required=True,
            metavar="TIME",
            help="Start of the period (RFC 3339 or epoch ms).",
        ),
        click.option(
            "--to",
            "to",
            required=True,
            metavar="TIME",
            help="End of the period: the figures are as of this time.",
        ),
        click.option(
            "--out",
            default=default_out,
            show_default=True,
            metavar="PATH",
            help="The HTML file to write (- = stdout).",
        ),
        click.option(
            "--config",
            "config_path",
            metavar="PATH",
            help="TOML file with [policy], [engine], [revenue], [accounts].",
        ),
    )

    def decorate(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


def _write(out: str, html: str) -> None:
    if out == "-":
        click.get_text_stream("stdout").write(html)
        return
    try:
        Path(out).write_text(html, encoding="utf-8")
    except OSError as error:
        raise ReplayError(
            f"Cannot write the report {out} ({error.strerror}): pass a writable path."
        ) from None


def _run(
    build: Callable[[Period, PulseConfig], str],
    from_: str,
    to: str,
    out: str,
    config_path: str | None,
    what: str,
) -> None:
    """Parse the period and the configuration, build the HTML, write it and say where;
    an error a user can cause is one sentence (`fail`)."""
    from streams.reports.timeline import Period

    try:
        period = Period.parse(from_, to)
        _write(out, build(period, load_config(config_path)))
        click.echo(f"report: {what} written to {out}", err=True)
    except PulseError as error:
        fail(error)


@click.group("report")
def report() -> None:
    """Self-contained HTML reports (inline SVG charts, printable) from JSONL events."""


@report.command("qbr")
@click.argument("account")
@_report_options("qbr.html")
def qbr(
    account: str, files: tuple[str, ...], from_: str, to: str, out: str, config_path: str | None
) -> None:
    """A quarterly business review of ACCOUNT over the period, as one HTML file."""
    from streams.reports.qbr import qbr_html

    _run(
        lambda period, config: qbr_html(files, account, period, config),
        from_,
        to,
        out,
        config_path,
        f"QBR of {account}",
    )


@report.command("portfolio")
@_report_options("portfolio.html")
def portfolio(
    files: tuple[str, ...], from_: str, to: str, out: str, config_path: str | None
) -> None:
    """The portfolio report for leadership over the period (month by month), as one HTML file."""
    from streams.reports.portfolio import portfolio_html

    _run(
        lambda period, config: portfolio_html(files, period, config),
        from_,
        to,
        out,
        config_path,
        "portfolio",
    )
