"""streams/worker/datadir.py: each worker's own directory under --data-dir, held with an OS lock
(issue 12, item 4: replicas sharing one volume deleted a live replica's store)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.errors import PulseError
from streams.worker.datadir import (
    CLEAN_MARKER,
    LOCK_FILE,
    DataDirLock,
    host_name,
    mark_clean_shutdown,
    prepare_data_dir,
    worker_data_dir,
)

HOLD = """
import sys, time
from streams.worker.datadir import DataDirLock
lock = DataDirLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def _holder(directory: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout.readline().strip() == b"held"
    return process


def test_the_directory_is_derived_from_the_host_name(tmp_path, monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "worker-7f3a.example")
    assert host_name() == "worker-7f3a.example"
    assert worker_data_dir(tmp_path) == tmp_path / "worker-7f3a.example"
    monkeypatch.setattr("socket.gethostname", lambda: "../odd host/")
    assert worker_data_dir(tmp_path).parent == tmp_path and "/" not in host_name()


def test_a_directory_held_by_a_live_worker_is_refused_in_one_sentence(tmp_path):
    directory = tmp_path / "host-a"
    holder = _holder(directory)
    try:
        with pytest.raises(PulseError) as refused:
            DataDirLock(directory).acquire()
        message = str(refused.value)
        assert message == (
            f"the data directory {directory} is in use by the worker with pid {holder.pid} on host "
            f"{os.uname().nodename}: stop that worker or give this one its own --data-dir."
        )
    finally:
        holder.kill()
        holder.wait()
    # the OS let go of the lock with the process: the directory can be taken now
    with DataDirLock(directory) as lock:
        assert lock.held
        assert (directory / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_an_unclean_stop_discards_only_the_held_directory_and_keeps_the_lock(tmp_path):
    mine, other = tmp_path / "host-a", tmp_path / "host-b"
    (other / "cs-pulse-data").mkdir(parents=True)
    (other / "cs-pulse-data" / "rows").write_text("a live replica's store")
    (mine / "cs-pulse-data").mkdir(parents=True)
    (mine / "cs-pulse-data" / "rows").write_text("left by a crash")
    with DataDirLock(mine) as lock:
        prepare_data_dir(lock)
        assert sorted(p.name for p in mine.iterdir()) == [LOCK_FILE]
        (mine / "cs-pulse-data").mkdir()
        mark_clean_shutdown(lock)
    assert (other / "cs-pulse-data" / "rows").read_text() == "a live replica's store"
    with DataDirLock(mine) as lock:  # after a clean stop the store is kept
        prepare_data_dir(lock)
        assert (mine / "cs-pulse-data").is_dir() and not (mine / CLEAN_MARKER).exists()


def test_nothing_is_discarded_without_the_lock(tmp_path):
    with pytest.raises(RuntimeError):
        prepare_data_dir(DataDirLock(tmp_path))


def test_pulse_worker_refuses_a_held_directory_before_touching_it(tmp_path):
    """`pulse worker` with a --data-dir another live worker on this host holds: one sentence,
    exit code 2, no traceback, and the holder's files untouched (no broker needed: the
    directory is checked first)."""
    directory = worker_data_dir(tmp_path)
    holder = _holder(directory)
    try:
        (directory / "cs-pulse-data").mkdir()
        (directory / "cs-pulse-data" / "rows").write_text("live")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "worker",
                "--bootstrap",
                "127.0.0.1:1",
                "--metrics-port",
                "0",
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[1],
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert f"is in use by the worker with pid {holder.pid}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (directory / "cs-pulse-data" / "rows").read_text() == "live"
