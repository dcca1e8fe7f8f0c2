"""`pulse report qbr|portfolio`: self-contained HTML reports from JSONL events.

Each writes one HTML file: inline SVG charts and CSS, no script and nothing fetched from
the network, laid out for A4 so a browser prints it to PDF. Figures come from the
account records and the engine at instants of the period (`streams.reports`), equal to
`pulse accounts` / `pulse replay` with `--as-of` at those instants.
"""

from __future__ import annotations

from pathlib import Path

import click

from streams.cli import fail
from streams.cli.replay import ReplayError
from streams.errors import PulseError
from streams.pulse_config import load_config


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


@click.group("report")
def report() -> None:
    """Self-contained HTML reports (inline SVG charts, printable) from JSONL events."""


@report.command("qbr")
@click.argument("account")
@click.argument("files", nargs=-1, metavar="[FILE ...|-]")
@click.option(
    "--from",
    "from_",
    required=True,
    metavar="TIME",
    help="Start of the period (RFC 3339 or epoch ms).",
)
@click.option(
    "--to",
    "to",
    required=True,
    metavar="TIME",
    help="End of the period: the figures are as of this time.",
)
@click.option(
    "--out",
    default="qbr.html",
    show_default=True,
    metavar="PATH",
    help="The HTML file to write (- = stdout).",
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="TOML file with [policy], [engine], [revenue], [accounts].",
)
def qbr(
    account: str, files: tuple[str, ...], from_: str, to: str, out: str, config_path: str | None
) -> None:
    """A quarterly business review of ACCOUNT over the period, as one HTML file."""
    from streams.reports.qbr import qbr_html
    from streams.reports.timeline import Period

    try:
        period = Period.parse(from_, to)
        _write(out, qbr_html(files, account, period, load_config(config_path)))
        click.echo(f"report: QBR of {account} written to {out}", err=True)
    except PulseError as error:
        fail(error)


@report.command("portfolio")
@click.argument("files", nargs=-1, metavar="[FILE ...|-]")
@click.option(
    "--from",
    "from_",
    required=True,
    metavar="TIME",
    help="Start of the period (RFC 3339 or epoch ms).",
)
@click.option(
    "--to",
    "to",
    required=True,
    metavar="TIME",
    help="End of the period: the figures are as of this time.",
)
@click.option(
    "--out",
    default="portfolio.html",
    show_default=True,
    metavar="PATH",
    help="The HTML file to write (- = stdout).",
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="TOML file with [policy], [engine], [revenue], [accounts].",
)
def portfolio(
    files: tuple[str, ...], from_: str, to: str, out: str, config_path: str | None
) -> None:
    """The portfolio report for leadership over the period (month by month), as one HTML file."""
    from streams.reports.portfolio import portfolio_html
    from streams.reports.timeline import Period

    try:
        period = Period.parse(from_, to)
        _write(out, portfolio_html(files, period, load_config(config_path)))
        click.echo(f"report: portfolio written to {out}", err=True)
    except PulseError as error:
        fail(error)
