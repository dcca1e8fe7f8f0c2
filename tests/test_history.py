"""`pulse replay --from --to --step`: the incremental history equals separate one-instant
replays at every step (admission verdicts, counters, every series), and its OpenMetrics
text has one family's samples together, each with the step's timestamp."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from streams.cli import main
from streams.cli.history import decode_inputs, stepped_snapshots
from streams.cli.replay import ReplaySummary, ingest, parse_time
from streams.exposition import Exposition, metric_families
from streams.generator import GeneratorConfig, generate
from streams.ingest.pipeline import Pipeline
from streams.pulse_config import PulseConfig
from tests.test_replay import login_line, message

DAY_MS = 86_400_000
EXPOSITION = Exposition(ratios=True)


def series(families) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families
        for s in family.samples
    }


def one_instant(
    lines: list[bytes], as_of: int, config: PulseConfig
) -> dict[tuple[str, tuple], float]:
    """What `pulse replay --as-of` computes at `as_of` (its own code path)."""
    pipeline = Pipeline(config, clock=None, apply_until=as_of, check_topic=False)
    ingest(pipeline, [("file", lines)], ReplaySummary())
    pipeline.engine.prune()
    return series(metric_families(pipeline.engine.snapshot(as_of), pipeline.counters, EXPOSITION))


def stepped(lines: list[bytes], steps: list[int], config: PulseConfig):
    decoded = decode_inputs([("file", lines)], config, steps[-1])
    out = {}
    replay = None
    for as_of, samples, counters, replay in stepped_snapshots(decoded, config, steps):  # noqa: B007 - the last one is kept
        out[as_of] = series(metric_families(samples, counters, EXPOSITION))
    return out, replay


def generated(seed: int, end: int | None = None, days: int = 20, **faults: float) -> list[bytes]:
    fractions = {f"{k}_fraction": v for k, v in faults.items()}
    ends = {} if end is None else {"end": end}
    config = GeneratorConfig(accounts=15, days=days, seed=seed, **fractions, **ends)
    return [m.value for m in generate(config)]


def test_every_step_equals_a_one_instant_replay_with_late_duplicate_and_malformed_lines():
    lines = generated(7, late=0.03, duplicate=0.03, malformed=0.01)
    config = PulseConfig()
    end = parse_time("2026-03-01T00:00:00Z")
    steps = [end - DAY_MS * 12 + i * 6 * 3_600_000 for i in range(12 * 4 + 1)]
    history, replay = stepped(lines, steps, config)
    # the hard paths were taken: late lines made accounts re-judged and rebuilt
    assert replay.rejudged > 0 and replay.rebuilt > 0
    for as_of in steps:
        assert history[as_of] == one_instant(lines, as_of, config), as_of


def test_shuffled_file_order_still_equals_one_instant_replays():
    """Out-of-order files (a backlog of topics read one after another) judged as the file says."""
    lines = generated(11, late=0.02, duplicate=0.05)
    random.Random(3).shuffle(lines)
    config = PulseConfig()
    end = parse_time("2026-03-01T00:00:00Z")
    steps = [end - DAY_MS * 40 + i * DAY_MS for i in range(41)]
    history, replay = stepped(lines, steps, config)
    assert replay.rebuilt > 0
    for as_of in steps[::3] + [steps[-1]]:
        assert history[as_of] == one_instant(lines, as_of, config), as_of


def test_an_event_admitted_at_one_step_is_too_late_at_a_later_one():
    """The file holds the newer login first: before it occurred, the older one counts; after,
    the older one is judged behind it and rejected, as a one-instant replay at each step does."""
    lines = [
        login_line("new", "2026-03-01T09:00:00Z", user="u2"),
        login_line("old", "2026-01-20T09:00:00Z", user="u1"),
    ]
    config = PulseConfig()
    early, late = parse_time("2026-01-21T00:00:00Z"), parse_time("2026-03-02T00:00:00Z")
    history, replay = stepped(lines, [early, late], config)
    assert history[early][("pulse_events_total", (("type", "login"),))] == 1
    assert ("pulse_events_rejected_total", (("reason", "too_late"),)) not in history[early]
    assert history[late][("pulse_events_rejected_total", (("reason", "too_late"),))] == 1
    assert replay.rebuilt == 1
    for as_of in (early, late):
        assert history[as_of] == one_instant(lines, as_of, config)


@pytest.mark.parametrize(
    "engine",
    [
        {"time_zone": "America/New_York"},
        {
            "time_zone": "America/New_York",
            "activity_types": ["feature_used"],
            "core_features": ["reports"],
        },
        {
            "time_zone": "Europe/Berlin",
            "activity_types": ["login"],
            "core_features": ["export", "search"],
        },
    ],
)
def test_hourly_steps_across_a_dst_change_with_activity_knobs_equal_one_instant_replays(
    engine: dict[str, object],
) -> None:
    """[engine] time_zone, activity_types, core_features as a config file gives them; the
    generated sessions carry session_ids (tagged sessions); hourly steps over New York's
    spring-forward night (2026-03-08) and the local midnights around it. Two weeks of data
    up to the day after the last step: a next local midnight computed as 24 hours on
    (wrong on the 23-hour day) makes the first two cases differ at one step."""
    end = parse_time("2026-03-10T00:00:00Z")
    lines = generated(5, end=end, days=14, late=0.01)
    assert any(b'"ses_' in line for line in lines)  # generated logins carry session_ids
    config = PulseConfig.from_mapping({"engine": engine})
    start = parse_time("2026-03-07T12:00:00Z")
    steps = [start + i * 3_600_000 for i in range(2 * 24 + 1)]
    history, _replay = stepped(lines, steps, config)
    for as_of in steps:
        assert history[as_of] == one_instant(lines, as_of, config), as_of


def run(args: list[str]):
    return CliRunner().invoke(main, ["replay", *args])


def test_cli_writes_openmetrics_with_a_timestamp_per_sample_and_families_together(tmp_path: Path):
    source = tmp_path / "events.jsonl"
    source.write_bytes(
        b"\n".join(
            [
                login_line("e1", "2026-03-01T09:00:00Z"),
                message(
                    event_id="e2",
                    type="feature_used",
                    occurred_at="2026-03-02T10:00:00Z",
                    user_id="u1",
                    feature="search",
                ),
                b"{not json",
            ]
        )
        + b"\n"
    )
    out = tmp_path / "history.om"
    result = run(
        [
            str(source),
            "--from",
            "2026-03-01T00:00:00Z",
            "--to",
            "2026-03-03T12:00:00Z",
            "--step",
            "1d",
            "--format",
            "openmetrics",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.endswith("# EOF\n")
    families = list(openmetrics_families(text))  # the parser refuses a family split in two
    names = [family.name for family in families]
    assert len(names) == len(set(names))
    events = next(family for family in families if family.name == "pulse_events")
    logins = sorted((s.timestamp, s.value) for s in events.samples if s.labels == {"type": "login"})
    assert [(float(t), v) for t, v in logins] == [
        (1772323200.0, 0.0),
        (1772409600.0, 1.0),
        (1772496000.0, 1.0),
    ]
    rejected = next(family for family in families if family.name == "pulse_events_rejected")
    assert {s.value for s in rejected.samples} == {
        1.0
    }  # the malformed line counts at every step, as --as-of does


def test_openmetrics_text_is_what_the_client_writes_for_every_point(tmp_path: Path):
    """The writer lets prometheus_client escape each series once and repeats its text per
    point: the bytes equal the client's own rendering of every point, label values that
    need escaping included."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.openmetrics.exposition import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from streams.cli.history import OpenMetricsHistory
    from streams.exposition import FamiliesCollector

    def step(value: float) -> list[Metric]:
        gauge = Metric("pulse_odd", "Help with \\ and \n.", "gauge")
        gauge.add_sample("pulse_odd", {"plan": 'a"b\\c\nd', "window": "7d"}, value)
        gauge.add_sample("pulse_odd", {"plan": "é", "window": "7d"}, value / 3)
        counter = Metric("pulse_events", "Events.", "counter")
        counter.add_sample("pulse_events_total", {"type": "login"}, value * 2)
        return [gauge, counter]

    lines = generated(3)
    config = PulseConfig()
    end = parse_time("2026-03-01T00:00:00Z")
    steps = [end - DAY_MS * 3 + i * 6 * 3_600_000 for i in range(13)]
    writer, reference = OpenMetricsHistory(), {}
    for as_of, samples, counters, _replay in stepped_snapshots(
        decode_inputs([("f", lines)], config, steps[-1]), config, steps
    ):
        families = [*metric_families(samples, counters, EXPOSITION), *step(as_of / 1e9)]
        writer.add(as_of, families)
        for family in families:
            kept = reference.setdefault(
                family.name, Metric(family.name, family.documentation, family.type)
            )
            kept.samples.extend(s._replace(timestamp=as_of / 1000) for s in family.samples)
    out = tmp_path / "h.om"
    with out.open("wb") as output:
        writer.write(output)
    expected = []
    for family in reference.values():  # every point through the client, one series' points together
        order: dict[tuple, int] = {}
        for sample in family.samples:
            order.setdefault((sample.name, tuple(sorted(sample.labels.items()))), len(order))
        family.samples.sort(key=lambda s: order[(s.name, tuple(sorted(s.labels.items())))])
        registry = CollectorRegistry(auto_describe=False)
        registry.register(FamiliesCollector.fixed([family]))
        expected.append(generate_latest(registry).removesuffix(b"# EOF\n"))
    assert out.read_bytes() == b"".join(expected) + b"# EOF\n"
    assert writer.point_count == sum(len(f.samples) for f in reference.values())


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--from", "2026-03-01T00:00:00Z", "--step", "1d"], "add --to"),
        (
            ["--from", "2026-03-01T00:00:00Z", "--to", "2026-03-02T00:00:00Z", "--step", "1w"],
            "--step '1w' is not a duration",
        ),
        (
            ["--from", "2026-03-02T00:00:00Z", "--to", "2026-03-01T00:00:00Z", "--step", "1d"],
            "give --to at or after --from",
        ),
        (
            ["--from", "yesterday", "--to", "2026-03-01T00:00:00Z", "--step", "1d"],
            "--from 'yesterday' is not a time",
        ),
        (
            [
                "--from",
                "2026-03-01T00:00:00Z",
                "--to",
                "2026-03-02T00:00:00Z",
                "--step",
                "1d",
                "--format",
                "text",
            ],
            "use --format openmetrics",
        ),
        (
            [
                "--from",
                "2026-03-01T00:00:00Z",
                "--to",
                "2026-03-02T00:00:00Z",
                "--step",
                "1d",
                "--as-of",
                "2026-03-01T00:00:00Z",
            ],
            "drop --as-of",
        ),
    ],
)
def test_bad_history_options_are_one_sentence(tmp_path: Path, args: list[str], sentence: str):
    source = tmp_path / "events.jsonl"
    source.write_bytes(login_line("e1", "2026-03-01T09:00:00Z") + b"\n")
    result = run([str(source), *args])
    assert result.exit_code == 2
    assert sentence in result.output
    assert "Traceback" not in result.output


def test_one_instant_openmetrics_stamps_every_sample_with_the_as_of(tmp_path: Path):
    source = tmp_path / "events.jsonl"
    source.write_bytes(login_line("e1", "2026-03-01T09:00:00Z") + b"\n")
    out = tmp_path / "now.om"
    result = run(
        [
            str(source),
            "--as-of",
            "2026-03-01T10:00:00Z",
            "--format",
            "openmetrics",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    families = list(openmetrics_families(out.read_text()))
    stamps = {float(s.timestamp) for family in families for s in family.samples}
    assert stamps == {parse_time("2026-03-01T10:00:00Z") / 1000}


def openmetrics_points(text: str) -> dict[float, dict[tuple[str, tuple], float]]:
    """An OpenMetrics text's samples, by timestamp (seconds) then series."""
    points: dict[float, dict[tuple[str, tuple], float]] = {}
    for family in openmetrics_families(text):
        for s in family.samples:
            points.setdefault(float(s.timestamp), {})[(s.name, tuple(sorted(s.labels.items())))] = (
                s.value
            )
    return points


def test_account_series_make_every_step_equal_a_one_instant_replay_in_full(tmp_path: Path):
    """--account-series: each step holds exactly what `pulse replay --as-of T` prints, the
    account layer's aggregates and watchlist included (both written by the CLI)."""
    from streams.engine.account_metrics import ACCOUNT_HELP

    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(generated(11, late=0.03, duplicate=0.03, malformed=0.01)) + b"\n")
    end = parse_time("2026-03-01T00:00:00Z")
    first = end - 4 * DAY_MS
    out = tmp_path / "history.om"
    window = ["--from", str(first), "--to", str(end), "--step", "1d", "--format", "openmetrics"]
    result = run([str(source), *window, "--account-series", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # the hard path was taken: a late line made an account's engine state rebuilt
    rebuilt = re.search(r"(\d+) rebuilt", result.output)
    assert rebuilt and int(rebuilt.group(1)) > 0, result.output
    history = openmetrics_points(out.read_text())
    steps = [first + i * DAY_MS for i in range(5)]
    assert sorted(history) == [as_of / 1000 for as_of in steps]
    for as_of in steps:
        instant = tmp_path / f"{as_of}.om"
        result = run(
            [str(source), "--as-of", str(as_of), "--format", "openmetrics", "--out", str(instant)]
        )
        assert result.exit_code == 0, result.output
        (expected,) = openmetrics_points(instant.read_text()).values()
        got = history[as_of / 1000]
        assert got == expected, as_of
        names = {name for name, _ in got}
        # the account families are there: counts by band, MRR, at risk, the watchlist
        assert {"pulse_accounts", "pulse_accounts_mrr", "pulse_mrr_at_risk"} <= names, as_of
        assert any(name.startswith("pulse_watchlist_account") for name in names), as_of
    # the default stays the global series only
    plain = tmp_path / "plain.om"
    assert run([str(source), *window, "--out", str(plain)]).exit_code == 0
    plain_names = {
        name for step in openmetrics_points(plain.read_text()).values() for name, _ in step
    }
    assert not {name for name in plain_names if name in ACCOUNT_HELP}


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--account-series"], "add --from, --to and --step, or drop --account-series"),
        (["--as-of", "2026-03-01T10:00:00Z", "--account-series"], "drop --account-series"),
        (
            ["--from", "2026-03-01T00:00:00Z", "--to", "2026-03-02T00:00:00Z", "--account-series"],
            "add --step",
        ),
        (
            [
                "--from",
                "2026-03-01T00:00:00Z",
                "--to",
                "2026-03-02T00:00:00Z",
                "--step",
                "1d",
                "--account-series",
                "--jobs",
                "2",
            ],
            "drop --jobs",
        ),
    ],
)
def test_account_series_where_it_makes_no_sense_is_one_sentence(
    tmp_path: Path, args: list[str], sentence: str
):
    source = tmp_path / "events.jsonl"
    source.write_bytes(login_line("e1", "2026-03-01T09:00:00Z") + b"\n")
    result = run([str(source), *args])
    assert result.exit_code == 2
    assert sentence in result.output
    assert "Traceback" not in result.output
