"""The local broker's storage is formatted with a cluster id the storage tool accepts."""

from __future__ import annotations

import uuid

from streams.devtools import localkafka


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch) -> None:
    """An id starting with "-" is read as an option by kafka-storage, which then refuses to
    format (one start in 64 failed that way): such a draw is replaced by another."""
    dash_first = uuid.UUID(bytes=b"\xf8" + bytes(15))  # URL-safe base64 "-A..."
    other = uuid.UUID(bytes=b"\x10" + bytes(15))
    draws = iter([dash_first, other])
    monkeypatch.setattr(localkafka.uuid, "uuid4", lambda: next(draws))
    assert localkafka._cluster_id() == "EAAAAAAAAAAAAAAAAAAAAA"
    monkeypatch.undo()
    assert not any(localkafka._cluster_id().startswith("-") for _ in range(500))
