"""History end to end: `pulse replay --step` -> promtool -> a real Prometheus -> range query.

The history of a generated dataset (with late and duplicate lines) is written as
OpenMetrics, turned into blocks by Debian's `promtool tsdb create-blocks-from openmetrics`
in the data folder of a Prometheus that is started afterwards, and a range query over the
period must give, at several instants, exactly the series and values that separate
one-instant `pulse replay --as-of` runs print for those instants.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.cli.replay import parse_time
from streams.engine.account_metrics import ACCOUNT_HELP
from streams.generator import GeneratorConfig, generate
from tests.support.servers import (
    COMMAND_TIMEOUT_S,
    QUERY_TIMEOUT_S,
    binary,
    pulse,
    running_prometheus,
)

pytestmark = pytest.mark.prometheus

HOUR_S = 3600
FIRST, LAST = "2026-02-08T00:00:00Z", "2026-03-01T00:00:00Z"
"""Hourly over the dataset's three weeks. At the first step the late lines (36-60 days
behind their account, in January) are in and accepted, their accounts' newer lines not
yet; the steps that take those in re-judge the accounts and turn the late lines into
too_late rejections (0 at the first checked instant, 27 at the second), so the re-judging
of accounts is exercised. promtool's backfill reads the whole file once per two-hour
block, so its cost grows with the square of the range: three weeks, not two months."""
CHECKED = (
    "2026-02-08T00:00:00Z",
    "2026-02-12T05:00:00Z",
    "2026-02-14T17:00:00Z",
    "2026-02-17T00:00:00Z",
    "2026-02-19T21:00:00Z",
    "2026-02-23T09:00:00Z",
    "2026-02-26T07:00:00Z",
    "2026-03-01T00:00:00Z",
)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "events.jsonl"
    config = GeneratorConfig(
        accounts=12, days=21, seed=5, late_fraction=0.02, duplicate_fraction=0.02
    )
    path.write_bytes(b"".join(message.value + b"\n" for message in generate(config)))
    return path


@pytest.fixture(scope="module")
def prometheus(events: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus whose data folder was backfilled with the history before it started."""
    folder = tmp_path_factory.mktemp("prometheus")
    history = folder / "history.om"
    pulse(
        "replay",
        events,
        "--from",
        FIRST,
        "--to",
        LAST,
        "--step",
        "1h",
        "--format",
        "openmetrics",
        "--out",
        history,
    )
    created = subprocess.run(
        [
            binary("promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(history),
            str(folder / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert created.returncode == 0, created.stderr[-2000:]
    config = {"global": {"scrape_interval": "15s"}}
    with running_prometheus(folder, config, "--storage.tsdb.retention.time=100y") as base:
        yield base


def one_instant(events: Path, at: str) -> dict[tuple[str, tuple], float]:
    text = pulse("replay", events, "--as-of", at)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_backfilled_range_equals_one_instant_replays(prometheus: str, events: Path):
    start_s, end_s = parse_time(FIRST) // 1000, parse_time(LAST) // 1000
    url = f"{prometheus}/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": '{__name__=~"pulse_.+"}', "start": start_s, "end": end_s, "step": HOUR_S}
    )
    with urllib.request.urlopen(
        url, timeout=QUERY_TIMEOUT_S
    ) as response:  # every series, three weeks hourly
        answer = json.loads(response.read())
    assert answer["status"] == "success"
    points: dict[int, dict[tuple[str, tuple], float]] = {}
    for result in answer["data"]["result"]:
        labels = dict(result["metric"])
        name = labels.pop("__name__")
        for at, value in result["values"]:
            points.setdefault(int(at), {})[(name, tuple(sorted(labels.items())))] = float(value)
    assert len(points) == (end_s - start_s) // HOUR_S + 1  # every hourly step is in Prometheus
    for at in CHECKED:
        # without --account-series the account layer's series are not backfilled (docs/operations.md)
        expected = {
            key: value
            for key, value in one_instant(events, at).items()
            if key[0] not in ACCOUNT_HELP
        }
        got = points[parse_time(at) // 1000]
        assert got.keys() == expected.keys(), at
        differing = {
            key: (got[key], expected[key]) for key in expected if got[key] != expected[key]
        }
        assert not differing, (at, differing)
