"""Health score: configurable profiles of measures -> points -> dimensions -> score -> band.

Definitions (docs/health.md explains the shipped profile and every choice in it):
- A profile is a list of measures, each with a dimension (engagement, adoption, support,
  sentiment, financial), a weight within its dimension and a rule that turns the
  measure's value into points 0..100:
  * tiers (Totango's multidimensional model): `good` and `average` thresholds. When
    good >= average higher is better: value >= good -> 100, >= average -> 60, else 0.
    When good < average lower is better: value <= good -> 100, <= average -> 60, else 0.
  * linear: `linear = [zero_at, full_at]`: 0 points at zero_at, 100 at full_at, straight
    in between and clamped outside (zero_at > full_at: lower is better).
- A dimension's score is the weighted mean of the points of its measures that have a
  value; the overall score (0..100) is the weighted mean of the dimensions that have at
  least one valued measure, with the profile's dimension weights.
- Missing values (an account with no NPS response, no seats, not paying) are excluded and
  the remaining weights renormalised, as Totango does; a missing value is never read as
  0. With no valued measure at all the score is None and the band `unknown`.
- Each measure's contribution = its points x its share of the weight (its weight over
  the valued weights of its dimension, times the dimension's weight over the valued
  dimension weights); the contributions sum to the score, so a CSM sees why.
- Band (Gainsight's default): score <= 50 red, <= 75 yellow, above green; the bounds are
  configurable. The score is rounded to 6 decimals before banding (and in the output),
  so float noise never moves an account across a bound.
- Profile choice at T: accounts younger than `onboarding_days` (tenure from the journey's
  start) use the `onboarding` profile when one is configured; otherwise the first profile
  (in file order) whose `segments` lists the account's segment, then the first whose
  `plans` lists its plan, then `default`.
- Trend: the same function at T - 7d and T - 30d; the change is score(T) minus that
  score (None when either is None).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from streams.errors import ConfigError

DIMENSIONS: tuple[str, ...] = ("engagement", "adoption", "support", "sentiment", "financial")
BANDS: tuple[str, ...] = ("red", "yellow", "green")
UNKNOWN_BAND = "unknown"
ONBOARDING_PROFILE = "onboarding"
DEFAULT_PROFILE = "default"
MEASURES: dict[str, str] = {
    "stickiness": "active users 1d / active users 30d (0..1)",
    "active_users_30d": "users active in 30 days",
    "days_since_activity": "whole days since the account's last login or feature use, 0..30 (30 = 30 or more)",
    "sessions_7d_per_active_user": "closed sessions in 7 days per user active in 7 days",
    "license_utilisation": "active users 30d / seats paid",
    "plan_feature_adoption": "mean adoption (feature users / active users 30d) over the plan's features",
    "tickets_open": "open tickets",
    "urgent_tickets_open": "open tickets of priority urgent",
    "tickets_opened_30d": "tickets opened in 30 days",
    "csat": "CSAT over 90 days (0..1)",
    "nps": "NPS over 90 days (-100..100)",
    "ces": "CES over 90 days (1..7)",
    "days_past_due": "days since the first failed payment of the current failure run (0 when current; paying accounts only)",
    "mrr_change_30d_ratio": "(MRR at T - MRR at T-30d) / MRR at T-30d (accounts paying at T-30d)",
    "onboarding_progress": "onboarding steps done / steps configured (0..1)",
    "days_since_onboarding_step": "whole days since the latest onboarding step (or the signup), while onboarding",
    "activated": "1 when the account reached its activation event, else 0 (after signup)",
}
"""Every measure a profile may use: a field of the account record's `measures`."""

DEFAULT_HEALTH_TOML = """\
[accounts.health]
onboarding_days = 30
bands = [50, 75]

[accounts.health.profiles.default]
dimensions = { engagement = 30, adoption = 25, support = 15, sentiment = 15, financial = 15 }
measures = [
  { measure = "stickiness", dimension = "engagement", weight = 2, good = 0.2, average = 0.1 },
  { measure = "days_since_activity", dimension = "engagement", weight = 1, good = 3, average = 14 },
  { measure = "license_utilisation", dimension = "adoption", weight = 1, good = 0.8, average = 0.5 },
  { measure = "plan_feature_adoption", dimension = "adoption", weight = 1, linear = [0.0, 0.5] },
  { measure = "urgent_tickets_open", dimension = "support", weight = 1, good = 0, average = 0 },
  { measure = "tickets_open", dimension = "support", weight = 1, good = 1, average = 3 },
  { measure = "nps", dimension = "sentiment", weight = 1, good = 30, average = 0 },
  { measure = "csat", dimension = "sentiment", weight = 1, good = 0.85, average = 0.7 },
  { measure = "days_past_due", dimension = "financial", weight = 2, good = 0, average = 7 },
  { measure = "mrr_change_30d_ratio", dimension = "financial", weight = 1, good = 0.0, average = -0.1 },
]

[accounts.health.profiles.onboarding]
dimensions = { engagement = 40, adoption = 40, support = 20 }
measures = [
  { measure = "onboarding_progress", dimension = "adoption", weight = 2, linear = [0.0, 1.0] },
  { measure = "days_since_onboarding_step", dimension = "adoption", weight = 1, good = 3, average = 7 },
  { measure = "activated", dimension = "adoption", weight = 1, good = 1, average = 1 },
  { measure = "days_since_activity", dimension = "engagement", weight = 1, good = 2, average = 7 },
  { measure = "urgent_tickets_open", dimension = "support", weight = 1, good = 0, average = 0 },
  { measure = "tickets_open", dimension = "support", weight = 1, good = 1, average = 3 },
]
"""
"""The shipped health configuration (docs/health.md shows and explains it)."""


@dataclass(frozen=True, slots=True)
class Measure:
    measure: str
    dimension: str
    weight: float
    good: float | None = None
    average: float | None = None
    zero_at: float | None = None
    full_at: float | None = None

    def points(self, value: float) -> float:
        if self.zero_at is not None and self.full_at is not None:
            share = (value - self.zero_at) / (self.full_at - self.zero_at)
            return 100.0 * min(1.0, max(0.0, share))
        good, average = self.good, self.average
        if good is None or average is None:  # _measure gives linear bounds or both thresholds
            raise ValueError(f"measure {self.measure}: neither linear bounds nor thresholds")
        if good >= average:
            return 100.0 if value >= good else 60.0 if value >= average else 0.0
        return 100.0 if value <= good else 60.0 if value <= average else 0.0

    def rule(self) -> str:
        if self.zero_at is not None:
            return f"linear {self.zero_at:g} -> {self.full_at:g}"
        return f"tiers good {self.good:g}, average {self.average:g}"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    dimensions: tuple[tuple[str, float], ...]
    measures: tuple[Measure, ...]
    segments: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HealthConfig:
    profiles: tuple[Profile, ...]
    onboarding_days: float = 30
    bands: tuple[float, float] = (50.0, 75.0)

    def profile_for(
        self, segment: str | None, plan: str | None, tenure_days: float | None
    ) -> Profile:
        by_name = {profile.name: profile for profile in self.profiles}
        if (
            tenure_days is not None
            and tenure_days < self.onboarding_days
            and ONBOARDING_PROFILE in by_name
        ):
            return by_name[ONBOARDING_PROFILE]
        for profile in self.profiles:
            if segment is not None and segment in profile.segments:
                return profile
        for profile in self.profiles:
            if plan is not None and plan in profile.plans:
                return profile
        return by_name[DEFAULT_PROFILE]

    def scores(self, measure: str) -> bool:
        """Does some profile score `measure`?"""
        return any(
            item.measure == measure for profile in self.profiles for item in profile.measures
        )

    def band(self, score: float | None) -> str:
        if score is None:
            return UNKNOWN_BAND
        red, yellow = self.bands
        return "red" if score <= red else "yellow" if score <= yellow else "green"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> HealthConfig:
        """Build from the `[accounts.health]` table; `profiles` replaces the shipped set."""
        known = {"onboarding_days", "bands", "profiles"}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ConfigError(
                f"Unknown key [accounts.health] {unknown[0]}: remove it (known keys: {', '.join(sorted(known))})."
            )
        shipped = tomllib.loads(DEFAULT_HEALTH_TOML)["accounts"]["health"]
        onboarding_days = mapping.get("onboarding_days", shipped["onboarding_days"])
        if (
            isinstance(onboarding_days, bool)
            or not isinstance(onboarding_days, int | float)
            or onboarding_days < 0
        ):
            raise ConfigError(
                "[accounts.health] onboarding_days must be a number of days >= 0, e.g. 30."
            )
        bands = mapping.get("bands", shipped["bands"])
        if (
            not isinstance(bands, list)
            or len(bands) != 2
            or not all(_is_number(b) for b in bands)
            or not 0 <= bands[0] < bands[1] <= 100
        ):
            raise ConfigError(
                "[accounts.health] bands must be two increasing scores within 0..100, e.g. [50, 75] (red up to 50, yellow up to 75)."
            )
        profiles_table = mapping.get("profiles", shipped["profiles"])
        if not isinstance(profiles_table, Mapping) or DEFAULT_PROFILE not in profiles_table:
            raise ConfigError(
                '[accounts.health.profiles] must hold a profile named "default": add [accounts.health.profiles.default].'
            )
        profiles = tuple(_profile(name, table) for name, table in profiles_table.items())
        return cls(profiles, float(onboarding_days), (float(bands[0]), float(bands[1])))


def _is_number(value: object) -> TypeGuard[int | float]:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _profile(name: str, table: Any) -> Profile:
    where = f"[accounts.health.profiles.{name}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table with dimensions and measures.")
    unknown = sorted(set(table) - {"dimensions", "measures", "segments", "plans"})
    if unknown:
        raise ConfigError(
            f"Unknown key {where} {unknown[0]}: use dimensions, measures, segments and plans."
        )
    dimensions = table.get("dimensions")
    if (
        not isinstance(dimensions, Mapping)
        or not dimensions
        or any(d not in DIMENSIONS or not _is_number(w) or w <= 0 for d, w in dimensions.items())
    ):
        raise ConfigError(
            f"{where} dimensions must map some of {', '.join(DIMENSIONS)} to positive weights, e.g. {{ engagement = 30 }}."
        )
    raw_measures = table.get("measures")
    if not isinstance(raw_measures, list) or not raw_measures:
        raise ConfigError(
            f"{where} measures must be a non-empty list of {{ measure, dimension, weight, good, average }} or {{ ..., linear = [from, to] }}."
        )
    measures = tuple(_measure(where, raw, dimensions) for raw in raw_measures)
    lists = {}
    for key in ("segments", "plans"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f'{where} {key} must be a list of names, e.g. ["enterprise"].')
        lists[key] = tuple(value)
    return Profile(
        name,
        tuple((d, float(w)) for d, w in dimensions.items()),
        measures,
        lists["segments"],
        lists["plans"],
    )


def _measure(where: str, raw: Any, dimensions: Mapping[str, Any]) -> Measure:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f'{where} measures must be inline tables, e.g. {{ measure = "nps", dimension = "sentiment", weight = 1, good = 30, average = 0 }}.'
        )
    name = raw.get("measure")
    if name not in MEASURES:
        raise ConfigError(
            f"{where} measure {name!r} is not known: use one of {', '.join(MEASURES)}."
        )
    unknown = sorted(set(raw) - {"measure", "dimension", "weight", "good", "average", "linear"})
    if unknown:
        raise ConfigError(
            f"{where} measure {name}: unknown key {unknown[0]} (use dimension, weight, good, average or linear)."
        )
    dimension = raw.get("dimension")
    if not isinstance(dimension, str) or dimension not in dimensions:
        raise ConfigError(
            f"{where} measure {name}: dimension must be one of the profile's dimensions ({', '.join(dimensions)})."
        )
    weight = raw.get("weight", 1)
    if not _is_number(weight) or weight <= 0:
        raise ConfigError(f"{where} measure {name}: weight must be a positive number.")
    if "linear" in raw:
        bounds = raw["linear"]
        if (
            "good" in raw
            or "average" in raw
            or not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(_is_number(b) for b in bounds)
            or bounds[0] == bounds[1]
        ):
            raise ConfigError(
                f"{where} measure {name}: linear must be two different numbers [zero_at, full_at], without good/average."
            )
        return Measure(
            name, dimension, float(weight), zero_at=float(bounds[0]), full_at=float(bounds[1])
        )
    good, average = raw.get("good"), raw.get("average")
    if not _is_number(good) or not _is_number(average):
        raise ConfigError(
            f"{where} measure {name}: give thresholds good and average (numbers) or linear = [zero_at, full_at]."
        )
    return Measure(name, dimension, float(weight), good=float(good), average=float(average))


@dataclass(frozen=True, slots=True)
class Health:
    profile: str
    score: float | None
    band: str
    explanation: tuple[dict[str, Any], ...]
    """Per measure of the profile: measure, dimension, rule, value, points, contribution
    (value None: missing, excluded; points and contribution then None)."""


def score(measures: Mapping[str, float | None], profile: Profile, config: HealthConfig) -> Health:
    """The health of an account whose measure values are `measures` under `profile`."""
    dimension_weight = dict(profile.dimensions)
    valued: dict[str, float] = {}  # dimension -> sum of the weights of its valued measures
    for measure in profile.measures:
        if measures.get(measure.measure) is not None:
            valued[measure.dimension] = valued.get(measure.dimension, 0.0) + measure.weight
    total_dimension_weight = sum(dimension_weight[d] for d in valued)
    rows: list[dict[str, Any]] = []
    total = 0.0
    for measure in profile.measures:
        value = measures.get(measure.measure)
        row: dict[str, Any] = {
            "measure": measure.measure,
            "dimension": measure.dimension,
            "rule": measure.rule(),
            "value": value,
            "points": None,
            "contribution": None,
        }
        if value is not None:
            points = measure.points(float(value))
            share = (measure.weight / valued[measure.dimension]) * (
                dimension_weight[measure.dimension] / total_dimension_weight
            )
            row["points"] = points
            row["contribution"] = round(points * share, 6)
            total += points * share
        rows.append(row)
    overall = round(total, 6) if valued else None
    return Health(profile.name, overall, config.band(overall), tuple(rows))
