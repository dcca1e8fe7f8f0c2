"""The one gate through which the worker patches faust-streaming, mode-streaming and aiokafka.

The worker replaces, wraps or copies private functions of those libraries
(streams/worker/faust/hooks.py, streams/worker/faust/fastpath.py: each hook says why). A private
function can change in any release, and a hook written for one version can then break
exactly-once or lose records without an error. So every patch goes through `patch()`,
which first runs `check()`, once per process and before anything is patched:

- the installed versions must be exactly SUPPORTED (pyproject.toml pins the same);
- the source of every function a hook replaces, wraps or copies, and of the few whose
  behaviour a hook reproduces or relies on, must hash (SHA-256 of `inspect.getsource`)
  to the value recorded in GUARDED for those versions.

Otherwise the worker refuses to start with one sentence naming the supported versions
(`IncompatibleLibraries`, a PulseError). To support a new release: read each guarded
function's new source against its hook, adapt the hook, then update SUPPORTED, GUARDED
(`python -m streams.worker.faust.compat` prints the current hashes), pyproject.toml and
constraints.txt together.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from importlib import metadata
from typing import Any

from streams.errors import PulseError

SUPPORTED: dict[str, str] = {
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
    "aiokafka": "0.14.0",
}

#: "module:Qualified.name" -> SHA-256 of its source, for the SUPPORTED versions.
GUARDED: dict[str, str] = {
    # replaced or wrapped (faust_hooks)
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._highwaters": "a7f4f97d9f32aca2777713e22671d70eae4b3ae51541bb09a90448ce83acefce",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.seek_to_committed": "775ab0adc4b052abee204d5347a556412b1f77ed4de971adde69a55a1cb6f908",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._fetch_records": "39a2c6c79fc1455a199629912b533458a720c64983bc957420a42feef6593baa",
    "faust.transport.consumer:Consumer._add_gap": "4df2573ded7c1c2cde04dc6bde6d4480cb5875ef565256e56966b585ae39b1c1",
    "faust.transport.consumer:TransactionManager.on_rebalance": "2c190b35003af25c609a3b4d2cbb2083b1c98b193612c6c320c0f1f95ada9405",
    "faust.transport.consumer:Consumer.force_commit": "cc094614d22c70fb03606f8e5b940fddedcc7d46648d53ae6ec53cab1546be13",
    "faust.transport.consumer:Consumer._commit_offsets": "1a6979904118844111259d182ca1c6e92ccc16364ccbe55c58e59d6e254a7adb",
    # copied (faust_fastpath) or reproduced (the fast delivery, the agent's batch read)
    "faust.transport.consumer:Consumer._drain_messages": "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417",
    "faust.transport.conductor:Conductor._compile_message_handler": "9fbc0538097aa4eca6113b99df8d17605ae72a6b5030482f041a183f4cc34df1",
    "faust.transport.conductor:ConductorCompiler.build": "837cf521368c1ee4b22c235a2b137f665eca03d0e3e01b5ddedb65232ee73bf2",
    "mode.utils.queues:ThrowableQueue.get": "57490d393d4147ff15e7e4c00ea6137aed8ff4bd87b89d7a5a92828cca524324",
    "mode.utils.queues:ThrowableQueue._throw": "c231e47644923a4843881459de0aeea3e4d261884987e1920e0ed7978641d8fb",
    "faust.agents.actor:Actor.cancel": "27af54ce1443b5dd8dc88406e33514bd590dad9d788c1d8d4da149fb40fe81c8",
    # relied on (faust_hooks: transactional sends, the local store, seeks; the fetch trail)
    "faust.transport.drivers.aiokafka:Producer.send": "0b5bd08f52e5e2a90ff6307dbfc3c97afb01cb2687835e8fe8486c5bcad02dc1",
    "faust.transport.consumer:TransactionManager._tps_to_transactional_ids": "392b1c30e9a7ba729f60c6028d894f3c60e0683c700710dd25958b105c8fb326",
    "faust.stores.rocksdb:Store._db_for_partition": "cb7e67d5f9efc4bced7b7ab09a55fe717c352daad5b693594e3f7ca52a98787f",
    "faust.transport.consumer:Consumer.getmany": "4b168d84882a70d6e3e2f9804430a63b92f8fd117d3187cbb4aeb54305bda34e",
    "aiokafka.consumer.fetcher:FetchResult.getall": "3e717e30de5068d549dd41b231928c67a24e832a928d48bac5f485e448daa903",
    "aiokafka.consumer.fetcher:FetchResult.check_assignment": "b5340df67e3f330f998e01e49adc7fd03dae24b8a0e201ae4325d3f980d3eae3",
}


class IncompatibleLibraries(PulseError):
    """The installed Faust, mode or aiokafka is not the one the hooks were written for."""


_checked = False
_patches: dict[tuple[type, str], Any] = {}  # (owner, name) -> the original attribute


def supported_sentence() -> str:
    return ", ".join(f"{name} {version}" for name, version in SUPPORTED.items())


def installed_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in SUPPORTED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def resolve(path: str) -> Any:
    """The function at `path` as the library defines it (the original, once patched)."""
    module_name, _, qualname = path.partition(":")
    *owners, name = qualname.split(".")
    owner: Any = importlib.import_module(module_name)
    for part in owners:
        owner = getattr(owner, part)
    return original(owner, name) if isinstance(owner, type) else getattr(owner, name)


def source_hash(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode("utf-8")).hexdigest()


def problems(
    versions: dict[str, str | None] | None = None, guarded: dict[str, str] | None = None
) -> list[str]:
    """What differs from the supported libraries (empty when all is as expected)."""
    versions = installed_versions() if versions is None else versions
    found = [
        f"{name} {version or 'missing'}"
        for name, version in versions.items()
        if version != SUPPORTED[name]
    ]
    if found:
        return found  # other versions: no point comparing sources
    for path, expected in (GUARDED if guarded is None else guarded).items():
        try:
            actual = source_hash(resolve(path))
        except (ImportError, AttributeError, OSError, TypeError):
            actual = "absent"
        if actual != expected:
            found.append(
                f"{path.split(':')[1]} ({'absent' if actual == 'absent' else 'changed source'})"
            )
    return found


def check() -> None:
    """Refuse, in one sentence, libraries other than SUPPORTED (once per process)."""
    global _checked
    if _checked:
        return
    found = problems()
    if found:
        raise IncompatibleLibraries(
            f"the worker supports exactly {supported_sentence()}, but found {', '.join(found)}: "
            f"install the supported versions (pip install -c constraints.txt -e .)."
        )
    _checked = True


def patch(owner: type, name: str, replacement: Any) -> None:
    """Set `owner.name` to `replacement` after `check()`; idempotent; the original is kept."""
    check()
    key = (owner, name)
    if key not in _patches:
        _patches[key] = owner.__dict__.get(name, getattr(owner, name))
    setattr(owner, name, replacement)


def original(owner: type, name: str) -> Any:
    """The attribute `owner.name` had before `patch` replaced it (or its current one)."""
    if (owner, name) in _patches:
        return _patches[(owner, name)]
    return owner.__dict__.get(name, getattr(owner, name))


def unpatch(owner: type, name: str) -> None:
    """Put the original back (benchmarks and tests)."""
    value = _patches.pop((owner, name), None)
    if value is not None:
        setattr(owner, name, value)


def patched() -> dict[tuple[type, str], Any]:
    return {key: getattr(owner, name) for key in _patches for owner, name in [key]}


def _print_hashes(write: Callable[[str], Any] = print) -> None:
    for path in GUARDED:
        write(f'    "{path}": "{source_hash(resolve(path))}",')


if __name__ == "__main__":  # pragma: no cover
    _print_hashes()
