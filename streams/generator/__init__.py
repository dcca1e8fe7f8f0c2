"""Realistic, seeded telemetry for cs-pulse (the engine behind `pulse generate`).

    from streams.generator import GeneratorConfig, generate
    for message in generate(GeneratorConfig(accounts=50, days=30, seed=1)):
        ...  # message.topic, message.key, message.value (one JSON object), message.kind

Messages come in event-time order (faults interleaved), one JSON object each, following
event contract v1. Same configuration -> byte-identical output. See docs/generate.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from streams.contract.model import TOPIC_OF_TYPE
from streams.generator.faults import MALFORMED_REASONS, WRONG_TOPIC, FaultInjector
from streams.generator.generator_config import KINDS, GeneratedMessage, GeneratorConfig
from streams.generator.live import LiveFeed
from streams.generator.simulation import Simulation
from streams.generator.summary import Summary

__all__ = [
    "KINDS",
    "MALFORMED_REASONS",
    "WRONG_TOPIC",
    "GeneratedMessage",
    "Generator",
    "GeneratorConfig",
    "Summary",
    "generate",
]


class Generator:
    """One dataset: `backlog()` once, then optionally `live(now)` for the demo feed."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self.simulation = Simulation(config)
        self.faults = (
            FaultInjector(config, self.simulation.id_prefix) if config.has_faults else None
        )

    def backlog(self) -> Iterator[GeneratedMessage]:
        """Every message of the dataset, in event-time order, faults interleaved."""
        return self._messages(self.simulation.events())

    def live(self, now: Callable[[], int]) -> Iterator[GeneratedMessage]:
        """Endless messages stamped `now()` (epoch ms), from the same customers; run
        after `backlog()` is exhausted."""
        return self._messages(LiveFeed(self.simulation, now).events())

    def _messages(self, events: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[GeneratedMessage]:
        dumps = orjson.dumps
        topic_of = TOPIC_OF_TYPE
        faults = self.faults
        for at, event in events:
            kind = event["type"]
            message = GeneratedMessage(
                topic_of[kind], event["account_id"].encode(), dumps(event), "valid", kind
            )
            yield message
            if faults is not None:
                yield from faults.after(message, event, at)


def generate(config: GeneratorConfig) -> Iterator[GeneratedMessage]:
    """The dataset `config` describes, as Kafka messages in event-time order."""
    return Generator(config).backlog()
