"""The one RFC 3339 parser (streams.contract.rfc3339) and every option that reads a time.

2004-03-15T07:55:47.472Z is an instant where `int(datetime.timestamp() * 1000)` (a float of
seconds times 1000) gives one millisecond less than the exact 1079337347472.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.cli.replay import parse_time
from streams.contract.rfc3339 import (
    MissingOffset,
    epoch_ms,
    moment_ms,
    parse_rfc3339_ms,
    rfc3339_ms,
)
from streams.generator.clock import parse_end
from streams.worker.cli import _parse_time as frozen_clock_ms

FLOAT_TRAP = "2004-03-15T07:55:47.472Z"
FLOAT_TRAP_MS = 1079337347472


def test_the_float_trap_is_real() -> None:
    moment = datetime.fromisoformat(FLOAT_TRAP)
    assert int(moment.timestamp() * 1000) == FLOAT_TRAP_MS - 1  # why no caller does this


@pytest.mark.parametrize(
    "read",
    [parse_rfc3339_ms, epoch_ms, parse_time, frozen_clock_ms, lambda text: parse_end(text, 0)],
)
def test_every_reader_of_a_time_is_exact(read) -> None:
    assert read(FLOAT_TRAP) == FLOAT_TRAP_MS
    assert read("2004-03-15T08:55:47.472+01:00") == FLOAT_TRAP_MS


def test_offsets_are_required_and_errors_say_so() -> None:
    with pytest.raises(MissingOffset):
        parse_rfc3339_ms("2026-03-01T00:00:00")
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_rfc3339_ms("yesterday")
    with pytest.raises(click.BadParameter, match="no UTC offset"):
        frozen_clock_ms("2026-03-01T00:00:00")
    with pytest.raises(click.BadParameter, match="not an RFC 3339 time"):
        frozen_clock_ms("soon")


@given(st.integers(min_value=-2_000_000_000_000, max_value=4_102_444_800_000))
def test_format_and_parse_round_trip(ms: int) -> None:
    text = rfc3339_ms(ms)
    assert parse_rfc3339_ms(text) == ms == epoch_ms(text)
    assert moment_ms(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)) == ms


def test_finer_fractions_are_truncated() -> None:
    assert parse_rfc3339_ms("1970-01-01T00:00:00.0019Z") == 1
    assert parse_rfc3339_ms("1969-12-31T23:59:59.9991Z") == -1
