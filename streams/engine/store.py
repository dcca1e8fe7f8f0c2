"""The one store protocol: where per-account state lives, seen through a narrow interface.

The engine keeps an `AccountState` per account_id and admission an `AccountAdmission`
(streams/ingest/admission.py); neither opens a store itself. Each is handed an
`AccountStore` of its value type, as Quix Streams hands its windows a per-key state: a
plain dict in tests, replay and history, and in the worker a view of one partition's cache
whose writes record the account in the partition's open transaction
(streams/worker/state.py). The subset of a mapping used is the protocol: a dict is one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

V = TypeVar("V")


class AccountStore(Protocol[V]):
    """account_id -> the state of one account."""

    def get(self, account_id: str, /) -> V | None: ...
    def __setitem__(self, account_id: str, state: V, /) -> None: ...
    def __delitem__(self, account_id: str, /) -> None: ...
    def keys(self) -> Iterable[str]: ...
    def values(self) -> Iterable[V]: ...
