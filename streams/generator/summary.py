"""Counts of what was generated: messages by kind, valid events by type, faults by reason."""

from __future__ import annotations

from collections import Counter

from streams.contract.model import EVENT_TYPES
from streams.generator.generator_config import KINDS, GeneratedMessage


class Summary:
    def __init__(self) -> None:
        self.by_kind: Counter[str] = Counter()
        self.by_type: Counter[str] = Counter()  # valid events only
        self.by_reason: Counter[str] = Counter()  # malformed messages only
        self.bytes = 0

    @property
    def messages(self) -> int:
        return sum(self.by_kind.values())

    def add(self, message: GeneratedMessage) -> None:
        self.by_kind[message.kind] += 1
        self.bytes += len(message.value)
        if message.kind == "valid":
            self.by_type[message.type] += 1  # type: ignore[index]
        elif message.reason is not None:
            self.by_reason[message.reason] += 1

    def format(self, seconds: float | None = None, interrupted: bool = False) -> str:
        """The human summary printed on stderr at the end of a run."""
        head = f"{self.messages:,} messages, {self.bytes / 1e6:,.1f} MB"
        if seconds:
            head += f" in {seconds:,.1f} s ({self.messages / seconds:,.0f} messages/s)"
        lines = [("interrupted: " if interrupted else "generated: ") + head]
        lines.append("by kind: " + ", ".join(f"{kind} {self.by_kind[kind]:,}" for kind in KINDS))
        lines.append("valid events by type:")
        lines.extend(f"  {name:<27}{self.by_type[name]:>12,}" for name in EVENT_TYPES)
        if self.by_reason:
            lines.append(
                "malformed by reason: "
                + ", ".join(
                    f"{reason} {count:,}" for reason, count in sorted(self.by_reason.items())
                )
            )
        return "\n".join(lines)
