"""`pulse replay` end to end (CliRunner), the shared pipeline, and the config loader."""

from __future__ import annotations

import gzip
import io
import os
import random
import re
import threading
from decimal import Decimal
from pathlib import Path

import msgspec
import orjson
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from streams.cli import main
from streams.contract.rfc3339 import rfc3339_ms
from streams.errors import ConfigError
from streams.ingest.pipeline import Pipeline, Status
from streams.pulse_config import PulseConfig, load_config
from tests.engine_events import DAY_MS, HOUR_MS, T0, synthetic_events
from tests.test_exposition import CONTRACT_GAUGES

TIME_FIELDS = ("occurred_at", "effective_at", "trial_ends_at")


def to_line(event) -> bytes:
    """An engine test event as one line of the Kafka message format."""
    obj = {}
    for field in msgspec.structs.fields(event):
        value = getattr(event, field.name)
        if value is None:
            continue
        if field.name in TIME_FIELDS:
            value = rfc3339_ms(value)
        elif isinstance(value, Decimal):
            value = float(value)
        obj[field.name] = value
    return orjson.dumps(obj)


def message(**fields) -> bytes:
    fields.setdefault("account_id", "acme")
    return orjson.dumps(fields)


def login_line(event_id: str, at: str, user: str = "u1") -> bytes:
    return message(event_id=event_id, type="login", occurred_at=at, user_id=user)


def metrics(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def run(args: list[str], stdin: bytes | None = None):
    return CliRunner().invoke(main, ["replay", *args], input=stdin)


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_replay_end_to_end_with_duplicates_rejections_and_dead_letters(tmp_path):
    lines = [
        login_line("e1", "2026-03-01T09:00:00Z"),
        login_line("e1", "2026-03-01T09:00:00Z"),  # re-delivery: a duplicate, applied once
        b"{not json",
        message(
            event_id="e2",
            type="feature_used",
            occurred_at="2026-03-01T09:10:00Z",
            user_id="u1",
            feature="search",
        ),
        b"",
        message(
            event_id="e3",
            type="subscription_started",
            occurred_at="2026-03-01T08:00:00Z",
            subscription_id="s1",
            plan="growth",
            amount=300,
            currency="XXX",
            interval="month",
        ),
        message(event_id="e4", type="logout", occurred_at="2026-03-01T09:40:00Z"),  # no user_id
    ]
    source = write(tmp_path / "events.jsonl", lines)
    out, dead = tmp_path / "metrics.prom", tmp_path / "dead.jsonl"
    result = run([str(source), "--out", str(out), "--dead-letter", str(dead)])
    assert result.exit_code == 0, result.output
    values = metrics(out.read_text())
    assert values[("pulse_logins", (("window", "1d"),))] == 1
    assert values[("pulse_active_users", (("window", "1d"),))] == 1
    assert values[("pulse_events_duplicate_total", ())] == 1
    assert values[("pulse_events_total", (("type", "login"),))] == 1
    assert values[("pulse_events_rejected_total", (("reason", "invalid_json"),))] == 1
    assert (
        values[("pulse_events_rejected_total", (("reason", "no_exchange_rate"),))] == 1
    )  # XXX: ISO, no rate
    assert values[("pulse_events_rejected_total", (("reason", "missing_field:user_id"),))] == 1
    assert (
        values[("pulse_evaluation_timestamp_seconds", ())] == 1772356200
    )  # 09:10, the latest applied
    records = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(r["reason"], r["offset"], r["partition"]) for r in records] == [
        ("invalid_json", 3, 0),
        ("no_exchange_rate", 6, 0),
        ("missing_field:user_id", 7, 0),
    ]
    assert {r["topic"] for r in records} == {f"replay:{source}"}
    assert records[0]["raw_text"] == "{not json"
    assert "3 rejected" in result.stderr and "1 duplicates" in result.stderr


def test_replay_prints_every_contract_metric_on_stdout_from_stdin():
    lines = [
        login_line("e1", "2026-03-01T09:00:00Z"),
        message(
            event_id="e2",
            type="feature_used",
            occurred_at="2026-03-01T09:01:00Z",
            user_id="u1",
            feature="search",
        ),
        message(
            event_id="e3",
            type="subscription_started",
            occurred_at="2026-03-01T08:00:00Z",
            subscription_id="s1",
            plan="growth",
            amount=300,
            currency="USD",
            interval="month",
        ),
    ]
    result = run(["-"], stdin=b"\n".join(lines))
    assert result.exit_code == 0
    names = {name for name, _ in metrics(result.stdout)}
    assert CONTRACT_GAUGES | {"pulse_events_total", "pulse_events_duplicate_total"} <= names


def test_seed_mrr_example_through_replay(tmp_path):
    terms = [("year", 1, 1000), ("month", 1, 300), ("quarter", 1, 200), ("month", 3, 500)]
    lines = [
        message(
            event_id=f"s{i}",
            type="subscription_started",
            occurred_at="2026-03-01T00:00:00Z",
            account_id=f"c{i}",
            subscription_id=f"sub{i}",
            plan="p",
            amount=amount,
            currency="USD",
            interval=interval,
            interval_count=count,
        )
        for i, (interval, count, amount) in enumerate(terms)
    ]
    result = run([str(write(tmp_path / "mrr.jsonl", lines))])
    assert result.exit_code == 0
    assert 'pulse_mrr{plan="p"} 616.67' in result.stdout


def test_shuffled_file_gives_the_same_exposition(tmp_path):
    events = synthetic_events(seed=11, days=30)
    lines = [to_line(event) for event in events]
    lines += random.Random(0).sample(lines, 40)  # re-deliveries
    outputs = set()
    for seed in range(3):
        shuffled = list(lines)
        random.Random(seed).shuffle(shuffled)
        result = run([str(write(tmp_path / f"shuffled{seed}.jsonl", shuffled))])
        assert result.exit_code == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert metrics(outputs.pop())[("pulse_events_duplicate_total", ())] == 40


def test_events_after_as_of_are_counted_apart_not_rejected(tmp_path):
    lines = [
        login_line("e1", "2026-03-01T09:00:00Z", user="a"),
        login_line("e2", "2026-03-01T10:00:00Z", user="b"),
        login_line(
            "e3", "2026-03-01T10:02:00Z", user="c"
        ),  # after --as-of, within the future tolerance
        login_line(
            "e4", "2026-03-01T11:00:00Z", user="d"
        ),  # beyond the tolerance: still only "after as-of"
        b"{not json",
    ]
    source = write(tmp_path / "e.jsonl", lines)
    dead = tmp_path / "dead.jsonl"
    result = run([str(source), "--as-of", "2026-03-01T10:00:00Z", "--dead-letter", str(dead)])
    assert result.exit_code == 0
    values = metrics(result.stdout)
    assert values[("pulse_logins", (("window", "1d"),))] == 2
    assert values[("pulse_evaluation_timestamp_seconds", ())] == 1772359200
    assert [orjson.loads(r)["reason"] for r in dead.read_bytes().splitlines()] == ["invalid_json"]
    assert ("pulse_events_rejected_total", (("reason", "future_timestamp"),)) not in values
    assert "1 rejected" in result.stderr and "2 after --as-of not applied" in result.stderr
    in_ms = run([str(source), "--as-of", "1772359200000"])
    assert in_ms.stdout == result.stdout


def test_a_replay_of_the_past_does_not_let_later_events_move_stream_time(tmp_path):
    """A login 40 days after --as-of must not make the earlier logins too late."""
    lines = [
        login_line("late", "2026-04-10T00:00:00Z", user="z"),
        login_line("e1", "2026-03-01T09:00:00Z"),
    ]
    result = run([str(write(tmp_path / "e.jsonl", lines)), "--as-of", "2026-03-01T10:00:00Z"])
    assert result.exit_code == 0, result.output
    assert metrics(result.stdout)[("pulse_logins", (("window", "1d"),))] == 1
    assert "0 rejected" in result.stderr


@pytest.mark.parametrize("seconds", ["1772323200", "0", "-5"])
def test_as_of_in_epoch_seconds_is_refused_with_one_sentence(tmp_path, seconds):
    source = write(tmp_path / "e.jsonl", [login_line("e1", "2026-03-01T09:00:00Z")])
    result = run([str(source), "--as-of", seconds])
    assert result.exit_code == 2
    assert (
        "looks like epoch seconds" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        ([], "holds no event"),
        ([b"", b"  "], "holds no event"),
        ([b"{not json", b"[1]"], "No event was applied: of 2 lines, 2 were rejected"),
    ],
)
def test_an_input_without_an_applied_event_fails_with_one_sentence(tmp_path, lines, fragment):
    out = tmp_path / "metrics.prom"
    result = run([str(write(tmp_path / "e.jsonl", lines)), "--out", str(out)])
    assert result.exit_code == 1
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b""


def test_all_events_after_as_of_is_no_applied_event(tmp_path):
    source = write(tmp_path / "e.jsonl", [login_line("e1", "2026-03-01T09:00:00Z")])
    result = run([str(source), "--as-of", "2026-02-01T00:00:00Z"])
    assert result.exit_code == 1 and "1 after --as-of" in result.stderr


class _Unreadable(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise AssertionError("the input was read before --out was opened")


def test_out_is_opened_before_the_input_is_read(tmp_path):
    result = run(
        ["--out", str(tmp_path / "no" / "such" / "folder.prom")],
        stdin=io.BufferedReader(_Unreadable()),
    )
    assert result.exit_code == 1
    assert "Cannot write the output file" in result.stderr


def test_gzip_input_gives_the_same_exposition(tmp_path):
    lines = [to_line(e) for e in synthetic_events(seed=3, days=5)]
    plain = write(tmp_path / "e.jsonl", lines)
    packed = tmp_path / "e.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert run([str(packed)]).stdout == run([str(plain)]).stdout
    assert run([str(packed)]).exit_code == 0


@pytest.mark.parametrize(
    "content", [b"plain text, not gzip\n", None], ids=["not-gzip", "cut-short"]
)
def test_a_broken_gzip_input_is_one_sentence(tmp_path, content):
    if content is None:
        content = gzip.compress(
            b"\n".join(login_line(f"e{i}", "2026-03-01T09:00:00Z") for i in range(50))
        )[:-20]
    packed = tmp_path / "e.jsonl.gz"
    packed.write_bytes(content)
    result = run([str(packed)])
    assert result.exit_code == 1
    assert (
        "is not a complete gzip file" in result.stderr
        and len(result.stderr.strip().splitlines()) == 1
    )


def test_progress_shows_a_total_and_an_eta_for_files_only(tmp_path, monkeypatch):
    monkeypatch.setattr("streams.cli.replay.PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr("streams.cli.replay._CHECK_CLOCK_EVERY", 2)
    lines = [login_line(f"e{i}", "2026-03-01T09:00:00Z", user=f"u{i}") for i in range(6)]
    source = write(tmp_path / "e.jsonl", lines)
    progress = [
        line
        for line in run([str(source)]).stderr.splitlines()
        if "lines/s" in line and "applied" not in line
    ]
    assert progress and all(
        re.search(r"\d+% of [\d.,]+ MB, ETA [\d,]+ s$", line) for line in progress
    ), progress
    piped = run([], stdin=source.read_bytes()).stderr.splitlines()
    assert all("ETA" not in line for line in piped)


def test_help_shows_the_environment_variables():
    text = CliRunner().invoke(main, ["worker", "--help"]).output
    for variable in (
        "PULSE_BOOTSTRAP",
        "PULSE_METRICS_PORT",
        "PULSE_CONFIG",
        "PULSE_SASL_PASSWORD",
    ):
        assert variable in text, variable
    assert "PULSE_KAFKA_PORT" in CliRunner().invoke(main, ["dev", "kafka", "up", "--help"]).output


def test_as_of_in_the_past_within_the_late_horizon(tmp_path):
    lines = [to_line(e) for e in synthetic_events(seed=12, days=20)]
    source = write(tmp_path / "e.jsonl", lines)
    as_of = T0 + 10 * DAY_MS + 5 * HOUR_MS
    full = run([str(source), "--as-of", str(as_of)])
    truncated = [line for line in lines if orjson.loads(line)["occurred_at"] <= rfc3339_ms(as_of)]
    only_past = run([str(write(tmp_path / "past.jsonl", truncated)), "--as-of", str(as_of)])

    def strip(text: str) -> dict[tuple[str, tuple], float]:
        return {k: v for k, v in metrics(text).items() if not k[0].startswith("pulse_events")}

    assert strip(full.stdout) == strip(only_past.stdout)


@pytest.mark.parametrize(
    ("args", "toml", "fragment", "code"),
    [
        (["missing.jsonl"], None, "does not exist", 2),
        (["--as-of", "yesterday"], None, "--as-of", 2),
        (["--as-of", "2026-03-01T00:00:00"], None, "--as-of", 2),
        (["--config", "cfg.toml"], "[policy\n", "not valid TOML", 1),
        (["--config", "cfg.toml"], "[workers]\nx = 1\n", "Unknown section [workers]", 1),
        (
            ["--config", "cfg.toml"],
            "[engine]\nsession_gap_minutes = -5\n",
            "session_gap_minutes",
            1,
        ),
        (["--config", "nowhere.toml"], None, "does not exist", 1),
    ],
)
def test_user_errors_are_one_sentence_with_the_exit_code_rule(
    tmp_path, monkeypatch, args, toml, fragment, code
):
    """2 when the command line is wrong, 1 when the run fails (configuration included)."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "ok.jsonl", [login_line("e1", "2026-03-01T09:00:00Z")])
    if toml is not None:
        (tmp_path / "cfg.toml").write_text(toml)
    runner_args = args if args[0] == "missing.jsonl" else ["ok.jsonl", *args]
    result = run(runner_args)
    assert result.exit_code == code
    assert fragment in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_progress_is_reported_on_stderr_for_long_inputs(tmp_path, monkeypatch):
    monkeypatch.setattr("streams.cli.replay.PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr("streams.cli.replay._CHECK_CLOCK_EVERY", 2)
    lines = [login_line(f"e{i}", "2026-03-01T09:00:00Z", user=f"u{i}") for i in range(6)]
    result = run([str(write(tmp_path / "e.jsonl", lines))])
    progress = [
        line for line in result.stderr.splitlines() if "lines/s" in line and "applied" not in line
    ]
    first_read = [line for line in progress if line.startswith("replay, first read")]
    # a file is read once first, for the ids that repeat, in blocks of about 1 MB
    assert len(first_read) == 1
    assert first_read[0].startswith("replay, first read (which event ids repeat): 6 lines, ")
    assert [line.split(",")[0] for line in progress[1:]] == [
        "replay: 2 lines",
        "replay: 4 lines",
        "replay: 6 lines",
    ]


def test_a_named_pipe_is_read_once_with_progress_and_no_share_done(tmp_path, monkeypatch):
    """`pulse replay <(zcat events.jsonl.gz)`: a path that is a pipe has neither a size nor
    a position (tell() raised "Illegal seek" at the first progress line), and cannot be
    read twice, so every id is remembered."""
    monkeypatch.setattr("streams.cli.replay.PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr("streams.cli.replay._CHECK_CLOCK_EVERY", 2)
    lines = [login_line(f"e{i}", "2026-03-01T09:00:00Z", user=f"u{i}") for i in range(6)]
    lines.append(lines[0])  # a duplicate
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    results = []
    # daemon threads, and a bounded wait: a replay that opens the pipe twice waits forever
    # for a second writer (the bytes went to the first opening), and must fail, not hang
    writer = threading.Thread(
        target=lambda: fifo.write_bytes(b"\n".join(lines) + b"\n"), daemon=True
    )
    reader = threading.Thread(
        target=lambda: results.append(run([str(fifo), "--out", str(tmp_path / "out.prom")])),
        daemon=True,
    )
    writer.start()
    reader.start()
    reader.join(timeout=30)
    assert results, "the replay of a named pipe did not end"
    result = results[0]
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if "lines/s" in line]
    assert progress[0].startswith("replay: 2 lines") and " of " not in progress[0]
    assert "6 applied, 1 duplicates" in result.stderr


def test_pipeline_counts_and_dead_letters_without_files():
    pipeline = Pipeline(PulseConfig(), now_ms=lambda: 0)
    line = login_line("e1", "2026-03-01T09:00:00Z")
    assert pipeline.process(line, "pulse.logins", 2, 10).status is Status.APPLIED
    assert pipeline.process(line, "pulse.logins", 2, 11).status is Status.DUPLICATE
    wrong = pipeline.process(login_line("e2", "2026-03-01T09:00:00Z"), "pulse.tickets", 1, 5)
    assert wrong.status is Status.REJECTED and wrong.rejection.reason == "wrong_topic"
    record = orjson.loads(wrong.dead_letter)
    assert (record["topic"], record["partition"], record["offset"]) == ("pulse.tickets", 1, 5)
    assert pipeline.counters.duplicates == 1
    assert pipeline.counters.events_by_type["login"] == 1


def test_config_sections_reach_their_parts(tmp_path):
    path = tmp_path / "pulse.toml"
    path.write_text(
        '[policy]\nactivity_horizon_days = 50\n[engine]\nsession_gap_minutes = 15\nfeatures = ["search"]\n'
        '[revenue]\nreporting_currency = "EUR"\n'
    )
    config = load_config(path)
    assert config.engine.session_gap_ms == 15 * 60_000
    assert config.engine.features == ("search",)
    assert (
        config.engine.activity_lag_ms == 50 * DAY_MS
    )  # the engine keeps what the policy can still send
    assert config.engine.ticket_retention_ms >= 57 * DAY_MS
    assert config.revenue.reporting_currency == "EUR"
    with pytest.raises(ConfigError, match="feature_cap"):
        PulseConfig.from_mapping({"engine": {"feature_cap": 0}})
