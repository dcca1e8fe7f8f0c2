"""Both reports as a person sees them: rendered by headless Chromium (Debian's package,
installed by ops/install-chromium.sh, which `make test` runs) to PNG and to its DOM.

Checks that the browser reports no error and fetches nothing (no network is used), that
every chart holds drawn data (a series path with points or a bar with a size, not only
axes), and that the screenshot shows the charts' colours.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli import main
from streams.reports.charts import PALETTE
from tests.test_reports import FROM, TO, busiest_account, events  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser
BROWSER_TIMEOUT_S = 180


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed: run `sh ops/install-chromium.sh` (Debian's chromium package)."
        )
    return path


def browse(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=900,4000",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False
    )


class Charts(HTMLParser):
    """Per `div.chart`: how many drawn series elements (a path with at least two points, a
    rect with width and height) its SVG holds."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[int] = []
        self._depth = 0  # div depth inside the current chart, 0 = outside

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "div":
            if self._depth:
                self._depth += 1
            elif "chart" in classes:
                self._depth = 1
                self.charts.append(0)
            return
        if not self._depth or "reactive" not in classes:
            return
        if (
            tag == "path"
            and len(re.findall(r"[-\d.]+[ ,][-\d.]+", found.get("d") or "")) >= 2
            or (
                tag == "rect"
                and float(found.get("width") or 0) > 0
                and float(found.get("height") or 0) > 0
            )
        ):
            self.charts[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._depth:
            self._depth -= 1


def png_colours(path: Path) -> set[tuple[int, int, int]]:
    """The distinct RGB colours of an 8-bit RGB or RGBA PNG (the format Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, header = 8, b"", None
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    assert header is not None
    width, height, depth, colour_type = header[:4]
    assert depth == 8 and colour_type in (2, 6), header
    channels = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    previous, colours, position = bytearray(stride), set(), 0
    for _ in range(height):
        kind, row = raw[position], bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + left) & 255
            elif kind == 2:
                row[i] = (row[i] + up) & 255
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 255
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                row[i] = (
                    row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)
                ) & 255
        colours.update(tuple(row[i : i + 3]) for i in range(0, stride, channels))
        previous = row
    return colours


@pytest.fixture(scope="module")
def pages(events: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811
    folder = tmp_path_factory.mktemp("pages")
    out = {"qbr": folder / "qbr.html", "portfolio": folder / "portfolio.html"}
    for args in (["qbr", busiest_account(events), str(events)], ["portfolio", str(events)]):
        result = CliRunner().invoke(
            main, ["report", *args, "--from", FROM, "--to", TO, "--out", str(out[args[0]])]
        )
        assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("name", ["qbr", "portfolio"])
def test_the_browser_draws_every_chart_without_errors(
    pages: dict[str, Path], name: str, tmp_path: Path
):
    dom = browse(pages[name], "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    problems = [
        line
        for line in dom.stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Failed to load" in line or "net::ERR" in line
    ]
    assert problems == []
    charts = Charts()
    charts.feed(dom.stdout)
    assert len(charts.charts) >= 6
    assert all(drawn > 0 for drawn in charts.charts), charts.charts
    picture = tmp_path / f"{name}.png"
    shot = browse(pages[name], f"--screenshot={picture}")
    assert shot.returncode == 0 and picture.exists(), shot.stderr[-2000:]
    colours = png_colours(picture)
    assert len(colours) > 50  # not a blank page
    first_series = tuple(int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5))
    assert first_series in colours  # the charts' first colour is on screen
