"""EngineConfig: the knobs of the non-revenue metric families (the `[engine]` section).

Windows are fixed: their widths are part of the metric names (`window="30d"`), which are
a contract. What can be tuned is the session inactivity gap, which features get their own
`feature` label, how long closed tickets are remembered, the direction of CES responses
that do not state their own, who counts as active (which event types, which core
features), the time zone calendar days are cut in, and how far in the past the engine
must still answer exactly (normally taken from the late policy's horizons).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.engine.local_days import is_known_zone
from streams.engine.timeline import DAY_MS, MINUTE_MS
from streams.errors import ConfigError

FEATURE_OTHER = "other"
CES_SCALES = ("higher_is_easier", "higher_is_harder")
ACTIVITY_EVENT_TYPES = ("login", "feature_used")
"""The event types that may make a user active (`[engine] activity_types`)."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    session_gap_ms: int = 30 * MINUTE_MS
    """Consecutive events of a user at most this far apart belong to one session."""
    features: tuple[str, ...] = ()
    """Features exported under their own `feature` label; empty = the top `feature_cap` by 30d users."""
    feature_cap: int = 50
    """At most this many `feature` label values besides `other`."""
    activity_lag_ms: int = 35 * DAY_MS
    """Activity-family state is kept so that a snapshot this far behind an account's
    stream time is still exact (the late policy's activity horizon)."""
    survey_lag_ms: int = 95 * DAY_MS
    """The same for survey responses (the late policy's survey horizon)."""
    ticket_retention_ms: int = 90 * DAY_MS
    """A ticket that is not open and has seen no event for this long is forgotten."""
    ces_scale: str = "higher_is_easier"
    """The direction of a CES response that does not state its own `scale`."""
    activity_types: tuple[str, ...] = ACTIVITY_EVENT_TYPES
    """The event types that make a user active (a subset of ACTIVITY_EVENT_TYPES)."""
    core_features: tuple[str, ...] = ()
    """The features whose use makes a user active and not "logged in but idle"; empty =
    every feature."""
    time_zone: str = "UTC"
    """The IANA time zone calendar days are cut in (the averaged stickiness)."""

    def __post_init__(self) -> None:
        if not 0 < self.session_gap_ms < DAY_MS:
            raise ConfigError(
                "[engine] session_gap_minutes must be more than 0 and less than 1440 (one day)."
            )
        if self.feature_cap < 1:
            raise ConfigError("[engine] feature_cap must be a positive integer.")
        if self.activity_lag_ms < 0 or self.survey_lag_ms < 0:
            raise ConfigError("The late policy's horizons must not be negative.")
        if self.ticket_retention_ms < self.activity_lag_ms + 7 * DAY_MS:
            raise ConfigError(
                "[engine] ticket_retention_days must be at least the activity late horizon plus 7 days."
            )
        if self.ces_scale not in CES_SCALES:
            raise ConfigError(
                '[engine] ces_scale must be "higher_is_easier" (7 = very easy) or "higher_is_harder".'
            )
        if len(set(self.features)) != len(self.features) or FEATURE_OTHER in self.features:
            raise ConfigError(
                f'[engine] features must be distinct names other than "{FEATURE_OTHER}".'
            )
        if not self.activity_types or not set(self.activity_types) <= set(ACTIVITY_EVENT_TYPES):
            raise ConfigError(
                "[engine] activity_types must be a non-empty list drawn from "
                '"login" and "feature_used", e.g. ["login", "feature_used"].'
            )
        if len(set(self.core_features)) != len(self.core_features):
            raise ConfigError(
                '[engine] core_features must be distinct feature names, e.g. ["export", "search"].'
            )
        if not is_known_zone(self.time_zone):
            raise ConfigError(
                f'[engine] time_zone "{self.time_zone}" is not a known IANA time zone: '
                'use a name such as "UTC" or "Europe/Berlin".'
            )

    def counts_as_activity(self, event_type: str, feature: str | None) -> bool:
        """Does a `login` or `feature_used` (of `feature`) make its user active?"""
        if event_type not in self.activity_types:
            return False
        return feature is None or self.is_core_feature(feature)

    def is_core_feature(self, feature: str) -> bool:
        return not self.core_features or feature in self.core_features

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], **overrides: Any) -> EngineConfig:
        """Build from the `[engine]` TOML table; `overrides` are keyword fields set by code
        (e.g. the late horizons taken from the policy)."""
        known = {
            "session_gap_minutes",
            "features",
            "feature_cap",
            "ticket_retention_days",
            "ces_scale",
            "activity_types",
            "core_features",
            "time_zone",
        }
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ConfigError(
                f"Unknown key [engine] {unknown[0]}: remove it (known keys: {', '.join(sorted(known))})."
            )
        fields: dict[str, Any] = {}
        if "session_gap_minutes" in mapping:
            fields["session_gap_ms"] = _positive_number(mapping, "session_gap_minutes", MINUTE_MS)
        if "ticket_retention_days" in mapping:
            fields["ticket_retention_ms"] = _positive_number(
                mapping, "ticket_retention_days", DAY_MS
            )
        if "ces_scale" in mapping:
            fields["ces_scale"] = mapping["ces_scale"]
        if "feature_cap" in mapping:
            cap = mapping["feature_cap"]
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
                raise ConfigError("[engine] feature_cap must be a positive integer, e.g. 50.")
            fields["feature_cap"] = cap
        if "features" in mapping:
            features = mapping["features"]
            if not isinstance(features, list) or not all(
                isinstance(f, str) and f for f in features
            ):
                raise ConfigError(
                    '[engine] features must be a list of feature names, e.g. ["export", "search"].'
                )
            fields["features"] = tuple(features)
        if "activity_types" in mapping:
            example = '["login", "feature_used"]'
            fields["activity_types"] = _names(mapping, "activity_types", example)
        if "core_features" in mapping:
            fields["core_features"] = _names(mapping, "core_features", '["export", "search"]')
        if "time_zone" in mapping:
            zone_name = mapping["time_zone"]
            if not isinstance(zone_name, str) or not zone_name:
                raise ConfigError(
                    '[engine] time_zone must be an IANA time zone name, e.g. "Europe/Berlin".'
                )
            fields["time_zone"] = zone_name
        fields.update(overrides)
        return cls(**fields)


def _positive_number(mapping: Mapping[str, Any], key: str, unit_ms: int) -> int:
    value = mapping[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"[engine] {key} must be a positive number.")
    return round(value * unit_ms)


def _names(mapping: Mapping[str, Any], key: str, example: str) -> tuple[str, ...]:
    value = mapping[key]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"[engine] {key} must be a list of names, e.g. {example}.")
    return tuple(value)
