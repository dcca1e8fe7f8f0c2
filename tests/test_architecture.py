"""The dependency direction of docs/architecture.md, checked on the real source tree (and no
assert statement in production code).

Two checks: the import-linter contracts of pyproject.toml (`lint-imports`: the engine and
the contract import nothing from ingest, worker or cli and nothing of Kafka, Faust or
Prometheus; the per-message path does not import prometheus_client; only
`streams.worker.faust` imports mode), and, because import-linter sees an external package
only as a whole, a scan of every import statement for Faust, mode and aiokafka modules
outside their public API (only `streams/worker/faust/` may import those).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STREAMS = REPO / "streams"
INTERNAL_ROOTS = ("faust", "mode", "aiokafka")
# The public modules of those libraries that any worker or CLI module may import.
# aiokafka.partitioner: `murmur2`, the default partitioner (the worker keys its rows the same
# way); aiokafka.conn: `create_conn`, the one-connection probe of `streams.kafka.security`;
# faust.web: `Request` and `Response`, the types of the worker's HTTP views.
PUBLIC_MODULES = frozenset(
    {
        "faust",
        "faust.exceptions",
        "faust.web",
        "aiokafka",
        "aiokafka.errors",
        "aiokafka.admin",
        "aiokafka.partitioner",
        "aiokafka.conn",
    }
)


def internal_imports(path: Path) -> list[str]:
    """`module` or `module.name` of every import of a Faust/mode/aiokafka internal in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules = [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in modules:
            if module.split(".")[0] not in INTERNAL_ROOTS:
                continue
            if module not in PUBLIC_MODULES or name.startswith("_"):
                found.append(f"{module}.{name}" if name else module)
    return found


def faust_internal_imports(root: Path) -> dict[str, list[str]]:
    """Every module under `root` (a streams/ folder) outside worker/faust importing an internal."""
    allowed = root / "worker" / "faust"
    offenders = {}
    for path in sorted(root.rglob("*.py")):
        if allowed in path.parents:
            continue
        hits = internal_imports(path)
        if hits:
            offenders[str(path.relative_to(root.parent))] = hits
    return offenders


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_only_worker_faust_imports_faust_internals() -> None:
    assert faust_internal_imports(STREAMS) == {}


def fake_streams(tmp_path: Path, app: str, hooks: str) -> Path:
    """A streams/ tree of two modules: worker/app.py and worker/faust/hooks.py."""
    package = tmp_path / "streams"
    (package / "worker" / "faust").mkdir(parents=True)
    (package / "worker" / "app.py").write_text(app)
    (package / "worker" / "faust" / "hooks.py").write_text(hooks)
    return package


def test_the_scan_finds_an_internal_import(tmp_path: Path) -> None:
    package = fake_streams(
        tmp_path,
        "import faust\nfrom faust.transport.consumer import Consumer\nfrom mode import Service\n"
        "from aiokafka.errors import KafkaError\nfrom aiokafka.consumer.fetcher import Fetcher\n",
        "from faust.transport.consumer import Consumer\n",
    )
    assert faust_internal_imports(package) == {
        "streams/worker/app.py": [
            "faust.transport.consumer.Consumer",
            "mode.Service",
            "aiokafka.consumer.fetcher.Fetcher",
        ],
    }


def test_no_assert_in_production_code() -> None:
    """`python -O` drops asserts: production code says what it checks with `if` and `raise`."""
    found = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in sorted(STREAMS.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


FAUST_OBJECTS = frozenset(
    {"consumer", "producer", "app", "table", "thread", "store", "agent", "transactor", "fetcher"}
)


def private_faust_attributes(root: Path) -> list[str]:
    """`path:line name` of every read of a private attribute (`_name`) of an object named
    like a Faust or aiokafka one (consumer, producer, app, table, ...) outside worker/faust."""
    allowed = root / "worker" / "faust"
    found = []
    for path in sorted(root.rglob("*.py")):
        if allowed in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__"):
                continue
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if name in FAUST_OBJECTS:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {name}.{node.attr}")
    return sorted(found)


def test_only_worker_faust_reads_private_faust_attributes() -> None:
    assert private_faust_attributes(STREAMS) == []


def test_the_scan_finds_a_private_attribute(tmp_path: Path) -> None:
    package = fake_streams(
        tmp_path,
        "def lag(self, consumer, tp):\n"
        "    return consumer._committed_offset.get(tp), self.app.consumer._read_offset\n",
        "x = consumer._committed_offset\n",
    )
    assert private_faust_attributes(package) == [
        "streams/worker/app.py:2 consumer._committed_offset",
        "streams/worker/app.py:2 consumer._read_offset",
    ]
