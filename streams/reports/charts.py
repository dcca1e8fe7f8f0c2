"""Inline SVG charts for the reports, drawn by pygal.

Why pygal: it is pure Python (no numpy, no browser, about 1 MB installed), draws vector
SVG that prints sharply at any size, and styles itself with CSS inside the SVG. Its charts
carry a small inline script for tooltips; the reports drop it (`_without_scripts`), so a
report needs no JavaScript and no network, and the SVG sits directly in the HTML.
None in a series is a gap (a value unknown at that instant), never a zero. A chart whose
values are all whole numbers (counts) gets whole-number ticks (`_scale`): pygal would
otherwise place ticks at halves, which a "{:,.0f}" label prints twice ("3, 3, 2, 2").
The charts both reports draw (support times, sentiment) are built here once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.etree import ElementTree

import pygal
from markupsafe import Markup
from pygal.style import Style

PALETTE = ("#1f6feb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#65a30d")
BAND_COLOURS = {"green": "#059669", "yellow": "#d97706", "red": "#dc2626", "unknown": "#9ca3af"}
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1f2937",
    foreground_strong="#111827",
    foreground_subtle="#d1d5db",
    font_family="DejaVu Sans, Helvetica, Arial, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=11,
    title_font_size=13,
    value_font_size=10,
    colors=PALETTE,
    opacity="1",
    opacity_hover="1",
)
WIDTH, HEIGHT = 720, 260
HALF = 360
"""The width of a chart that shares its row with another (the text keeps its size in print)."""


def _common(**overrides: object) -> dict[str, object]:
    options: dict[str, object] = dict(
        style=STYLE,
        width=WIDTH,
        height=HEIGHT,
        js=[],
        disable_xml_declaration=True,
        show_dots=False,
        legend_at_bottom=True,
        legend_box_size=10,
        truncate_legend=-1,
        truncate_label=-1,
        margin=8,
        margin_right=30,  # room for the last x label, centred on the last point
        print_values=False,
        allow_interruptions=True,
        max_scale=8,  # at most about 8 y ticks: pygal's 16 crowd a 260-pixel chart's labels
    )
    options.update(overrides)
    return options


def _scale(series: Mapping[str, Sequence[float | None]]) -> dict[str, object]:
    """Ticks at whole numbers only (pygal's `order_min=0`) when every value is one."""
    values = [v for s in series.values() for v in s if v is not None]
    if values and all(float(v).is_integer() for v in values):
        return {"order_min": 0}
    return {}


def _without_scripts(chart: pygal.graph.graph.Graph) -> Markup:
    tree = chart.render_tree()
    for parent in tree.iter():
        for child in list(parent):
            if str(child.tag).endswith("script"):
                parent.remove(child)
    return Markup(ElementTree.tostring(tree, encoding="unicode"))


def _labels(x_labels: Sequence[str], width: int = WIDTH) -> dict[str, object]:
    """Show about one x label per 110 pixels, so long periods stay readable."""
    every = max(1, len(x_labels) // max(1, width // 110))
    return dict(x_labels_major_every=every, show_minor_x_labels=False, x_label_rotation=0)


def line(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    formatter: str = "{:,.0f}",
    y_min: float | None = 0.0,
    y_max: float | None = None,
    width: int = WIDTH,
) -> Markup:
    options = _common(width=width, **_labels(x_labels, width), **_scale(series))
    if y_min is not None or y_max is not None:
        low = (
            y_min
            if y_min is not None
            else min((v for s in series.values() for v in s if v is not None), default=0)
        )
        high = (
            y_max
            if y_max is not None
            else max((v for s in series.values() for v in s if v is not None), default=1)
        )
        options["range"] = (low, high if high > low else low + 1)
    chart = pygal.Line(**options, value_formatter=lambda value: formatter.format(value))
    chart.title = title
    chart.x_labels = list(x_labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _without_scripts(chart)


def bars(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    formatter: str = "{:,.0f}",
    stacked: bool = False,
    colours: Sequence[str] | None = None,
    horizontal: bool = False,
    width: int = WIDTH,
) -> Markup:
    style = Style(**{**STYLE.to_dict(), "colors": tuple(colours)}) if colours else STYLE
    kind = pygal.StackedBar if stacked else pygal.HorizontalBar if horizontal else pygal.Bar
    chart = kind(
        **_common(style=style, width=width, **_labels(x_labels, width), **_scale(series)),
        value_formatter=lambda value: formatter.format(value),
    )
    chart.title = title
    chart.x_labels = list(x_labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _without_scripts(chart)


def _hours(seconds: Sequence[float | None]) -> list[float | None]:
    return [None if value is None else value / 3600 for value in seconds]


def support_times(
    x_labels: Sequence[str],
    first_response_seconds: Sequence[float | None],
    resolution_seconds: Sequence[float | None],
) -> Markup:
    """Average first response and resolution times over 7 days, in hours (half width)."""
    return line(
        "Average times over 7 days (hours)",
        x_labels,
        {
            "first response": _hours(first_response_seconds),
            "resolution": _hours(resolution_seconds),
        },
        formatter="{:,.1f} h",
        width=HALF,
    )


def sentiment(
    title: str,
    x_labels: Sequence[str],
    nps: Sequence[float | None],
    csat: Sequence[float | None],
) -> Markup:
    """NPS (-100..100) and CSAT (0..1, drawn x 100) on one -100..100 scale."""
    return line(
        title,
        x_labels,
        {
            "NPS": list(nps),
            "CSAT x 100": [None if value is None else value * 100 for value in csat],
        },
        y_min=-100.0,
        y_max=100.0,
    )
