"""`pulse accounts`: the records from a file through replay's path, as JSON, CSV and Parquet."""

from __future__ import annotations

import csv
import io

import duckdb
import orjson
import pytest
from click.testing import CliRunner

from streams.cli.accounts import accounts, render
from streams.cli.replay import ReplaySummary, ingest
from streams.engine.records import account_records, to_json_ready
from streams.generator import GeneratorConfig, generate
from streams.ingest.pipeline import Pipeline
from streams.pulse_config import load_config

CONFIG = """
[accounts.plans]
starter = ["dashboard", "search"]
growth = ["dashboard", "search", "reports", "alerts"]
[accounts.onboarding]
steps = ["create_workspace", "invite_teammates", "connect_data_source", "create_first_dashboard", "set_up_alerts"]
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("accounts")
    events = folder / "events.jsonl"
    messages = generate(
        GeneratorConfig(
            accounts=25, days=40, seed=11, duplicate_fraction=0.01, malformed_fraction=0.01
        )
    )
    events.write_bytes(b"".join(m.value + b"\n" for m in messages))
    config = folder / "pulse.toml"
    config.write_text(CONFIG)
    return str(events), str(config)


def run(*args: str) -> bytes:
    result = CliRunner().invoke(accounts, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_json_equals_the_records_of_the_engine_fed_the_same_lines(dataset: tuple[str, str]) -> None:
    events, config_path = dataset
    as_of = "2026-02-20T00:00:00Z"
    written = run(events, "--config", config_path, "--as-of", as_of)
    got = orjson.loads(written)
    config = load_config(config_path)
    pipeline = Pipeline(
        config, clock=lambda: 1771545600000, apply_until=1771545600000, check_topic=False
    )
    with open(events, "rb") as lines:
        ingest(pipeline, [(events, lines)], ReplaySummary())
    engine = pipeline.engine
    expected = account_records(
        engine.store.items(), 1771545600000, engine.config, engine.revenue_config, config.accounts
    )
    assert got == orjson.loads(orjson.dumps([to_json_ready(r) for r in expected]))
    # written a record at a time, the very bytes of the whole list at once
    ready = [to_json_ready(r) for r in expected]
    assert written == orjson.dumps(ready, option=orjson.OPT_INDENT_2) + b"\n"
    assert len(got) > 10 and all(
        r["health"]["band"] in {"red", "yellow", "green", "unknown"} for r in got
    )
    assert {"stage", "mrr", "onboarding", "feature_adoption", "days_to_renewal"} <= set(got[0])


def test_csv_and_parquet_hold_the_same_rows(dataset: tuple[str, str], tmp_path) -> None:
    events, config_path = dataset
    records = orjson.loads(run(events, "--config", config_path))
    rows = list(
        csv.DictReader(
            io.StringIO(run(events, "--config", config_path, "--format", "csv").decode())
        )
    )
    assert [row["account_id"] for row in rows] == [r["account_id"] for r in records]
    assert [row["health.band"] for row in rows] == [r["health"]["band"] for r in records]
    target = tmp_path / "records.parquet"
    run(events, "--config", config_path, "--format", "parquet", "--out", str(target))
    table = duckdb.sql(
        f"SELECT account_id, \"health.band\" AS band, mrr FROM read_parquet('{target}') ORDER BY account_id"
    ).fetchall()
    assert [(a, b) for a, b, _ in table] == [
        (r["account_id"], r["health"]["band"]) for r in records
    ]
    assert [m for _, _, m in table] == pytest.approx([r["mrr"] for r in records])


def test_bad_input_is_one_sentence(dataset: tuple[str, str], tmp_path) -> None:
    result = CliRunner().invoke(accounts, [str(tmp_path / "missing.jsonl")])
    assert (
        result.exit_code == 2
        and "does not exist" in result.output
        and "Traceback" not in result.output
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("[accounts.health]\nbands = [90, 10]\n")
    result = CliRunner().invoke(accounts, [dataset[0], "--config", str(bad)])
    # as every command: 2 for a wrong command line, 1 for a run that fails (README)
    assert result.exit_code == 1 and "bands must be" in result.output
    # the output is opened before any line is read: a bad path fails at once
    result = CliRunner().invoke(accounts, [dataset[0], "--out", str(tmp_path / "no" / "a.json")])
    assert result.exit_code == 1 and "Cannot write the output file" in result.output


def test_render_is_stable_for_an_empty_file() -> None:
    assert render([], "json") == b"[]\n"
    assert render([], "csv") == b"\n"
