"""The counters of the per-message path: events admitted by type, rejections by reason,
duplicates.

Why a module of its own: the pipeline counts on every message, and the per-message path
must not import prometheus_client (the dependency contract in pyproject.toml); the
exposition (`streams.exposition`) turns these totals into the pulse_events_* counter
families at scrape time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.contract.model import EVENT_TYPES


@dataclass(slots=True)
class PipelineCounters:
    """Running totals of the per-event path, exported as the pulse_events_* counters."""

    events_by_type: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0

    def count_event(self, event_type: str) -> None:
        self.events_by_type[event_type] = self.events_by_type.get(event_type, 0) + 1

    def count_rejection(self, reason: str) -> None:
        self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + 1

    def count_duplicate(self) -> None:
        self.duplicates += 1
