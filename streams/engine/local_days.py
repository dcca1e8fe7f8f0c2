"""Calendar days in a time zone: where the local days before an evaluation time begin.

The averaged stickiness (streams/engine/activity.py) counts users per *calendar day* in
the `[engine] time_zone`, not per rolling 24 hours. A local day runs from its first local
instant (normally 00:00) to the first instant of the next date, half-open; a day with a
daylight-saving change is 23 or 25 hours long and still counts as one day. A date whose
midnight falls in a DST gap begins at the transition, and one whose midnight occurs
twice begins at the first occurrence (zoneinfo's `fold=0`).

Times are epoch milliseconds (UTC) as everywhere in the engine; the zone is looked up once
per name (zoneinfo, with the `tzdata` package as the fallback source of the IANA data).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.engine.timeline import SECOND_MS


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises ZoneInfoNotFoundError or ValueError when unknown."""
    return ZoneInfo(name)


def is_known_zone(name: str) -> bool:
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local_date(instant_ms: int, zone_name: str) -> date:
    """The local calendar date the instant falls on."""
    whole_seconds, _ = divmod(instant_ms, SECOND_MS)
    return datetime.fromtimestamp(whole_seconds, zone(zone_name)).date()


def day_start(day: date, zone_name: str) -> int:
    """The first instant (epoch ms) of the local date `day`."""
    local_midnight = datetime.combine(day, time(0), tzinfo=zone(zone_name))
    return round(local_midnight.timestamp()) * SECOND_MS


def next_day_start(instant_ms: int, zone_name: str) -> int:
    """The first instant (epoch ms) of the local date after the one the instant falls on."""
    return day_start(local_date(instant_ms, zone_name) + timedelta(days=1), zone_name)


@lru_cache(maxsize=64)
def _bounds_of(today: date, days: int, zone_name: str) -> tuple[int, ...]:
    return tuple(day_start(today - timedelta(days=days - k), zone_name) for k in range(days + 1))


@lru_cache(maxsize=8)
def complete_days_before(as_of_ms: int, days: int, zone_name: str) -> tuple[int, ...]:
    """The `days` complete local days before the day that contains `as_of_ms`, as their
    `days + 1` boundaries: day k is [bounds[k], bounds[k + 1]), and the last boundary is
    the start of the day of `as_of_ms` (the current, partial day is not among them).
    Cached by instant: a snapshot asks it for every user at the same T."""
    return _bounds_of(local_date(as_of_ms, zone_name), days, zone_name)


@lru_cache(maxsize=8)
def days_after(as_of_ms: int, days: int, zone_name: str) -> tuple[int, ...]:
    """The starts of the `days` local days after the day that contains `as_of_ms`, the
    next day's first (cached by instant, as `complete_days_before`)."""
    return _bounds_of(local_date(as_of_ms, zone_name) + timedelta(days=days), days - 1, zone_name)
