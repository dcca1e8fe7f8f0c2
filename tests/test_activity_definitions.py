"""Averaged stickiness by calendar day and "who is active" (issue 16, items 4 and 5):
hand-derived scenarios, each answered by the engine (`pulse replay`, a black box, with
the `[engine]` knobs in its config file) and by the DuckDB oracle (the definitions in
SQL), and both compared with the value worked out by hand in the test."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from streams.cli.replay import replay
from tests.oracle import Oracle, Policy
from tests.oracle.compare import compare, parse_exposition

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
NEW_YORK = ZoneInfo("America/New_York")
RATES = {"USD": 1}
_ids = itertools.count(1)
FAMILY = frozenset(
    {
        "pulse_active_users",
        "pulse_stickiness_ratio",
        "pulse_daily_active_users_sum_users",
        "pulse_calendar_active_users",
        "pulse_average_stickiness_ratio",
        "pulse_logins",
        "pulse_login_only_users",
        "pulse_feature_users",
        "pulse_feature_adoption_ratio",
    }
)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, ms: int = 0, zone: Any = UTC
) -> int:
    """Epoch ms of a wall-clock time in `zone` (fold 0 on an ambiguous time)."""
    return int(datetime(year, month, day, hour, minute, tzinfo=zone).timestamp()) * 1000 + ms


def rfc3339(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def event(type_: str, when: int, user: str, account: str = "acme", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{next(_ids)}",
        "type": type_,
        "occurred_at": rfc3339(when),
        "account_id": account,
        "user_id": user,
        **fields,
    }


def login(when: int, user: str, account: str = "acme") -> dict[str, Any]:
    return event("login", when, user, account)


def used(when: int, user: str, feature: str = "export") -> dict[str, Any]:
    return event("feature_used", when, user, feature=feature)


def logout(when: int, user: str) -> dict[str, Any]:
    return event("logout", when, user)


def engine_toml(policy: Policy) -> str:
    return (
        f'[engine]\ntime_zone = "{policy.time_zone}"\n'
        f"activity_types = {json.dumps(list(policy.activity_types))}\n"
        f"core_features = {json.dumps(list(policy.core_features))}\n"
    )


def both(
    tmp_path: Path, events: list[dict[str, Any]], as_of: int, policy: Policy | None = None
) -> dict[str, Any]:
    """The engine's and the oracle's answers, checked to agree on every activity and adoption
    metric (with no billing, the engine exports no MRR series at all); returns the
    oracle's, keyed `name` or `name{label=value,...}`."""
    policy = policy or Policy()
    dataset = tmp_path / "events.jsonl"
    dataset.write_text("".join(json.dumps(line) + "\n" for line in events))
    config = tmp_path / "pulse.toml"
    config.write_text('[revenue]\nreporting_currency = "USD"\n' + engine_toml(policy))
    out = tmp_path / "metrics.prom"
    result = CliRunner().invoke(
        replay,
        [str(dataset), "--as-of", rfc3339(as_of), "--out", str(out), "--config", str(config)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    with Oracle(dataset, rates=RATES, policy=policy) as oracle:
        expected = {key: value for key, value in oracle.metrics(as_of).items() if key[0] in FAMILY}
    mismatches = compare(expected, parse_exposition(out.read_text()))
    assert not mismatches, "engine != oracle:\n" + "\n".join(map(str, mismatches))
    return {
        name + ("{" + ",".join(f"{k}={v}" for k, v in labels) + "}" if labels else ""): value
        for (name, labels), value in expected.items()
    }


def calendar(result: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (
        result["pulse_daily_active_users_sum_users{window=30d}"],
        result["pulse_calendar_active_users{window=30d}"],
        result["pulse_average_stickiness_ratio{window=30d}"],
    )


# --- item 4: averaged stickiness -----------------------------------------------------


def test_average_daily_active_users_over_the_30_complete_utc_days(tmp_path: Path) -> None:
    # T = 2026-03-01 12:00Z: the days are 01-30 .. 02-28 (UTC); 03-01 is partial, left out.
    t = at(2026, 3, 1, 12)
    every_day = [login(at(2026, 1, 30, 10) + day * DAY, "daily") for day in range(30)]
    events = every_day + [
        login(at(2026, 1, 30), "edges"),  # the first instant of the first day: in
        used(at(2026, 3, 1) - 1, "edges"),  # the last ms of the last day: in
        login(at(2026, 3, 1), "edges"),  # the current day: out
        login(at(2026, 1, 30) - 1, "outside"),  # the day before the first: out
        used(at(2026, 3, 1, 11), "outside"),  # the current day: out
        login(at(2026, 2, 10, 8), "twice"),
        used(at(2026, 2, 10, 20), "twice"),  # one day, once
        logout(at(2026, 2, 11), "logout_only"),  # logout is not activity
    ]
    user_days, users, ratio = calendar(both(tmp_path, events, t))
    # daily 30 days + edges 2 days + twice 1 day = 33 user-days over 3 users
    assert (user_days, users, ratio) == (33, 3, Fraction(33, 90))


def test_nobody_active_gives_zero_and_the_rolling_ratio_is_unchanged(tmp_path: Path) -> None:
    t = at(2026, 3, 1, 12)
    result = both(
        tmp_path, [login(at(2026, 3, 1, 1), "today_only"), logout(at(2026, 2, 2), "gone")], t
    )
    assert calendar(result) == (0, 0, 0)
    assert result["pulse_stickiness_ratio"] == 1  # rolling: 1 of 1 active over 1d and 30d


def test_calendar_days_follow_the_configured_time_zone_across_a_dst_change(tmp_path: Path) -> None:
    # New York springs forward on 2026-03-08 (a 23-hour day). T = 03-09 12:00 EDT: the
    # days are 02-07 .. 03-08 local.
    t = at(2026, 3, 9, 12, zone=NEW_YORK)
    events = [
        login(at(2026, 3, 7, 21, zone=NEW_YORK), "evening"),  # 03-08 02:00Z: 03-07 in New York
        login(at(2026, 3, 8, 0, 30, zone=NEW_YORK), "evening"),  # 03-08 05:30Z: 03-08
        login(at(2026, 3, 8, 3, 30, zone=NEW_YORK), "morning"),  # after the change: 03-08
        login(at(2026, 3, 9, 0, 30, zone=NEW_YORK), "morning"),  # the current day: out
        login(at(2026, 2, 7, zone=NEW_YORK), "first"),  # 05:00Z: the first local day
        login(at(2026, 2, 7, zone=NEW_YORK) - 1, "first"),  # 02-06 local: out
    ]
    new_york = both(tmp_path, events, t, Policy(time_zone="America/New_York"))
    assert calendar(new_york) == (4, 3, Fraction(4, 90))  # evening 2 days, morning 1, first 1
    utc = both(tmp_path, events, t)
    # in UTC the evening user's two logins share 03-08, and the first user's both fall on 02-07
    assert calendar(utc) == (3, 3, Fraction(3, 90))


def test_every_day_of_a_23_hour_dst_day_counts(tmp_path: Path) -> None:
    # Activity at the last minute of 03-07, mid 03-08 (23 hours long) and the first instant
    # of 03-09: the outer two are 23 h 1 min apart, so a presence set thinned for 24 hours
    # would drop the middle one and lose 03-08.
    t = at(2026, 3, 10, 12, zone=NEW_YORK)
    events = [
        login(at(2026, 3, 7, 23, 59, zone=NEW_YORK), "u"),
        login(at(2026, 3, 8, 12, zone=NEW_YORK), "u"),
        login(at(2026, 3, 9, zone=NEW_YORK), "u"),
    ]
    assert calendar(both(tmp_path, events, t, Policy(time_zone="America/New_York"))) == (
        3,
        1,
        Fraction(3, 30),
    )


def test_a_25_hour_dst_day_is_one_day(tmp_path: Path) -> None:
    # New York falls back on 2025-11-02: 01:30 happens twice, both on the one local day.
    t = at(2025, 11, 3, 12, zone=NEW_YORK)
    first_0130 = at(2025, 11, 2, 5, 30)  # 01:30 EDT
    events = [
        login(first_0130, "u"),
        login(first_0130 + HOUR, "u"),  # 01:30 EST
        login(at(2025, 11, 2, 23, 59, zone=NEW_YORK), "u"),
        login(at(2025, 11, 3, 1, zone=NEW_YORK), "u"),
    ]
    assert calendar(both(tmp_path, events, t, Policy(time_zone="America/New_York"))) == (
        1,
        1,
        Fraction(1, 30),
    )


# --- item 5: who is active, logged in but idle ---------------------------------------


def who_is_active_events() -> list[dict[str, Any]]:
    t = at(2026, 3, 1)
    return [
        login(t - DAY, "login_only"),
        login(t - DAY, "non_core"),
        used(t - HOUR, "non_core", "search"),
        login(t - DAY, "core"),
        used(t - HOUR, "core", "export"),
        used(t - HOUR, "search_only", "search"),
        used(t - HOUR, "export_only", "export"),
        login(t - 31 * DAY, "long_ago"),
        used(t - 31 * DAY, "long_ago", "export"),
        login(t - 30 * DAY, "edge"),  # exactly T - 30d: out
    ]


@pytest.mark.parametrize(
    ("policy", "active_30d", "login_only", "adoption_export"),
    [
        # defaults: every login and feature use is activity, every feature is core
        (Policy(), 5, 1, Fraction(2, 5)),
        # only "export" is core: using search neither makes a user active nor keeps them from idle
        (Policy(core_features=("export",)), 4, 2, Fraction(2, 4)),
        # a login alone no longer makes a user active
        (Policy(activity_types=("feature_used",), core_features=("export",)), 2, 2, Fraction(2, 2)),
        # only logins are activity; idle still means "no core feature used"
        (Policy(activity_types=("login",)), 3, 1, Fraction(2, 3)),
    ],
    ids=["defaults", "core-export", "features-only", "logins-only"],
)
def test_who_is_active_and_who_logged_in_but_stayed_idle(
    tmp_path: Path, policy: Policy, active_30d: int, login_only: int, adoption_export: Fraction
) -> None:
    result = both(tmp_path, who_is_active_events(), at(2026, 3, 1), policy)
    assert result["pulse_active_users{window=30d}"] == active_30d
    assert result["pulse_login_only_users{window=30d}"] == login_only
    assert (
        result["pulse_feature_users{feature=export,window=30d}"] == 2
    )  # adoption counts every use
    assert result["pulse_feature_adoption_ratio{feature=export,window=30d}"] == adoption_export
    assert result["pulse_logins{window=7d}"] == 3  # login counts never depend on the knobs
