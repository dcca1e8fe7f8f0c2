"""AccountsConfig: the knobs of the account layer (the `[accounts]` TOML table).

    [accounts.plans]        features each plan entitles, e.g. starter = ["dashboards"]
    [accounts.onboarding]   the onboarding steps, the activation event and the cohort windows
    [accounts.health]       health profiles, bands and the onboarding profile (streams.engine.health)
    [accounts.watchlist]    which accounts get per-account Prometheus series (streams.engine.account_metrics)

A plan missing from `[accounts.plans]` entitles no listed feature: its accounts get no
per-feature adoption (and no `plan_feature_adoption` measure), never an adoption of 0.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.engine.health import DEFAULT_HEALTH_TOML, HealthConfig
from streams.engine.timeline import DAY_MS
from streams.errors import ConfigError

ACTIVATIONS = ("onboarding_completed", "core_feature")


@dataclass(frozen=True, slots=True)
class OnboardingConfig:
    steps: tuple[str, ...] = ()
    """The steps that make up onboarding progress; empty: progress is unknown (None)."""
    activation: str = "onboarding_completed"
    """The activation event: the first `onboarding_completed`, or the first use of a core feature."""
    core_features: tuple[str, ...] = ()
    activation_days: int = 14
    completion_days: int = 30
    cohort_days: int = 30
    stuck_days: int = 7
    max_onboarding_days: int = 90
    trial_window_days: int = 30

    def ms(self, name: str) -> int:
        return int(getattr(self, name)) * DAY_MS


_ONBOARDING_DAYS = (
    "activation_days",
    "completion_days",
    "cohort_days",
    "stuck_days",
    "max_onboarding_days",
    "trial_window_days",
)


@dataclass(frozen=True, slots=True)
class WatchlistConfig:
    cap: int = 200
    """At most this many accounts get per-account series, over all workers together."""
    top_by_mrr: int = 100
    """The accounts with the most MRR are on the watchlist (within the cap); red accounts fill the rest."""
    key_features: tuple[str, ...] = ()
    """Features whose adoption is exported per watchlist account (the shorter-grace alert)."""


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    plan_features: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    onboarding: OnboardingConfig = field(default_factory=OnboardingConfig)
    health: HealthConfig = field(
        default_factory=lambda: HealthConfig.from_mapping(
            tomllib.loads(DEFAULT_HEALTH_TOML)["accounts"]["health"]
        )
    )
    watchlist: WatchlistConfig = field(default_factory=WatchlistConfig)

    def features_of(self, plan: str | None) -> tuple[str, ...]:
        return () if plan is None else self.plan_features.get(plan, ())

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> AccountsConfig:
        unknown = sorted(set(mapping) - {"plans", "onboarding", "health", "watchlist"})
        if unknown:
            raise ConfigError(
                f"Unknown key [accounts] {unknown[0]}: use [accounts.plans], [accounts.onboarding], "
                f"[accounts.health] or [accounts.watchlist]."
            )
        for key in ("plans", "onboarding", "health", "watchlist"):
            if key in mapping and not isinstance(mapping[key], Mapping):
                raise ConfigError(f"[accounts.{key}] must be a table (an [accounts.{key}] header).")
        plans: dict[str, tuple[str, ...]] = {}
        for plan, features in mapping.get("plans", {}).items():
            if not isinstance(features, list) or not all(
                isinstance(f, str) and f for f in features
            ):
                raise ConfigError(
                    f'[accounts.plans] {plan} must be a list of feature names, e.g. {plan} = ["export", "search"].'
                )
            plans[plan] = tuple(dict.fromkeys(features))
        onboarding = _onboarding(mapping.get("onboarding", {}))
        health = HealthConfig.from_mapping(mapping.get("health", {}))
        return cls(plans, onboarding, health, _watchlist(mapping.get("watchlist", {})))


def _watchlist(table: Mapping[str, Any]) -> WatchlistConfig:
    unknown = sorted(set(table) - {"cap", "top_by_mrr", "key_features"})
    if unknown:
        raise ConfigError(
            f"Unknown key [accounts.watchlist] {unknown[0]}: remove it (known keys: cap, key_features, "
            f"top_by_mrr)."
        )
    fields: dict[str, Any] = {}
    for key in ("cap", "top_by_mrr"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
                raise ConfigError(
                    f"[accounts.watchlist] {key} must be a whole number from 0 to 10000, e.g. {key} = 200."
                )
            fields[key] = value
    if "key_features" in table:
        value = table["key_features"]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(
                '[accounts.watchlist] key_features must be a list of feature names, e.g. ["export"].'
            )
        fields["key_features"] = tuple(dict.fromkeys(value))
    return WatchlistConfig(**fields)


def _onboarding(table: Mapping[str, Any]) -> OnboardingConfig:
    known = {"steps", "activation", "core_features", *_ONBOARDING_DAYS}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"Unknown key [accounts.onboarding] {unknown[0]}: remove it (known keys: {', '.join(sorted(known))})."
        )
    fields: dict[str, Any] = {}
    for key in ("steps", "core_features"):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(
                    f'[accounts.onboarding] {key} must be a list of names, e.g. ["create_workspace"].'
                )
            fields[key] = tuple(dict.fromkeys(value))
    if "activation" in table:
        if table["activation"] not in ACTIVATIONS:
            raise ConfigError(
                '[accounts.onboarding] activation must be "onboarding_completed" or "core_feature".'
            )
        fields["activation"] = table["activation"]
    for key in _ONBOARDING_DAYS:
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"[accounts.onboarding] {key} must be a whole number of days >= 1."
                )
            fields[key] = value
    config = OnboardingConfig(**fields)
    if config.activation == "core_feature" and not config.core_features:
        raise ConfigError(
            '[accounts.onboarding] activation = "core_feature" needs core_features, e.g. core_features = ["create_dashboard"].'
        )
    return config
