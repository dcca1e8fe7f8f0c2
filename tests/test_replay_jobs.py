"""`pulse replay --jobs N`: the same bytes as one process, split by the worker's partitioner."""

from __future__ import annotations

import gzip
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from streams.cli import main, replay_jobs
from streams.cli.replay_jobs import (
    LineOwner,
    OwnedLines,
    auto_jobs,
    block_accounts,
    line_account,
    usable_cores,
)
from streams.contract.decoding import Decoder, Rejection
from streams.generator import GeneratorConfig, generate
from streams.kafka.topics import partition_of
from tests.support.terminal import sigint_as_at_a_terminal

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated telemetry with duplicates, too-late and malformed lines, plus lines whose
    account the fast scan cannot read (whitespace, escapes, a nested account_id)."""
    config = GeneratorConfig(
        accounts=40,
        days=20,
        seed=7,
        duplicate_fraction=0.03,
        late_fraction=0.03,
        malformed_fraction=0.03,
    )
    lines = [message.value for message in generate(config)]
    first = orjson.loads(lines[0])
    odd = {**first, "event_id": "odd-1"}
    lines[10:10] = [
        orjson.dumps(odd).replace(b'"account_id":', b'"account_id" : '),  # whitespace: parsed
        orjson.dumps({**odd, "event_id": "odd-2", "note": 'say \\"hi\\"'}),  # an escape: parsed
        orjson.dumps(
            {"properties": {"account_id": "elsewhere"}, **odd, "event_id": "odd-3"}
        ),  # nested first
        orjson.dumps({**odd, "event_id": "odd-1"}),  # a duplicate of the whitespace line
        b"{not json",
    ]
    path = tmp_path_factory.mktemp("jobs") / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def replay(path: Path, out: Path, dead: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        main, ["replay", str(path), "--out", str(out), "--dead-letter", str(dead), *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output


def one_process_and_jobs(
    generated: Path, tmp_path: Path, toml: str, jobs: int
) -> tuple[bytes, bytes]:
    """The exposition of one process and of `--jobs` with the config `toml`, as bytes."""
    config = tmp_path / "pulse.toml"
    config.write_text(toml)
    args = ("--config", str(config))
    replay(generated, tmp_path / "one.prom", tmp_path / "one.dead", *args, "--jobs", "1")
    replay(generated, tmp_path / "jobs.prom", tmp_path / "jobs.dead", *args, "--jobs", str(jobs))
    return (tmp_path / "one.prom").read_bytes(), (tmp_path / "jobs.prom").read_bytes()


def dead_letters_without_time(path: Path) -> list[dict[str, object]]:
    """The records, without the wall-clock time each was written at."""
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    for record in records:
        del record["rejected_at"]
    return records


@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs_write_the_same_bytes_as_one_process(
    generated: Path, tmp_path: Path, jobs: int
) -> None:
    one = replay(generated, tmp_path / "one.prom", tmp_path / "one.dead", "--jobs", "1")
    many = replay(generated, tmp_path / "many.prom", tmp_path / "many.dead", "--jobs", str(jobs))
    assert (tmp_path / "many.prom").read_bytes() == (tmp_path / "one.prom").read_bytes()
    assert dead_letters_without_time(tmp_path / "many.dead") == dead_letters_without_time(
        tmp_path / "one.dead"
    )
    last = [text.strip().splitlines()[-1] for text in (one, many)]  # after any progress lines
    summary = [line.replace("many.dead", "one.dead").split("; ")[0:2] for line in last]
    assert summary[0] == summary[1]  # lines, applied, duplicates, rejected; as-of
    assert "duplicates" in one and " 0 duplicates" not in one and " 0 rejected" not in one
    for name in ("pulse_events_duplicate_total", 'reason="too_late"', 'reason="invalid_json"'):
        assert name in (tmp_path / "one.prom").read_text()


def test_jobs_with_as_of_and_no_ratios(generated: Path, tmp_path: Path) -> None:
    args = ("--as-of", "2026-02-20T00:00:00Z", "--no-ratios")
    replay(generated, tmp_path / "one.prom", tmp_path / "one.dead", *args)
    replay(generated, tmp_path / "two.prom", tmp_path / "two.dead", *args, "--jobs", "2")
    assert (tmp_path / "two.prom").read_bytes() == (tmp_path / "one.prom").read_bytes()


def test_jobs_with_a_feature_cap_fold_the_same_users_into_other(
    generated: Path, tmp_path: Path
) -> None:
    """Which features keep their label is known only once every job's counts are summed;
    the `other` users then come from the jobs' feature sets (streams/cli/replay_jobs.py)."""
    one, two = one_process_and_jobs(generated, tmp_path, "[engine]\nfeature_cap = 2\n", 2)
    assert b'pulse_feature_users{feature="other"' in one
    assert two == one


def test_jobs_with_a_small_watchlist_choose_the_same_accounts(
    generated: Path, tmp_path: Path
) -> None:
    """Each job hands back only its own watchlist candidates; the accounts chosen from
    their union are the ones one process chooses from every record."""
    toml = "[accounts.watchlist]\ncap = 5\ntop_by_mrr = 2\n"
    one, three = one_process_and_jobs(generated, tmp_path, toml, 3)
    lines = one.decode().splitlines()
    red = [line for line in lines if line.startswith("pulse_watchlist_account_red{")]
    chosen = {line.split('account="')[1].split('"')[0] for line in red}
    assert len(chosen) == 5 and sum(line.endswith(" 1.0") for line in red) == 3
    assert three == one


def test_jobs_with_nothing_applied_end_with_the_one_process_sentence(tmp_path: Path) -> None:
    """The parent decides after the jobs ran their lines; the jobs waiting for the
    evaluation time are ended, and the run fails as one process does."""
    path = tmp_path / "rejected.jsonl"
    path.write_bytes(b'{not json\n[1]\n{"account_id":"a","type":"login"}\n')
    for jobs in ("1", "2"):
        result = CliRunner().invoke(main, ["replay", str(path), "--jobs", jobs, "--out", "-"])
        assert result.exit_code == 1, result.output
        assert "No event was applied: of 3 lines, 3 were rejected" in result.output
        assert "Traceback" not in result.output


def test_a_job_that_fails_ends_the_run_with_its_sentence(generated: Path, tmp_path: Path) -> None:
    """A truncated gzip input fails in the jobs as in one process: one sentence, no trace."""
    whole = gzip.compress(generated.read_bytes())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    result = CliRunner().invoke(main, ["replay", str(path), "--jobs", "2", "--out", "-"])
    assert result.exit_code == 1, result.output
    assert "failed: Input file" in result.output and "not a complete gzip file" in result.output
    assert "Traceback" not in result.output


def test_every_decodable_line_goes_to_its_account_partition(generated: Path) -> None:
    """The owner must be exact for every line the contract accepts (its outcome depends on
    its account's state); a line it rejects is rejected by whichever job reads it."""
    owner, decoder, decoded = LineOwner(3), Decoder(), 0
    for raw in generated.read_bytes().splitlines():
        event = decoder.decode(raw)
        if isinstance(event, Rejection):
            continue
        decoded += 1
        assert line_account(raw) == event.account_id.encode()
        assert owner(raw) == partition_of(event.account_id.encode(), 3)
    assert decoded > 1000
    assert line_account(b'{"account_id":"a","properties":{"account_id":"b"}}') == b"a"
    assert line_account(b'{"properties":{"account_id":"b"},"account_id" : "a"}') == b"a"
    assert line_account(b'{"account_id":"a\\u00e9"}') == "a\u00e9".encode()
    assert line_account(b'{"account_id":1}') is None and line_account(b"[1]") is None


def test_a_jobs_first_read_marks_the_lines_it_owns(generated: Path) -> None:
    """The marks the first read leaves (lines as read: line breaks, blank and CRLF lines)
    give every line's owner as reading its account in the run would, and the first read
    sees only the job's own lines."""
    lines = generated.read_bytes().splitlines(keepends=True)
    lines[5:5] = [b"\n", b"   \n", lines[3].rstrip(b"\n") + b"\r\n", b'{"account_id" : "x"}\r\n']
    owner = LineOwner(3)
    runs: list[list[int]] = []
    for job in range(3):
        owned = OwnedLines(LineOwner(3), job)
        blocks = [b"".join(lines[start : start + 50]) for start in range(0, len(lines), 50)]
        selected = b"".join(owned.select(iter(blocks)))
        assert len(owned.marks) == 1 and len(owned.marks[0]) == len(lines)
        stripped = [line.rstrip(b"\r\n") for line in lines]
        mine = [line for line, raw in zip(lines, stripped, strict=True) if owner(raw) == job]
        assert selected == b"".join(mine)
        runs.append(
            [n for n, raw in enumerate(stripped, 1) if raw.strip() and owned.owns(0, n, raw)]
        )
        # a line past the marks (an input that grew) is read as before
        extra = b'{"account_id":"acct_1"}'
        unskipped = [n for n, _ in owned.unskipped(0, enumerate([*lines, extra, extra], 1))]
        marked = [n for n, mark in enumerate(owned.marks[0], 1) if mark]
        assert unskipped == [*marked, len(lines) + 1, len(lines) + 2]
        assert owned.owns(0, len(lines) + 1, extra) == (owner(extra) == job)
        assert owned.owns(1, 1, extra) == (owner(extra) == job)  # an input not read first
    every = sorted(n for run in runs for n in run)
    assert every == [n for n, line in enumerate(lines, 1) if line.strip()]  # each once
    assert all(runs)


def test_a_block_gives_each_line_its_own_account_or_is_read_line_by_line() -> None:
    """One scan finds every line's account only when each line has exactly one token; a
    line that nests a second one beside a line with none must not shift the others."""
    plain = b'{"account_id":"a","x":1}\n{"account_id":"b"}\n'
    assert block_accounts(plain, 2) == [b"a", b"b"]
    nested = b'{"x":{"account_id":"b"},"account_id":"a"}\n{"type":"none"}\n{"account_id":"c"}\n'
    assert block_accounts(nested, 3) is None
    owned = OwnedLines(LineOwner(4), 0)
    list(owned.select([nested]))
    lines = nested.splitlines()
    owner = LineOwner(4)
    assert [owned.owns(0, n, line) for n, line in enumerate(lines, 1)] == [
        owner(line) == 0 for line in lines
    ]
    assert line_account(lines[0]) == b"a"


def test_a_jobs_first_read_reports_its_bytes_in_its_progress_slot(generated: Path) -> None:
    """The parent shows the first read's share done from the slot each job writes (the
    lines run stay 0 until the run starts)."""
    from streams.cli.replay import repeated_ids
    from streams.pulse_config import load_config

    shared = [0] * 6
    owned = OwnedLines(LineOwner(2), 1)
    repeated_ids([str(generated)], load_config(None), report=False, owned=owned, shared=(shared, 5))
    assert shared == [0, 0, 0, 0, 0, generated.stat().st_size]


def test_auto_jobs_split_files_of_4_mb_or_more_one_job_per_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(replay_jobs, "CGROUP_ROOT", tmp_path / "no-cgroup")  # no CPU quota
    small, large, packed = tmp_path / "small.jsonl", tmp_path / "large.jsonl", tmp_path / "x.gz"
    small.write_bytes(b"{}\n")
    with large.open("wb") as out:
        out.truncate(replay_jobs.AUTO_MIN_BYTES)
    with packed.open("wb") as out:  # counted as 8 times its size: 4 MB of lines
        out.truncate(replay_jobs.AUTO_MIN_BYTES // 8)
    assert auto_jobs([str(small)]) == 1
    assert auto_jobs([str(large)]) == 3
    assert auto_jobs([str(packed)]) == 3
    assert auto_jobs([str(small), str(small)]) == 1
    assert auto_jobs([str(large), "-"]) == 1  # stdin is read once, by one job
    assert auto_jobs([]) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert auto_jobs([str(large)]) == replay_jobs.AUTO_MAX_JOBS


def test_usable_cores_follow_a_containers_cpu_quota_v2_and_v1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    v2, v1 = tmp_path / "v2", tmp_path / "v1"
    v2.mkdir()
    (v1 / "cpu").mkdir(parents=True)
    assert usable_cores(tmp_path / "none") == 16  # no cgroup files: the affinity
    (v2 / "cpu.max").write_text("150000 100000\n")  # 1.5 cores: 2 jobs
    assert usable_cores(v2) == 2
    (v2 / "cpu.max").write_text("max 100000\n")
    assert usable_cores(v2) == 16
    (v2 / "cpu.max").write_text("50000 100000\n")  # half a core: still one job
    assert usable_cores(v2) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(v1) == 4
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cores(v1) == 16
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("not a number\n")
    assert usable_cores(v1) == 16


def test_the_default_jobs_auto_writes_the_same_bytes_and_says_how_many(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = replay(generated, tmp_path / "one.prom", tmp_path / "one.dead", "--jobs", "1")
    assert "jobs)" not in one  # the fixture is far below 4 MB: auto runs one job too
    monkeypatch.setattr(replay_jobs, "AUTO_MIN_BYTES", 0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(replay_jobs, "CGROUP_ROOT", tmp_path / "no-cgroup")
    auto = replay(generated, tmp_path / "auto.prom", tmp_path / "auto.dead")
    assert auto.strip().splitlines()[-1].endswith("(3 jobs)")
    assert (tmp_path / "auto.prom").read_bytes() == (tmp_path / "one.prom").read_bytes()
    result = CliRunner().invoke(main, ["replay", str(generated), "--jobs", "0"])
    assert result.exit_code == 2 and "nor auto" in result.output


def test_jobs_refuse_stdin_and_history_with_one_sentence(generated: Path) -> None:
    result = CliRunner().invoke(main, ["replay", "--jobs", "2"], input=b"")
    assert (
        result.exit_code == 2 and "not stdin" in result.output and "Traceback" not in result.output
    )
    result = CliRunner().invoke(
        main,
        [
            "replay",
            str(generated),
            "--jobs",
            "2",
            "--from",
            "2026-02-01T00:00:00Z",
            "--to",
            "2026-02-02T00:00:00Z",
            "--step",
            "1d",
        ],
    )
    assert result.exit_code == 2 and "drop --jobs" in result.output
    result = CliRunner().invoke(main, ["replay", "missing.jsonl", "--jobs", "2"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_ctrl_c_stops_every_job_without_a_traceback(tmp_path: Path) -> None:
    """SIGINT to the process group, as a terminal sends it: parent and children end, no
    traceback, the exit status click gives an abort.

    The run cannot end before the signal: its second input is a FIFO that stays open and
    empty, so each child, once through the first file, waits there for lines (on a busy
    machine the first file alone was sometimes done before the signal landed)."""
    path = tmp_path / "big.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "generate",
            "--accounts",
            "300",
            "--days",
            "30",
            "--seed",
            "3",
            "--out",
            str(path),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    never = tmp_path / "never.jsonl"
    os.mkfifo(never)
    held_open = os.open(never, os.O_RDWR)  # a writer that writes nothing: reads wait
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "replay",
                str(path),
                str(never),
                "--jobs",
                "2",
                "--out",
                str(tmp_path / "out.prom"),
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=sigint_as_at_a_terminal,
        )
        deadline = time.monotonic() + 60
        while len(_children(process.pid)) < 2:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        children = _children(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        os.close(held_open)
    assert process.returncode == 1, stderr
    assert b"Traceback" not in stderr and b"Aborted!" in stderr
    for child in children:
        assert not Path(f"/proc/{child}").exists() or _zombie(child)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def accounts_output(*args: str) -> bytes:
    result = CliRunner().invoke(main, ["accounts", *args, "--out", "-"])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


@pytest.mark.parametrize(
    ("fmt", "as_of"), [("json", None), ("csv", None), ("json", "2026-02-12T06:00:00Z")]
)
def test_accounts_jobs_write_the_same_records_as_one_process(
    generated: Path, fmt: str, as_of: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pulse accounts --jobs N`: each job's records, merged by account_id as they come
    (in slices of 3 here: many per job), are the very bytes one process writes
    (duplicates, too-late and malformed lines included)."""
    monkeypatch.setattr(replay_jobs, "RECORD_SLICE", 3)
    args = [str(generated), "--format", fmt, *(("--as-of", as_of) if as_of else ())]
    one = accounts_output(*args, "--jobs", "1")
    if fmt == "json":
        records = orjson.loads(one)
        ids = [record["account_id"] for record in records]
        assert len(ids) >= 30 and ids == sorted(ids)
    for jobs in ("2", "3"):
        assert accounts_output(*args, "--jobs", jobs) == one


def test_accounts_jobs_with_nothing_applied_write_no_record_as_one_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rejected.jsonl"
    path.write_bytes(b'{not json\n[1]\n{"account_id":"a","type":"login"}\n')
    one = accounts_output(str(path), "--jobs", "1")
    assert one == accounts_output(str(path), "--jobs", "2")
    assert orjson.loads(one) == []


def test_accounts_jobs_refuse_stdin_with_one_sentence() -> None:
    result = CliRunner().invoke(main, ["accounts", "--jobs", "2"], input=b"")
    assert (
        result.exit_code == 2 and "not stdin" in result.output and "Traceback" not in result.output
    )


def test_a_jobs_record_stream_ends_at_its_mark_and_fails_with_one_sentence() -> None:
    """The records of `pulse accounts --jobs N` come in slices until the job's end mark;
    a job that fails or dies meanwhile ends the run with one sentence."""
    reader, sender = multiprocessing.Pipe(duplex=False)
    sender.send(("slice", [("a", b"{}"), ("b", b"{}")]))
    sender.send(("slice", [("c", b"{}")]))
    sender.send(("ok", None))
    assert [key for key, _ in replay_jobs._record_stream(reader, 0)] == ["a", "b", "c"]
    sender.send(("slice", [("d", b"{}")]))
    sender.send(("error", "job 1 failed (MemoryError: )"))
    stream = replay_jobs._record_stream(reader, 1)
    assert next(stream) == ("d", b"{}")
    with pytest.raises(replay_jobs.ReplayJobError, match="Replay job 1 failed: job 1 failed"):
        next(stream)
    sender.close()
    with pytest.raises(replay_jobs.ReplayJobError, match="ended without a result"):
        next(replay_jobs._record_stream(reader, 2))
