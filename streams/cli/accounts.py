"""`pulse accounts`: the account records (with health and onboarding) from JSONL events.

The lines run through replay's path exactly (`streams.cli.replay.ingest`: decode and
validate, de-duplicate, late and future policies, engine), the state is pruned as at a
checkpoint, and `streams.engine.records.account_records` computes the records at T: the
same function the worker's HTTP API calls over its tables, so both serve identical
records. Output: JSON (a list of records), CSV (one row per account, nested fields
flattened with dots: `health.score`, `feature_adoption.search`), or Parquet (through
DuckDB, which is only a test dependency of the project: install `duckdb` to use it).
Times are RFC 3339 UTC strings with milliseconds, money is a number in the reporting
currency with two decimals. `--jobs N` splits the accounts across N processes as `pulse
replay --jobs N` does (streams/cli/replay_jobs.py); the records are the same.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import click
import orjson

from streams.cli import fail
from streams.cli.replay import (
    ReplayError,
    ReplaySummary,
    _open_input,
    _open_output,
    evaluation_time,
    ingest,
    jobs_option,
    parse_time,
    pipeline_records,
    repeated_ids,
    replay_pipeline,
    resolved_jobs,
    run_in_jobs,
    young_collections_only,
)
from streams.contract.rfc3339 import rfc3339_ms
from streams.engine.records import to_json_ready
from streams.errors import PulseError
from streams.ingest.pipeline import Pipeline
from streams.pulse_config import PulseConfig, load_config

FORMATS = ("json", "csv", "parquet")


def records_from_files(
    files: tuple[str, ...], as_of_text: str | None, config_path: str | None
) -> tuple[int, list[dict[str, Any]]]:
    """(T, the records at T) from JSONL files, through replay's path, in one process."""
    config = load_config(config_path)
    as_of = parse_time(as_of_text) if as_of_text is not None else None
    with ExitStack() as stack:
        stack.enter_context(young_collections_only())  # the records too (replay.py)
        evaluated_at, pipeline = _ingested(files, as_of, config, stack)
        return evaluated_at, list(pipeline_records(pipeline, evaluated_at, config))


def _ingested(
    files: tuple[str, ...], as_of: int | None, config: PulseConfig, stack: ExitStack
) -> tuple[int, Pipeline]:
    """(T, the pipeline that ran every line, pruned as the worker prunes at checkpoints)."""
    pipeline = replay_pipeline(config, as_of, repeated_ids(files, config))
    ingest(pipeline, [_open_input(path, stack) for path in (files or ("-",))], ReplaySummary())
    evaluated_at = evaluation_time(pipeline, as_of)
    pipeline.engine.prune()
    return evaluated_at, pipeline


def write_records(
    files: tuple[str, ...],
    as_of: int | None,
    config: PulseConfig,
    jobs: int,
    stack: ExitStack,
    write: Callable[[Iterator[dict[str, Any]]], int],
) -> tuple[int, int]:
    """(T, what `write` returns) where `write` gets the JSON-ready records at T in
    account_id order, made one at a time: in one process, or in `jobs` processes whose
    records are merged as they come (streams/cli/replay_jobs.py). Nothing holds every
    record at once, unless `write` does."""
    if jobs == 1:
        evaluated_at, pipeline = _ingested(files, as_of, config, stack)
        records = pipeline_records(pipeline, evaluated_at, config)
        return evaluated_at, write(to_json_ready(record) for record in records)
    written: list[int] = []

    def on_records(merged: Iterator[tuple[str, bytes]]) -> None:
        written.append(write(orjson.loads(data) for _, data in merged))

    # each job finds its own repeated ids; the inputs opened here only give their sizes
    pipeline = replay_pipeline(config, as_of, None)
    inputs = [_open_input(path, stack) for path in files]
    evaluated_at, _ = run_in_jobs(
        jobs,
        inputs,
        config,
        as_of,
        pipeline,
        ReplaySummary(),
        None,
        on_records=on_records,
        require_applied=False,
    )
    return evaluated_at, written[0]


def json_pieces(ready: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A JSON list of JSON-ready records, one piece per record: together the bytes of
    `orjson.dumps(list(ready), option=OPT_INDENT_2) + b"\\n"` (a JSON text has no raw
    newline inside a string, so indenting every line of a record by two spaces nests it)."""
    opening = b"[\n  "
    for record in ready:
        yield opening + orjson.dumps(record, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")
        opening = b",\n  "
    yield b"[]\n" if opening == b"[\n  " else b"\n]\n"


def write_as(fmt: str, output: BinaryIO, ready: Iterator[dict[str, Any]]) -> int:
    """Write JSON-ready records to `output` in `fmt` (JSON a record at a time); how many."""
    if fmt == "json":
        count = 0  # the last piece closes the list: its index is the number of records
        for count, piece in enumerate(json_pieces(ready)):  # noqa: B007
            output.write(piece)
        return count
    table = list(ready)
    output.write(_table(table, fmt))
    return len(table)


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> dotted columns; the explanation list becomes one JSON text column."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, list):
            out[name] = orjson.dumps(value).decode()
        else:
            out[name] = value
    return out


def render(records: list[dict[str, Any]], fmt: str) -> bytes:
    """The records in `fmt`, at once (the command writes JSON a record at a time)."""
    ready = [to_json_ready(record) for record in records]
    if fmt == "json":
        return b"".join(json_pieces(ready))
    return _table(ready, fmt)


def _table(ready: list[dict[str, Any]], fmt: str) -> bytes:
    """CSV or Parquet: one row per record, a column per field any record has."""
    rows = [flatten(record) for record in ready]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode()
    return _parquet(rows, columns)


def _parquet(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    try:
        import duckdb
    except ImportError:
        raise ReplayError(
            "--format parquet needs the duckdb package: pip install duckdb, or use --format csv or json."
        ) from None
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "records.json"
        target = Path(directory) / "records.parquet"
        source.write_bytes(orjson.dumps([{c: row.get(c) for c in columns} for row in rows]))
        connection = duckdb.connect()
        try:
            connection.execute(
                f"COPY (SELECT * FROM read_json_auto('{source}')) TO '{target}' (FORMAT parquet)"
            )
        finally:
            connection.close()
        return target.read_bytes()


@click.command("accounts")
@click.argument("files", nargs=-1, metavar="[FILE ...|-]")
@click.option(
    "--as-of",
    "as_of",
    metavar="TIME",
    help="Evaluation time: RFC 3339 with an offset, or epoch ms. Default: the latest applied occurred_at.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--out",
    default="-",
    metavar="PATH",
    show_default=True,
    help="Where to write the records (- = stdout).",
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="TOML file with [policy], [engine], [revenue], [accounts].",
)
@jobs_option("every record")
def accounts(
    files: tuple[str, ...],
    as_of: str | None,
    fmt: str,
    out: str,
    config_path: str | None,
    jobs: int | None,
) -> None:
    """The record of every account (health, onboarding, money, usage, support) from JSONL events.

    Lines go through the same decode, admission and engine as `pulse replay`; the
    records at --as-of are the ones the worker's /accounts API serves. Reads stdin when no
    FILE (or -) is given.
    """
    try:
        config = load_config(config_path)
        as_of_ms = parse_time(as_of) if as_of is not None else None
        jobs = resolved_jobs(files, jobs)
        with ExitStack() as stack:
            output = _open_output(out, "output", stack)
            stack.enter_context(young_collections_only())  # the records too (replay.py)
            write = partial(write_as, fmt, output)
            evaluated_at, count = write_records(files, as_of_ms, config, jobs, stack, write)
            output.flush()
        click.echo(f"accounts: {count} records as of {rfc3339_ms(evaluated_at)}", err=True)
    except PulseError as error:
        fail(error)
