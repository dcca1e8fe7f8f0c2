"""streams/worker/faust/compat.py: every patch of Faust, mode or aiokafka internals is checked
first against the exact versions and the source of the functions it touches; anything
else stops the worker in one sentence, before anything is patched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streams.worker.faust import compat as faust_compat
from streams.worker.faust.compat import GUARDED, SUPPORTED, IncompatibleLibraries

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def unchecked(monkeypatch):
    monkeypatch.setattr(faust_compat, "_checked", False)


def test_the_installed_libraries_are_the_supported_ones():
    assert faust_compat.installed_versions() == SUPPORTED
    assert faust_compat.problems() == []


def test_pyproject_and_constraints_pin_the_supported_versions():
    pyproject = (REPO / "pyproject.toml").read_text()
    constraints = (REPO / "constraints.txt").read_text().splitlines()
    for name, version in SUPPORTED.items():
        major, minor, patch = version.split(".")
        assert f'"{name}>={version},<{major}.{minor}.{int(patch) + 1}"' in pyproject, name
        assert f"{name}=={version}" in constraints, name


def test_another_version_is_refused_in_one_sentence(unchecked, monkeypatch):
    monkeypatch.setattr(
        faust_compat, "installed_versions", lambda: {**SUPPORTED, "faust-streaming": "0.16.0"}
    )
    with pytest.raises(IncompatibleLibraries) as refused:
        faust_compat.check()
    assert str(refused.value) == (
        "the worker supports exactly faust-streaming 0.15.3, mode-streaming 0.7.1, aiokafka 0.14.0, but found "
        "faust-streaming 0.16.0: install the supported versions (pip install -c constraints.txt -e .)."
    )


def test_a_changed_source_is_refused(unchecked, monkeypatch):
    path = "faust.transport.consumer:Consumer._drain_messages"
    monkeypatch.setitem(GUARDED, path, "0" * 64)
    monkeypatch.setitem(GUARDED, "faust.transport.consumer:Consumer._no_such_method", "0" * 64)
    with pytest.raises(IncompatibleLibraries) as refused:
        faust_compat.check()
    assert "Consumer._drain_messages (changed source), Consumer._no_such_method (absent)" in str(
        refused.value
    )


def test_nothing_is_patched_when_the_check_fails(unchecked, monkeypatch):
    class Owner:
        def method(self):
            return "original"

    monkeypatch.setattr(
        faust_compat, "installed_versions", lambda: {**SUPPORTED, "aiokafka": "0.15.0"}
    )
    with pytest.raises(IncompatibleLibraries):
        faust_compat.patch(Owner, "method", lambda self: "patched")
    assert Owner().method() == "original"


def test_patch_keeps_the_original_and_the_guard_hashes_the_original():
    class Owner:
        def method(self):
            return "original"

    first = Owner.__dict__["method"]
    faust_compat.patch(Owner, "method", lambda self: "patched")
    faust_compat.patch(Owner, "method", lambda self: "patched again")  # the original is kept once
    assert Owner().method() == "patched again" and faust_compat.original(Owner, "method") is first
    faust_compat.unpatch(Owner, "method")
    assert Owner().method() == "original"


def test_the_guard_hashes_the_originals_once_the_hooks_are_installed():
    from faust.transport.consumer import Consumer

    from streams.worker.delivery import FetchTrail
    from streams.worker.faust import hooks as faust_hooks

    class App:  # a stand-in: the hooks of other apps fall through to Faust's own methods
        pass

    faust_hooks.install(
        App(),
        faust_hooks.WorkerHooks(
            lambda partitions: None, lambda offsets: None, FetchTrail(), frozenset()
        ),
    )
    assert Consumer.force_commit is faust_hooks._gated_force_commit
    assert faust_compat.problems() == []  # the libraries' functions, not the replacements


def test_pulse_worker_refuses_another_version_before_anything_else(tmp_path):
    """From the command line: one sentence, no traceback, a non-zero exit; no broker needed."""
    program = (
        "import importlib.metadata as m, sys\n"
        "real = m.version\n"
        "m.version = lambda name: '0.14.1' if name == 'aiokafka' else real(name)\n"
        "from streams.cli import main\n"
        "sys.argv = ['pulse', 'worker', '--bootstrap', '127.0.0.1:1', '--metrics-port', '0', '--data-dir', sys.argv[1]]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode != 0 and not any(tmp_path.iterdir())
    assert result.stderr.strip() == (
        "Error: the worker supports exactly faust-streaming 0.15.3, mode-streaming 0.7.1, aiokafka 0.14.0, "
        "but found aiokafka 0.14.1: install the supported versions (pip install -c constraints.txt -e .)."
    )
