"""The reports' charts as a reader sees their axes: whole-number ticks for counts.

Pure unit tests of streams.reports.charts (pygal, no browser): the y axis of a chart of
counts names each tick once, as a whole number; other charts keep pygal's own ticks."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from markupsafe import Markup

from streams.reports import charts

LABELS = ["2026-01-01", "2026-01-08", "2026-01-15", "2026-01-22", "2026-01-29"]


def y_ticks(svg: Markup) -> list[str]:
    """The texts of the y axis' tick labels, top to bottom as pygal writes them."""
    tree = ElementTree.fromstring(str(svg))
    ticks = []
    for group in tree.iter():
        if group.get("class", "").startswith("axis y"):
            ticks += [text.text or "" for text in group.iter() if text.tag.endswith("text")]
    return ticks


@pytest.mark.parametrize(
    "draw",
    [
        lambda series: charts.line("Tickets", LABELS, series),
        lambda series: charts.bars("Tickets", LABELS, series),
        lambda series: charts.bars("Accounts per band", LABELS, series, stacked=True),
    ],
)
def test_a_chart_of_small_counts_names_each_whole_number_tick_once(draw) -> None:
    svg = draw({"open": [3, 3, 2, 2, 1], "opened in 30 days": [0, 1, 3, 2, None]})
    ticks = y_ticks(svg)
    assert ticks, "no y axis found"
    assert len(ticks) == len(set(ticks)), ticks  # before: 0, 0, 1, 1, 1, 2, 2, 3, 3, ...
    assert all(tick.replace(",", "").lstrip("-").isdigit() for tick in ticks), ticks


def test_a_chart_of_fractions_keeps_its_fractional_ticks() -> None:
    svg = charts.line(
        "Average times over 7 days (hours)",
        LABELS,
        {"first response": [0.25, 0.5, 1.75, None, 0.1]},
        formatter="{:,.1f} h",
    )
    ticks = y_ticks(svg)
    assert len(ticks) == len(set(ticks)) and len(ticks) > 4, ticks
    assert any(not tick.startswith(("0.0", "1.0")) for tick in ticks), ticks  # 0.2 h, 0.4 h, ...


def test_a_tall_range_gets_a_readable_number_of_ticks() -> None:
    """MRR movements from 0 to 151,401 got a tick every 10,000 (16 labels on a 260-pixel
    chart, one on top of the next); at most about 8 now."""
    svg = charts.bars(
        "MRR movements, 30 days (USD)",
        ["2026-01-01", "2026-02-01"],
        {"new": [132_736.13, 151_401.30], "expansion": [13_847.20, 14_456.43]},
        width=charts.HALF,
    )
    ticks = y_ticks(svg)
    assert 3 <= len(ticks) <= 9, ticks
