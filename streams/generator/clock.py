"""Time for the generator: epoch-millisecond arithmetic, RFC 3339 output, billing periods.

Inside the generator, as in the rest of the project, a time is an int of epoch
milliseconds, UTC. Output timestamps are RFC 3339 in UTC with a `Z` suffix and at most
millisecond precision: `2026-03-01T09:15:00Z`, or `2026-03-01T09:15:00.250Z` when the
milliseconds are not zero. Billing periods add calendar months (clamped to the last day
of a shorter month), weeks or days.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

from streams.contract.rfc3339 import MissingOffset, moment_ms, parse_rfc3339_ms

# the engine's time constants, re-exported for the generator's modules (one definition)
from streams.engine.timeline import DAY_MS as DAY_MS
from streams.engine.timeline import HOUR_MS as HOUR_MS
from streams.engine.timeline import MINUTE_MS as MINUTE_MS
from streams.engine.timeline import SECOND_MS as SECOND_MS
from streams.errors import ConfigError

DEFAULT_END_TEXT = "2026-03-01T00:00:00Z"
DEFAULT_END_MS = 1_772_323_200_000  # DEFAULT_END_TEXT
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

_day_prefixes: dict[int, str] = {}


def day_prefix(day: int) -> str:
    """'YYYY-MM-DDT' of the UTC day with this index (days since 1970-01-01), cached."""
    prefix = _day_prefixes.get(day)
    if prefix is None:
        prefix = date.fromordinal(_EPOCH_ORDINAL + day).isoformat() + "T"
        if len(_day_prefixes) > 4096:
            _day_prefixes.clear()
        _day_prefixes[day] = prefix
    return prefix


_clock_faces: list[str] = []  # "HH:MM:SS" for every second of a day, built on first use
_fractions: list[str] = ["Z"] + [f".{millis:03d}Z" for millis in range(1, 1000)]


def clock_texts() -> tuple[list[str], list[str]]:
    """("HH:MM:SS" by second of day, ".mmmZ" or "Z" by millisecond): the pieces of rfc3339,
    for loops that format many times of one day."""
    if not _clock_faces:
        _clock_faces.extend(
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)
        )
    return _clock_faces, _fractions


def rfc3339(ms: int) -> str:
    """Epoch ms -> RFC 3339 UTC text with `Z`; fractional seconds only when non-zero."""
    faces, fractions = clock_texts()
    day, rest = divmod(ms, DAY_MS)
    seconds, millis = divmod(rest, 1000)
    return day_prefix(day) + faces[seconds] + fractions[millis]


def weekday(day: int) -> int:
    """Monday = 0 ... Sunday = 6 for a day index (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


def add_period(ms: int, interval: str, count: int) -> int:
    """The instant one billing period of `count` x `interval` after `ms`."""
    if interval == "day":
        return ms + count * DAY_MS
    if interval == "week":
        return ms + count * 7 * DAY_MS
    months = count * {"month": 1, "quarter": 3, "year": 12}[interval]
    start = date.fromordinal(_EPOCH_ORDINAL + ms // DAY_MS)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    target = date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
    return ms + (target.toordinal() - start.toordinal()) * DAY_MS


def period_months(interval: str, count: int) -> float:
    """Length of a billing period in months (a week is 7/30.4375 of a month)."""
    if interval in ("day", "week"):
        return count * (1 if interval == "day" else 7) / 30.4375
    return count * {"month": 1, "quarter": 3, "year": 12}[interval]


def parse_end(text: str, now_ms: int) -> int:
    """`--end` value -> epoch ms: 'now', a date (midnight UTC) or an RFC 3339 time with offset."""
    text = text.strip()
    if text.lower() == "now":
        return now_ms
    try:
        if len(text) == 10:
            return moment_ms(datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC))
        return parse_rfc3339_ms(text)
    except MissingOffset:
        raise ConfigError(f"--end {text!r} has no UTC offset: add one, e.g. {text}Z.") from None
    except ValueError:
        raise ConfigError(
            f"--end {text!r} is not a time: give 'now', a date like 2026-03-01 or a time like 2026-03-01T00:00:00Z."
        ) from None
