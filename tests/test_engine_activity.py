"""Activity: active users, stickiness, login counts; and the presence sets behind them."""

from __future__ import annotations

import random
import re
from array import array
from bisect import bisect_right

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engine.engine import Engine
from streams.engine.state_codec import account_from_bytes, account_to_bytes
from streams.engine.timeline import (
    HOUR_MS,
    add_presence,
    any_in,
    drop_through,
    insert_sorted,
    new_times,
)
from tests.engine_events import DAY_MS, MINUTE_MS, T0, feature, login, logout, value

T = T0 + 40 * DAY_MS


def snapshot_of(*events, as_of: int = T):
    engine = Engine()
    for event in events:
        engine.apply(event)
    return engine.snapshot(as_of)


def active(samples, window: str) -> float:
    return value(samples, "pulse_active_users", window=window)


def test_event_exactly_at_window_start_is_out_and_at_t_is_in():
    samples = snapshot_of(login(T - DAY_MS, user="edge"), feature(T, user="now"))
    assert active(samples, "1d") == 1  # only "now"
    assert active(samples, "7d") == 2


def test_one_millisecond_inside_each_window_counts():
    samples = snapshot_of(
        login(T - DAY_MS + 1, user="d"),
        login(T - 7 * DAY_MS + 1, user="w"),
        login(T - 30 * DAY_MS + 1, user="m"),
        login(T - 30 * DAY_MS, user="out"),
    )
    assert [active(samples, w) for w in ("1d", "7d", "30d")] == [1, 2, 3]


def test_events_after_the_evaluation_time_are_not_applied():
    samples = snapshot_of(login(T + 1, user="future"), feature(T - 5 * DAY_MS, user="past"))
    assert active(samples, "1d") == 0
    assert active(samples, "30d") == 1
    assert value(samples, "pulse_logins", window="7d") == 0


def test_logout_is_not_activity_and_users_are_per_account():
    samples = snapshot_of(
        logout(T - MINUTE_MS, user="gone"),
        login(T - MINUTE_MS, user="u", account="a1"),
        login(T - MINUTE_MS, user="u", account="a2"),
    )
    assert active(samples, "1d") == 2


def test_stickiness_is_daily_over_monthly_and_zero_without_users():
    samples = snapshot_of(
        login(T - 1, user="x"), login(T - 10 * DAY_MS, user="y"), login(T - 20 * DAY_MS, user="z")
    )
    assert value(samples, "pulse_stickiness_ratio") == 1 / 3
    assert value(snapshot_of(), "pulse_stickiness_ratio") == 0


def test_login_count_counts_every_login_event_in_the_window():
    samples = snapshot_of(
        login(T, user="a"),
        login(T - 1, user="a"),
        login(T - DAY_MS, user="a"),
        login(T - 7 * DAY_MS + 1, user="b"),
        feature(T - 2, user="a"),
        login(T - 7 * DAY_MS, user="c"),
    )
    assert value(samples, "pulse_logins", window="1d") == 2
    assert value(samples, "pulse_logins", window="7d") == 4


def test_evaluation_in_the_past_ignores_later_events():
    engine = Engine()
    for day in range(10):
        engine.apply(login(T0 + day * DAY_MS, user=f"u{day}"))
    past = engine.snapshot(T0 + 4 * DAY_MS)
    assert active(past, "1d") == 1
    assert active(past, "30d") == 5
    assert value(past, "pulse_logins", window="7d") == 5


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.integers(min_value=0, max_value=10 * DAY_MS), min_size=1, max_size=40),
    width=st.sampled_from([DAY_MS, 3 * DAY_MS, 7 * DAY_MS]),
    probes=st.lists(st.integers(min_value=-DAY_MS, max_value=12 * DAY_MS), min_size=1, max_size=20),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_presence_set_answers_like_the_full_list_in_any_order(times, width, probes, seed):
    shuffled = list(times)
    random.Random(seed).shuffle(shuffled)
    presence = new_times()
    for time in shuffled:
        add_presence(presence, time, DAY_MS)
    assert list(presence) == sorted(set(presence))
    for probe in probes:
        expected = any(probe - width < time <= probe for time in times)
        assert any_in(presence, probe - width, probe) is expected


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.integers(0, 40).map(lambda hours: hours * HOUR_MS), max_size=30),
    before=st.lists(st.integers(-(2**62), 2**62), max_size=3),
    after=st.lists(st.integers(-(2**62), 2**62), max_size=3),
)
def test_a_section_gets_what_a_whole_array_would_and_its_neighbours_stay(times, before, after):
    """add_presence, insert_sorted and drop_through on the section [start, end) of a larger
    array do to it what they do to an array of its own, and leave the rest as it was."""
    whole, alone, sorted_alone = array("q", before + after), new_times(), new_times()
    start, end, sorted_end = len(before), len(before), len(before)
    sorted_section = array("q", before + after)  # insert_sorted's own array
    for time in times:
        end = add_presence(whole, time, DAY_MS, start, end)
        add_presence(alone, time, DAY_MS)
        insert_sorted(sorted_section, time, start, sorted_end)
        sorted_end += 1
        insert_sorted(sorted_alone, time)
    assert whole[start:end] == alone and sorted_section[start:sorted_end] == sorted_alone
    assert whole[:start] == sorted_section[:start] == array("q", before)
    assert whole[end:] == sorted_section[sorted_end:] == array("q", after)
    cutoff = 20 * HOUR_MS
    assert drop_through(whole, cutoff, start, end) == len(alone) - len(
        alone[bisect_right(alone, cutoff) :]
    )
    drop_through(alone, cutoff)
    assert whole == array("q", before) + alone + array("q", after)


def test_presence_set_stays_small_for_in_order_input():
    presence = new_times()
    for minute in range(0, 30 * 24 * 60, 7):  # every 7 minutes for 30 days
        add_presence(presence, minute * MINUTE_MS, DAY_MS)
    assert len(presence) <= 2 * 30 + 2


# --- who is active, calendar days: the [engine] knobs ----------------------------------


def test_activity_knobs_parse_and_default_to_every_login_and_feature():
    from streams.engine.engine_config import EngineConfig

    default = EngineConfig()
    assert default.activity_types == ("login", "feature_used") and default.core_features == ()
    assert default.time_zone == "UTC"
    config = EngineConfig.from_mapping(
        {
            "activity_types": ["feature_used"],
            "core_features": ["export"],
            "time_zone": "Asia/Kathmandu",
        }
    )
    assert config.counts_as_activity("feature_used", "export")
    assert not config.counts_as_activity("feature_used", "search")
    assert not config.counts_as_activity("login", None)


@pytest.mark.parametrize(
    ("table", "fix"),
    [
        ({"activity_types": []}, 'activity_types must be a non-empty list drawn from "login"'),
        (
            {"activity_types": ["logout"]},
            'activity_types must be a non-empty list drawn from "login"',
        ),
        ({"activity_types": "login"}, "activity_types must be a list of names"),
        ({"core_features": ["export", "export"]}, "core_features must be distinct feature names"),
        ({"core_features": [""]}, "core_features must be a list of names"),
        ({"time_zone": "Mars/Olympus"}, 'time_zone "Mars/Olympus" is not a known IANA time zone'),
        ({"time_zone": "../etc/passwd"}, "is not a known IANA time zone"),
        ({"time_zone": 2}, "time_zone must be an IANA time zone name"),
    ],
)
def test_bad_activity_knobs_name_the_fix_in_one_sentence(table, fix):
    from streams.errors import ConfigError
    from streams.pulse_config import PulseConfig

    with pytest.raises(ConfigError, match=re.escape(fix)) as raised:
        PulseConfig.from_mapping({"engine": table})
    message = str(raised.value)
    assert message.startswith("[engine] ") and message.endswith(".") and "\n" not in message


def test_replay_with_an_unknown_time_zone_says_so_without_a_traceback(tmp_path):
    from click.testing import CliRunner

    from streams.cli import main

    config = tmp_path / "pulse.toml"
    config.write_text('[engine]\ntime_zone = "Europe/Atlantis"\n')
    events = tmp_path / "events.jsonl"
    events.write_text("")
    result = CliRunner().invoke(main, ["replay", str(events), "--config", str(config)])
    assert result.exit_code != 0
    assert 'time_zone "Europe/Atlantis" is not a known IANA time zone' in result.output
    assert "Traceback" not in result.output


def test_a_core_feature_list_changes_who_is_active_but_not_feature_users():
    from streams.engine.engine_config import EngineConfig

    config = EngineConfig(core_features=("export",))
    engine = Engine(config)
    for event in (
        feature(T - 1, user="searcher", name="search"),
        feature(T - 1, user="exporter", name="export"),
        login(T - 2, user="idle"),
    ):
        engine.apply(event)
    samples = engine.snapshot(T)
    assert active(samples, "1d") == 2  # exporter, idle (a login is activity by default)
    assert value(samples, "pulse_login_only_users", window="30d") == 1  # idle
    assert value(samples, "pulse_feature_users", feature="search", window="30d") == 1


def test_state_written_before_login_presence_existed_still_answers_logged_in_but_idle():

    engine = Engine()
    engine.apply(login(T - DAY_MS, user="old"))
    state = engine.store["a1"]
    data = orjson.loads(account_to_bytes(state))
    for user in data["u"].values():
        del user[5]  # the row as written before `login_seen`
    restored = Engine(store={"a1": account_from_bytes(orjson.dumps(data))})
    assert value(restored.snapshot(T), "pulse_login_only_users", window="30d") == 1
