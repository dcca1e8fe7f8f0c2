"""Satisfaction: CSAT, NPS, CES (seed vectors and edges)."""

from __future__ import annotations

import msgspec
import pytest

from streams.engine.engine import Engine
from streams.engine.engine_config import EngineConfig
from streams.errors import ConfigError
from tests.engine_events import DAY_MS, T0, rated, survey, value

T = T0 + 100 * DAY_MS


def snapshot_of(*events, as_of: int = T, config: EngineConfig | None = None):
    engine = Engine(config)
    for event in events:
        engine.apply(event)
    return engine.snapshot(as_of)


def responses(kind: str, scores: list[int]) -> list:
    return [survey(T - index - 1, kind, score) for index, score in enumerate(scores)]


def test_nps_seed_vector_promoters_minus_detractors():
    # 5 promoters, 3 passives, 2 detractors -> 50 - 20 = 30 (the seed's reversed formula gives -30)
    samples = snapshot_of(*responses("nps", [10, 9, 9, 10, 9, 8, 7, 7, 3, 6]))
    assert value(samples, "pulse_nps_score", window="90d") == 30
    assert value(samples, "pulse_nps_promoters", window="90d") == 5
    assert value(samples, "pulse_nps_detractors", window="90d") == 2
    assert value(samples, "pulse_survey_responses", survey="nps", window="90d") == 10


def test_nps_second_seed_vector_and_the_range_ends():
    assert (
        value(
            snapshot_of(*responses("nps", [10, 9, 9, 8, 7, 6, 5, 10, 3, 9])),
            "pulse_nps_score",
            window="90d",
        )
        == 20
    )
    assert value(snapshot_of(*responses("nps", [0, 6, 3])), "pulse_nps_score", window="90d") == -100
    assert value(snapshot_of(*responses("nps", [9, 10])), "pulse_nps_score", window="90d") == 100
    assert value(snapshot_of(), "pulse_nps_score", window="90d") == 0


def test_csat_seed_vector_counts_four_and_five_as_satisfied():
    samples = snapshot_of(*responses("csat", [5, 4, 3, 2, 5, 1, 4, 4]))
    assert value(samples, "pulse_csat_ratio", window="90d") == 0.625
    assert value(samples, "pulse_csat_ratings", window="90d") == 8
    assert value(samples, "pulse_csat_satisfied_ratings", window="90d") == 5


def test_csat_includes_ticket_ratings_but_survey_responses_do_not():
    samples = snapshot_of(
        survey(T - 1, "csat", 5), rated(T - 2, 2), rated(T - 3, 4), rated(T - 4, 3)
    )
    assert value(samples, "pulse_csat_ratio", window="90d") == 0.5
    assert value(samples, "pulse_survey_responses", survey="csat", window="90d") == 1


def test_ces_seed_vector_is_the_mean():
    samples = snapshot_of(*responses("ces", [7, 6, 5, 4, 5]))
    assert value(samples, "pulse_ces_score", window="90d") == 5.4
    assert value(samples, "pulse_ces_score_sum_points", window="90d") == 27
    assert value(snapshot_of(), "pulse_ces_score", window="90d") == 0


def test_window_is_90_days_with_exclusive_start_and_inclusive_end():
    samples = snapshot_of(
        survey(T - 90 * DAY_MS, "nps", 0),
        survey(T - 90 * DAY_MS + 1, "nps", 10),
        survey(T, "nps", 10),
        survey(T + 1, "nps", 0),
    )
    assert value(samples, "pulse_survey_responses", survey="nps", window="90d") == 2
    assert value(samples, "pulse_nps_score", window="90d") == 100


def test_anonymous_responses_count():
    samples = snapshot_of(survey(T - 1, "ces", 3, user=None))
    assert value(samples, "pulse_ces_score", window="90d") == 3


def ces(t: int, score: int, scale: str | None):
    return msgspec.structs.replace(survey(t, "ces", score), scale=scale)


def test_ces_is_exported_with_7_as_very_easy_whatever_scale_each_response_states():
    # 7 on "higher is easier" and 1 on "higher is harder" are both "very easy"
    samples = snapshot_of(
        ces(T - 1, 7, "higher_is_easier"),
        ces(T - 2, 1, "higher_is_harder"),
        ces(T - 3, 6, None),
        ces(T - 4, 2, "higher_is_harder"),
    )
    assert value(samples, "pulse_ces_score_sum_points", window="90d") == 7 + 7 + 6 + 6
    assert value(samples, "pulse_ces_score", window="90d") == 6.5


def test_ces_scale_knob_sets_the_direction_of_responses_that_state_none():
    harder = EngineConfig(ces_scale="higher_is_harder")
    samples = snapshot_of(ces(T - 1, 2, None), ces(T - 2, 7, "higher_is_easier"), config=harder)
    assert value(samples, "pulse_ces_score_sum_points", window="90d") == 6 + 7
    # other surveys are never turned around
    assert (
        value(
            snapshot_of(survey(T - 1, "csat", 5), config=harder),
            "pulse_csat_satisfied_ratings",
            window="90d",
        )
        == 1
    )


def test_ces_scale_config_names_the_fix():
    assert (
        EngineConfig.from_mapping({"ces_scale": "higher_is_harder"}).ces_scale == "higher_is_harder"
    )
    with pytest.raises(ConfigError, match="ces_scale must be"):
        EngineConfig.from_mapping({"ces_scale": "7_is_easy"})
