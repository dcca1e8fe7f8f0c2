"""Sample: one value of one metric series, the engine's only output type.

A snapshot is a `list[Sample]`; `streams.exposition` turns it into Prometheus families.
`labels` is a tuple of (name, value) pairs in the order they should be rendered; the
metric `name` is the full Prometheus name (prefix `pulse_`). Money is a `Decimal`, counts
are `int`, ratios and scores are `float`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

Labels = tuple[tuple[str, str], ...]
Number = int | float | Decimal


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Labels
    value: Number


def ratio(numerator: Number, denominator: Number) -> float:
    """numerator / denominator as a float; an empty (zero) denominator gives 0."""
    if not denominator:
        return 0.0
    return float(numerator) / float(denominator)


def ratio_sample(
    name: str, labels: Labels, numerator: Number, denominator: Number, *, scale: Number = 1
) -> Sample:
    """A ratio or score sample: scale x numerator / denominator, 0 when the denominator is 0."""
    return Sample(name, labels, float(scale) * ratio(numerator, denominator))
