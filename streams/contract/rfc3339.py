"""RFC 3339 times <-> integer epoch milliseconds (UTC): the one parser of the project.

Inside the project a time is an int of epoch milliseconds. Every string that names a time
(an event's `occurred_at`, `--as-of`, `--frozen-clock`, `--end`) is parsed here, with
integer arithmetic: `datetime.timestamp()` is a float of seconds, and `int(ts * 1000)` is
one millisecond short for some instants (2004-03-15T07:55:47.472Z gives ...471), so no
caller multiplies a float. A fraction finer than a millisecond is truncated (floor, also
before 1970).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


class MissingOffset(ValueError):
    """A time without a UTC offset (`Z` or `+hh:mm`): its instant is unknown."""


def rfc3339_ms(epoch_ms: int) -> str:
    """Epoch milliseconds as RFC 3339 UTC with milliseconds: 2026-03-01T09:15:00.123Z."""
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def moment_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly."""
    return (moment - EPOCH) // MILLISECOND


def epoch_ms(text: str) -> int:
    """Epoch milliseconds UTC of a string the schema's timestamp pattern accepted:
    `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, `T` and `Z` in either case.
    The per-event path: no checks beyond the schema's."""
    return (datetime.fromisoformat(text.upper()) - EPOCH) // MILLISECOND


def parse_rfc3339_ms(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 time given by a person (an option value).

    Raises ValueError when `text` is not a time, MissingOffset when it has no offset."""
    try:
        moment = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise MissingOffset(f"{text!r} has no UTC offset")
    return moment_ms(moment)
