"""The `[connectors]` section of the configuration file: how each source maps to accounts,
event types and features. One home for every mapping rule the translators read.

    [connectors.segment]
    anonymous_users = false        # true: a call without userId uses its anonymousId
    page_feature = "pages"         # page/screen calls -> feature_used with this feature
                                   # (absent: page/screen are not translated)
    name_trait = "name"            # group traits read for account_updated
    segment_trait = "plan"
    owner_trait = "owner"
    [connectors.segment.track]     # track event name -> contract type (+ feature / step)
    "Report Exported" = { type = "feature_used", feature = "reports" }
    "Onboarding Step Completed" = { type = "onboarding_step_completed", step_property = "step" }

    [connectors.stripe]
    account_metadata_key = "account_id"   # subscription/customer/invoice metadata key
    unmapped_customers = "reject"         # or "customer_id": use the Stripe customer id
    [connectors.stripe.customers]         # Stripe customer id -> account id
    [connectors.stripe.plans]             # Stripe price or product id -> plan name

    [connectors.zendesk]
    unmapped_organizations = "reject"     # or "organization_id": use the organization id
    [connectors.zendesk.organizations]    # Zendesk organization id -> account id
    [connectors.zendesk.satisfaction]     # Zendesk rating -> contract rating 1..5
    good = 5
    bad = 1

Any mistake raises ConfigError with one sentence naming the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from streams.errors import ConfigError

TRACK_TYPES = (
    "feature_used",
    "login",
    "logout",
    "signup",
    "onboarding_step_completed",
    "onboarding_completed",
)

# Segment's B2B SaaS spec names for sign-in, sign-out and sign-up; a [connectors.segment.track]
# entry with the same name replaces its default.
DEFAULT_TRACK: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "Signed In": {"type": "login"},
        "Signed Out": {"type": "logout"},
        "Signed Up": {"type": "signup"},
    }
)


@dataclass(frozen=True)
class TrackRule:
    """What one Segment track event name becomes."""

    type: str
    feature: str | None = None  # feature_used: the feature name
    step: str | None = None  # onboarding_step_completed: a fixed step name ...
    step_property: str | None = None  # ... or the property that carries it


@dataclass(frozen=True)
class SegmentConfig:
    track: Mapping[str, TrackRule] = field(default_factory=lambda: _track_rules({}))
    anonymous_users: bool = False
    page_feature: str | None = None
    name_trait: str = "name"
    segment_trait: str = "plan"
    owner_trait: str = "owner"


@dataclass(frozen=True)
class StripeConfig:
    account_metadata_key: str = "account_id"
    unmapped_customers: str = "reject"
    customers: Mapping[str, str] = field(default_factory=dict)
    plans: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ZendeskConfig:
    unmapped_organizations: str = "reject"
    organizations: Mapping[str, str] = field(default_factory=dict)
    satisfaction: Mapping[str, int] = field(default_factory=lambda: {"good": 5, "bad": 1})


@dataclass(frozen=True)
class ConnectorsConfig:
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    stripe: StripeConfig = field(default_factory=StripeConfig)
    zendesk: ZendeskConfig = field(default_factory=ZendeskConfig)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> ConnectorsConfig:
        _keys(table, "connectors", {"segment", "stripe", "zendesk"})
        return cls(
            segment=_segment(_table(table, "segment", "connectors")),
            stripe=_stripe(_table(table, "stripe", "connectors")),
            zendesk=_zendesk(_table(table, "zendesk", "connectors")),
        )


# --------------------------------------------------------------------------- per source


def _segment(table: Mapping[str, Any]) -> SegmentConfig:
    where = "connectors.segment"
    _keys(
        table,
        where,
        {"track", "anonymous_users", "page_feature", "name_trait", "segment_trait", "owner_trait"},
    )
    track = _table(table, "track", where)
    values: dict[str, Any] = {"track": _track_rules(track)}
    if "anonymous_users" in table:
        if type(table["anonymous_users"]) is not bool:
            raise ConfigError(
                f"[{where}] anonymous_users must be true or false, not {table['anonymous_users']!r}."
            )
        values["anonymous_users"] = table["anonymous_users"]
    for key in ("page_feature", "name_trait", "segment_trait", "owner_trait"):
        if key in table:
            values[key] = _name(table[key], f"[{where}] {key}", 64)
    return SegmentConfig(**values)


def _track_rules(table: Mapping[str, Any]) -> Mapping[str, TrackRule]:
    where = "connectors.segment.track"
    rules = {name: TrackRule(**rule) for name, rule in DEFAULT_TRACK.items()}
    for name, rule in table.items():
        if not isinstance(rule, Mapping):
            raise ConfigError(
                f'[{where}] "{name}" must be a table such as {{ type = "feature_used", feature = "reports" }}.'
            )
        _keys(rule, f'{where}] "{name}', {"type", "feature", "step", "step_property"})
        kind = rule.get("type")
        if kind not in TRACK_TYPES:
            raise ConfigError(
                f'[{where}] "{name}" needs type = one of {", ".join(TRACK_TYPES)}, not {kind!r}.'
            )
        feature = step = step_property = None
        if kind == "feature_used":
            feature = _name(rule.get("feature"), f'[{where}] "{name}" feature', 64)
        elif kind == "onboarding_step_completed":
            if ("step" in rule) == ("step_property" in rule):
                raise ConfigError(
                    f'[{where}] "{name}" needs exactly one of step = "<name>" or step_property = "<property>".'
                )
            if "step" in rule:
                step = _name(rule["step"], f'[{where}] "{name}" step', 64)
            else:
                step_property = _name(
                    rule["step_property"], f'[{where}] "{name}" step_property', 200
                )
        elif any(key in rule for key in ("feature", "step", "step_property")):
            raise ConfigError(
                f'[{where}] "{name}" of type {kind} takes no feature or step: remove them.'
            )
        rules[name] = TrackRule(kind, feature, step, step_property)
    return MappingProxyType(rules)


def _stripe(table: Mapping[str, Any]) -> StripeConfig:
    where = "connectors.stripe"
    _keys(table, where, {"account_metadata_key", "unmapped_customers", "customers", "plans"})
    values: dict[str, Any] = {}
    if "account_metadata_key" in table:
        values["account_metadata_key"] = _name(
            table["account_metadata_key"], f"[{where}] account_metadata_key", 40
        )
    if "unmapped_customers" in table:
        values["unmapped_customers"] = _choice(
            table["unmapped_customers"], f"[{where}] unmapped_customers", ("reject", "customer_id")
        )
    values["customers"] = _ids(_table(table, "customers", where), f"{where}.customers", 128)
    values["plans"] = _ids(_table(table, "plans", where), f"{where}.plans", 64)
    return StripeConfig(**values)


def _zendesk(table: Mapping[str, Any]) -> ZendeskConfig:
    where = "connectors.zendesk"
    _keys(table, where, {"unmapped_organizations", "organizations", "satisfaction"})
    values: dict[str, Any] = {}
    if "unmapped_organizations" in table:
        values["unmapped_organizations"] = _choice(
            table["unmapped_organizations"],
            f"[{where}] unmapped_organizations",
            ("reject", "organization_id"),
        )
    values["organizations"] = _ids(
        _table(table, "organizations", where), f"{where}.organizations", 128
    )
    if "satisfaction" in table:
        scores = _table(table, "satisfaction", where)
        for rating, score in scores.items():
            if type(score) is not int or not 1 <= score <= 5:
                raise ConfigError(
                    f"[{where}.satisfaction] {rating} must be a whole number 1..5, not {score!r}."
                )
        values["satisfaction"] = dict(scores)
    return ZendeskConfig(**values)


# --------------------------------------------------------------------------- checks


def _keys(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"Unknown key {unknown[0]!r} in [{where}]: use only {', '.join(sorted(allowed))}."
        )


def _table(table: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"[{where}] {key} must be a table (a [{where}.{key}] header), not a value."
        )
    return value


def _name(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise ConfigError(f"{what} must be a string of 1..{limit} characters, not {value!r}.")
    return value


def _choice(value: object, what: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(
            f"{what} must be one of {', '.join(repr(c) for c in choices)}, not {value!r}."
        )
    return value


def _ids(table: Mapping[str, Any], where: str, limit: int) -> dict[str, str]:
    for key, value in table.items():
        _name(value, f"[{where}] {key!r}", limit)
    return dict(table)
