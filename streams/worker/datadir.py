"""A worker's own data directory: derived from the host name, locked while in use.

Several workers may be given one `--data-dir` (docker compose mounts one volume at /data
into every replica). Each keeps its local store in its own subdirectory, named after the
host it runs on (`<data-dir>/<host name>`: a container's host name, a Kubernetes pod's
name), so that a restarted worker on the same host finds its store again and replicas
never share one.

While a worker runs it holds its directory: an OS lock (`fcntl.flock`, exclusive) on the
file `.lock` in it, which also records the holder's pid and host for the message below.
The OS releases the lock when the process ends, however it ends, so a crashed worker
never blocks the next one. A worker refuses, in one sentence, to start in a directory
another live worker holds (two workers on one host with the same `--data-dir`).

The store is discarded after an unclean stop (it may hold rows of a transaction Kafka
aborted; Faust rebuilds it from the committed changelog): only in the directory the worker
holds, and only what is inside it, never the lock file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import socket
from pathlib import Path

from streams.errors import PulseError

log = logging.getLogger("cs-pulse.worker")
LOCK_FILE = ".lock"
CLEAN_MARKER = ".clean-shutdown"


def host_name() -> str:
    """This host's name, as a safe directory name."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()).strip(".")
    return name or "localhost"


def worker_data_dir(base: Path | str) -> Path:
    """Where this host's worker keeps its store: `<base>/<host name>`."""
    return Path(base) / host_name()


class DataDirLock:
    """The exclusive hold of one worker directory (see the module header)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DataDirLock:
        try:
            # per-account state: readable by the worker's user only (a --data-dir the worker
            # creates is private too; one that exists already is left as its owner set it)
            if not self.directory.parent.exists():
                self.directory.parent.mkdir(parents=True, mode=0o700)
            self.directory.mkdir(exist_ok=True, mode=0o700)
            self.directory.chmod(0o700)
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise PulseError(
                f"cannot use the data directory {self.directory} ({error.strerror}): "
                f"pass a writable --data-dir."
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 256).decode("utf-8", "replace").split()
            os.close(fd)
            pid, host = (holder + ["?", "?"])[:2]
            raise PulseError(
                f"the data directory {self.directory} is in use by the worker with pid {pid} on host {host}: "
                f"stop that worker or give this one its own --data-dir."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self.acquire() if not self.held else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def prepare_data_dir(lock: DataDirLock) -> None:
    """Discard the local store after an unclean stop: it may hold rows of a batch whose
    transaction was aborted. Faust rebuilds it from the changelog (committed records only).
    Only inside the directory this worker holds."""
    if not lock.held:
        raise RuntimeError(f"{lock.directory} is not held: take its DataDirLock first")
    data_dir = lock.directory
    marker = data_dir / CLEAN_MARKER
    leftovers = [path for path in data_dir.iterdir() if path.name not in (CLEAN_MARKER, LOCK_FILE)]
    if leftovers and not marker.exists():
        log.warning(
            "the previous stop was not clean: discarding the local store in %s; "
            "it is rebuilt from the changelog",
            data_dir,
        )
        for path in leftovers:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    marker.unlink(missing_ok=True)


def mark_clean_shutdown(lock: DataDirLock) -> None:
    if lock.held:
        (lock.directory / CLEAN_MARKER).write_text("ok\n")
