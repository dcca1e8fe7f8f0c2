"""Reading the `[revenue] rates_file`: a dated exchange-rate table on disk.

The format and the rule for which rate applies live in `streams.engine.currency` (the
engine reads no files); this module only finds the file, reads it, and turns every
mistake into one sentence that names the fix. A relative path is taken from the
directory of the configuration file, so a config and its table can move together.
"""

from __future__ import annotations

from pathlib import Path

from streams.engine.currency import DatedRate, parse_rates_table
from streams.errors import ConfigError

EXAMPLE = "date,currency,usd_per_unit then rows like 2025-01-02,EUR,1.035"


def read_rates_file(value: object, base_dir: Path | None) -> tuple[DatedRate, ...]:
    """The rows of the table `value` names (the `rates_file` setting)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(
            '[revenue] rates_file must be the path of a CSV file, e.g. rates_file = "rates.csv".'
        )
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"[revenue] rates_file {path} does not exist: give the path of a rates CSV file."
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"[revenue] rates_file {path} is a directory: give the path of a rates CSV file."
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"[revenue] rates_file {path} is not UTF-8 text: save it as UTF-8 CSV."
        ) from None
    except OSError as error:
        raise ConfigError(
            f"[revenue] rates_file {path} cannot be read ({error.strerror}): make it a readable file."
        ) from None
    try:
        return tuple(parse_rates_table(text))
    except ValueError as error:
        raise ConfigError(f"[revenue] rates_file {path}: {error}; fix it ({EXAMPLE}).") from None
