"""The packed integers of the engine's state, through their named helpers: tagged times
(engine.timeline: ticket state changes, lifecycle milestones, survey responses, session
trail entries) and the survey response fields."""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right

from hypothesis import given
from hypothesis import strategies as st

from streams.engine import sessions, surveys
from streams.engine.timeline import TAGS, last_tagged, tag_of, tagged, tagged_time, window_change

times = st.integers(min_value=-(1 << 50), max_value=1 << 50)
scales = st.sampled_from([TAGS, 2, 1024])


@given(times, st.data(), scales)
def test_a_tagged_time_keeps_its_time_and_tag(time: int, data: st.DataObject, scale: int) -> None:
    tag = data.draw(st.integers(min_value=0, max_value=scale - 1))
    value = tagged(time, tag, scale)
    assert (tagged_time(value, scale), tag_of(value, scale)) == (time, tag)
    assert tagged(time, 0, scale) <= value <= last_tagged(time, scale) < tagged(time + 1, 0, scale)


def test_last_tagged_counts_the_values_at_or_before_a_time() -> None:
    values = array("q", sorted(tagged(t, tag) for t in (-5, 0, 7) for tag in (0, TAGS - 1)))
    assert bisect_right(values, last_tagged(-1)) == 2
    assert bisect_right(values, last_tagged(0)) == 4
    assert bisect_right(values, last_tagged(7)) == 6


@given(st.lists(st.tuples(times, st.integers(min_value=0, max_value=TAGS - 1))), times)
def test_window_change_reads_the_time_of_tagged_values(
    entries: list[tuple[int, int]], as_of: int
) -> None:
    """window_change inlines the helpers: it agrees with them."""
    values = array("q", sorted(tagged(time, tag) for time, tag in entries))
    in_window = [t for t, _ in entries if as_of - 30 < t <= as_of]
    later = [t for t, _ in entries if t > as_of]
    expected = min([*later, *(t + 30 for t in in_window)], default=None)
    change = window_change(values, as_of, 30, TAGS)
    assert change == expected or (expected is None and change > 1 << 60)


@given(
    times,
    st.sampled_from([surveys.NPS, surveys.CSAT, surveys.CES, surveys.TICKET_RATING]),
    st.integers(min_value=0, max_value=255),
)
def test_a_response_keeps_its_time_source_and_score(time: int, source: int, score: int) -> None:
    response = surveys.encode(time, source, score)
    assert response is not None
    assert surveys.response_time(response) == time
    assert surveys.source_and_score(response) == (source, score)
    assert bisect_right([response], surveys.last_response_at(time)) == 1
    assert bisect_right([response], surveys.last_response_at(time - 1)) == 0


def test_a_response_outside_the_contract_is_not_stored() -> None:
    assert surveys.encode(0, surveys.TICKET_RATING + 1, 5) is None
    assert surveys.encode(0, surveys.NPS, 256) is None


def test_the_survey_sources_are_named_in_survey_order() -> None:
    assert [surveys.SURVEYS[code] for code in (surveys.NPS, surveys.CSAT, surveys.CES)] == [
        "nps",
        "csat",
        "ces",
    ]


@given(times, st.booleans())
def test_a_session_trail_entry_is_a_tagged_time_of_scale_2(time: int, is_logout: bool) -> None:
    entry = sessions._entry(time, is_logout)
    assert entry == tagged(time, int(is_logout), 2)
    assert sessions._time_of(entry) == tagged_time(entry, 2) == time
    assert sessions._is_logout(entry) == tag_of(entry, 2) == is_logout
    assert sessions._last_at(time) == last_tagged(time, 2)
    assert bisect_left([entry], sessions._first_at(time)) == 0
    assert bisect_left([entry], sessions._first_at(time + 1)) == 1
