"""The cs-pulse configuration file: one TOML file, one table per part.

    [policy]   admission limits (streams.ingest.admission.PolicyConfig): sizes, future tolerance,
               late horizons, dedup memory
    [engine]   the non-revenue metric knobs (streams.engine.engine_config.EngineConfig)
    [revenue]  reporting currency, rates (rates_file) and the MRR vendor knobs
               (streams.engine.revenue.RevenueConfig)
    [accounts] the account layer: features per plan, onboarding, health profiles
               (streams.engine.accounts_config.AccountsConfig)
    [connectors] how Segment, Stripe and Zendesk payloads map to contract events
               (streams.connectors.connectors_config.ConnectorsConfig; read only by the connectors)

Every section is optional; an absent one keeps its defaults. The engine's "exact within
the late horizon" guarantee follows the policy: its history lags are the policy's
horizons. Any mistake raises ConfigError with one sentence naming the fix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.connectors.connectors_config import ConnectorsConfig
from streams.contract.decoding import ISO_4217_CODES, Decoder
from streams.engine.accounts_config import AccountsConfig
from streams.engine.engine_config import EngineConfig
from streams.engine.revenue import RevenueConfig
from streams.engine.timeline import DAY_MS
from streams.errors import ConfigError
from streams.ingest.admission import PolicyConfig
from streams.rates_file import read_rates_file

SECTIONS = ("policy", "engine", "revenue", "accounts", "connectors")
DEFAULT_TICKET_RETENTION_MS = EngineConfig().ticket_retention_ms


@dataclass(frozen=True)
class PulseConfig:
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    revenue: RevenueConfig = field(default_factory=RevenueConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    connectors: ConnectorsConfig = field(default_factory=ConnectorsConfig)

    def decoder(self) -> Decoder:
        """The edge's decoder under this configuration: the size limit, ISO 4217 plus the
        rates table's currencies, and a rate in force at each event's time."""
        return Decoder(
            max_bytes=self.policy.max_bytes,
            currencies=ISO_4217_CODES | self.revenue.rate_table.currencies(),
            rate_known=self.revenue.rate_known,
        )

    @classmethod
    def from_mapping(cls, document: Mapping[str, Any], base_dir: Path | None = None) -> PulseConfig:
        """Build and check the whole configuration; `base_dir` is where relative file
        settings (`[revenue] rates_file`) are found (the config file's directory)."""
        unknown = sorted(key for key in document if key not in SECTIONS)
        if unknown:
            raise ConfigError(
                f"Unknown section [{unknown[0]}] in the configuration: use only {', '.join(f'[{s}]' for s in SECTIONS)}."
            )
        for section in SECTIONS:
            if section in document and not isinstance(document[section], Mapping):
                raise ConfigError(
                    f"[{section}] must be a table of settings (a [{section}] header), not a value."
                )
        policy = PolicyConfig.from_mapping(document.get("policy", {}))
        engine_table = document.get("engine", {})
        lags: dict[str, Any] = {
            "activity_lag_ms": policy.activity_horizon_ms,
            "survey_lag_ms": policy.survey_horizon_ms,
        }
        if "ticket_retention_days" not in engine_table:
            lags["ticket_retention_ms"] = max(
                DEFAULT_TICKET_RETENTION_MS, policy.activity_horizon_ms + 7 * DAY_MS
            )
        engine = EngineConfig.from_mapping(engine_table, **lags)
        revenue_table = document.get("revenue", {})
        dated_rates = None
        if isinstance(revenue_table, Mapping) and "rates_file" in revenue_table:
            dated_rates = read_rates_file(revenue_table["rates_file"], base_dir)
        revenue = RevenueConfig.from_mapping(revenue_table, dated_rates)
        accounts = AccountsConfig.from_mapping(document.get("accounts", {}))
        connectors = ConnectorsConfig.from_mapping(document.get("connectors", {}))
        return cls(
            policy=policy, engine=engine, revenue=revenue, accounts=accounts, connectors=connectors
        )


def load_config(path: str | Path | None) -> PulseConfig:
    """Read and check the TOML file at `path`; None gives the defaults."""
    if path is None:
        return PulseConfig.from_mapping({})
    path = Path(path)
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {path} does not exist: pass the path of a TOML file."
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"Config path {path} is a directory: pass the path of a TOML file."
        ) from None
    except PermissionError:
        raise ConfigError(f"Config file {path} is not readable: check its permissions.") from None
    except OSError as error:
        raise ConfigError(
            f"Config file {path} cannot be read ({error.strerror}): pass a readable TOML file."
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {path} is not UTF-8 text: save it as UTF-8 TOML.") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"Config file {path} is not valid TOML ({error}): fix the syntax there."
        ) from None
    return PulseConfig.from_mapping(document, path.parent)
