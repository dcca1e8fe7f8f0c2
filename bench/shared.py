"""What several benchmarks do the same way: seeded datasets, worker command lines, CPU
seconds of a process, and their section of docs/performance.md.

Kept in one module so that a benchmark's figures differ from another's only by what it
measures, never by how it generated its input, started its worker or wrote its result.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
PERFORMANCE_DOC = REPO / "docs" / "performance.md"

# Run in a fresh interpreter, so that the generator's memory is not counted in the
# benchmark's own peak RSS.
_GENERATE = """
import sys, orjson
from streams.generator import GeneratorConfig, generate
from streams.generator.generator_config import DEFAULT_END_MS
accounts, days, seed, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
users = set()
with open(path, "wb") as out:
    for message in generate(GeneratorConfig(accounts=accounts, days=days, seed=seed)):
        out.write(message.value + b"\\n")
        if message.type in ("login", "feature_used"):
            users.add((message.key, orjson.loads(message.value)["user_id"]))
print(DEFAULT_END_MS, len(users))
"""


class Dataset(NamedTuple):
    end_ms: int  # the dataset's end (epoch ms, exclusive)
    active_users: int  # distinct (account, user) pairs with a login or a feature use


def generate_dataset(accounts: int, days: int, seed: int, path: Path) -> Dataset:
    """Write `pulse generate`'s JSONL for these options to `path`, in a child process."""
    result = subprocess.run(
        [sys.executable, "-c", _GENERATE, str(accounts), str(days), str(seed), str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    end_ms, users = result.stdout.strip().splitlines()[-1].split()
    return Dataset(int(end_ms), int(users))


def worker_args(
    bootstrap: str, prefix: str, app_id: str, port: int, data_dir: Path, *extra: str
) -> list[str]:
    """The `python -m streams.cli worker ...` arguments every worker benchmark starts."""
    return [
        "-m",
        "streams.cli",
        "worker",
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        prefix,
        "--app-id",
        app_id,
        "--metrics-port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
        *extra,
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (every thread), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_performance_section(section: str) -> Path:
    """Put `section` (it starts with its `## Title` line) into docs/performance.md: in place
    of the section with that title, up to the next `## `, or at the end."""
    title = section.split("\n", 1)[0]
    section = section.rstrip("\n") + "\n"
    text = PERFORMANCE_DOC.read_text() if PERFORMANCE_DOC.exists() else "# Performance\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    match = pattern.search(text)
    if match is None:
        text = text.rstrip() + "\n\n" + section
    else:
        following = "\n" if match.end() < len(text) else ""
        text = text[: match.start()] + section + following + text[match.end() :]
    PERFORMANCE_DOC.write_text(text)
    return PERFORMANCE_DOC
