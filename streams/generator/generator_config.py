"""What the caller asks of the generator, and what it hands back per Kafka message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from streams.errors import ConfigError
from streams.generator.clock import DAY_MS, DEFAULT_END_MS

Kind = Literal["valid", "duplicate", "late", "malformed"]
KINDS: tuple[str, ...] = ("valid", "duplicate", "late", "malformed")

MAX_DAYS = 3660
MIN_END_MS = 2 * 366 * DAY_MS  # the simulated history must not reach back before 1970


class GeneratedMessage(NamedTuple):
    """One Kafka message. A JSONL file holds `value` per line; `topic` follows from the type
    (except for the deliberate wrong-topic faults, which only a Kafka sink can carry)."""

    topic: str
    key: bytes  # account_id, UTF-8
    value: bytes  # one JSON object, UTF-8, no newline
    kind: str  # valid | duplicate | late | malformed
    type: str | None = None  # the event type; None for malformed messages
    reason: str | None = None  # for malformed messages: which rule the line breaks


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """A dataset: `accounts` accounts, activity over the `days` days before `end`.

    Fault fractions are relative to the number of valid events (0.01 = one faulty message
    per hundred valid ones). `wrong_topic` adds "valid JSON on the wrong topic" to the
    malformed reasons; only a Kafka sink can express it, since a JSONL line carries no topic.
    """

    accounts: int = 100
    days: int = 30
    seed: int = 1
    end: int = DEFAULT_END_MS  # epoch ms, exclusive
    duplicate_fraction: float = 0.0
    late_fraction: float = 0.0
    malformed_fraction: float = 0.0
    wrong_topic: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.accounts, int) or self.accounts < 1:
            raise ConfigError(
                f"accounts must be a whole number >= 1, not {self.accounts!r}: pass e.g. --accounts 100."
            )
        if not isinstance(self.days, int) or not 1 <= self.days <= MAX_DAYS:
            raise ConfigError(
                f"days must be a whole number from 1 to {MAX_DAYS}, not {self.days!r}: pass e.g. --days 30."
            )
        if not isinstance(self.seed, int):
            raise ConfigError(
                f"seed must be a whole number, not {self.seed!r}: pass e.g. --seed 1."
            )
        if not isinstance(self.end, int) or self.end < MIN_END_MS:
            raise ConfigError(
                f"end must be an epoch-millisecond time after 1972, not {self.end!r}: pass e.g. --end 2026-03-01."
            )
        for name in ("duplicate_fraction", "late_fraction", "malformed_fraction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                flag = "--" + name.split("_")[0].replace("duplicate", "duplicates")
                raise ConfigError(
                    f"{name} must be between 0 and 1, not {value!r}: pass e.g. {flag} 0.01."
                )

    @property
    def window_start(self) -> int:
        """First instant (inclusive) of the activity window."""
        return self.end - self.days * DAY_MS

    @property
    def has_faults(self) -> bool:
        return bool(self.duplicate_fraction or self.late_fraction or self.malformed_fraction)
