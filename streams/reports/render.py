"""Jinja2 environment of the reports: templates from this package, number formats as filters.

Every figure is written with `fig`, which keeps the exact value the replay computed in a
`data-value` attribute (JSON) next to its formatted text: the tests compare those with
`pulse accounts` / `pulse replay` at the same instant, and a reader can copy them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from streams.contract.rfc3339 import rfc3339_ms


def day(ms: int | None) -> str:
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


# How each kind of figure is written (money and dates take more than the value: below).
_FORMATS: dict[str, Callable[[float], str]] = {
    "amount": "{:,.2f}".format,
    "percent": lambda value: f"{value * 100:.1f} %",
    "score": "{:.1f}".format,
    "signed": "{:+.1f}".format,
    "signed_amount": "{:+,.2f}".format,  # a change of money, in the table's currency
    "signed_count": "{:+,.0f}".format,
    "days": "{:,.1f} d".format,
    "hours": lambda value: f"{value / 3600:,.1f} h",
    "ratio": "{:.3f}".format,
}


def formatted(value: Any, kind: str, currency: str = "USD") -> str:
    if value is None:
        return "—"
    if kind == "money":
        return f"{float(value):,.2f} {currency}"
    if kind == "date":
        return day(int(value))
    if kind in _FORMATS:
        return _FORMATS[kind](float(value))
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int | float) else str(value)


def exact(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def fig(value: Any, field: str, kind: str = "number", currency: str = "USD") -> Markup:
    """A figure: its formatted text, with the field it comes from and its exact value."""
    data = orjson.dumps(exact(value)).decode()
    return Markup('<span class="figure" data-field="{}" data-value="{}">{}</span>').format(
        field, data, formatted(value, kind, currency)
    )


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("streams.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fig=fig, fmt=formatted, day=day, rfc3339=rfc3339_ms, escape=escape)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
