"""Satisfaction: CSAT, NPS and CES over 90 days, plus the additive counts behind them.

Definitions (window (T - 90d, T]; scores as validated by the event contract):
- `pulse_survey_responses{survey="nps"|"csat"|"ces", window="90d"}`: survey_response
  events of that survey in the window (additive).
- CSAT: ratings of 4 or 5 / all ratings, where the ratings are `ticket_rated` events and
  `csat` survey responses (both on a 1..5 scale) in the window; 0 without ratings.
  `pulse_csat_ratio{window="90d"}` (0..1) from the additive `pulse_csat_ratings` and
  `pulse_csat_satisfied_ratings`.
- NPS: 100 x (promoters - detractors) / responses, with promoters scoring 9-10,
  detractors 0-6 and passives (7-8) counted in the responses; 0 without responses.
  `pulse_nps_score{window="90d"}` (-100..100) from the additive `pulse_nps_promoters`,
  `pulse_nps_detractors` and `pulse_survey_responses{survey="nps"}`. (The seed document
  writes "% detractors - % promoters": reversed; it contradicts its own -100..100 range.)
- CES: mean score of `ces` responses in the window, on the 1..7 scale where 7 = very easy
  (Gartner's CES 2.0 agreement scale); 0 without responses. A response on the reversed
  scale (its `scale` = "higher_is_harder", or no `scale` and `[engine] ces_scale =
  "higher_is_harder"`) counts as 8 - score, so producers on either scale never mix.
  `pulse_ces_score{window="90d"}` from the additive `pulse_ces_score_sum_points` and
  `pulse_survey_responses{survey="ces"}`.

State per account: one sorted array of responses, each the tagged time (engine.timeline)
`tagged(time, source * 256 + score, scale=1024)` (`encode`, `response_time`,
`source_and_score`), since the survey late horizon minus 90 days.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

from streams.engine.engine_config import EngineConfig
from streams.engine.samples import Sample, ratio_sample
from streams.engine.timeline import (
    DAY_MS,
    drop_through,
    insert_sorted,
    last_tagged,
    tag_of,
    tagged,
    tagged_time,
    window_change,
)

WINDOW_NAME = "90d"
WINDOW_MS = 90 * DAY_MS
SURVEYS: tuple[str, ...] = ("nps", "csat", "ces")
TICKET_RATING = len(SURVEYS)  # the source code of ticket_rated events
SOURCE_OF_SURVEY = {name: code for code, name in enumerate(SURVEYS)}
NPS, CSAT, CES = (SOURCE_OF_SURVEY[name] for name in ("nps", "csat", "ces"))
_SCALE = 1024  # a response is tagged(time, source * _SOURCE + score, _SCALE)
_SOURCE = 256  # scores are 0..255
HELP: dict[str, str] = {
    "pulse_survey_responses": "Survey responses of the survey kind in the window (T - W, T].",
    "pulse_csat_ratings": "CSAT ratings (ticket_rated events and csat survey responses, 1-5) in the window.",
    "pulse_csat_satisfied_ratings": "CSAT ratings of 4 or 5 in the window.",
    "pulse_csat_ratio": "CSAT: ratings of 4-5 divided by all ratings in the window (0 without ratings).",
    "pulse_nps_promoters": "NPS responses scoring 9-10 in the window.",
    "pulse_nps_detractors": "NPS responses scoring 0-6 in the window.",
    "pulse_nps_score": "NPS: 100 x (promoters - detractors) / NPS responses in the window, -100..100 (0 without responses).",
    "pulse_ces_score_sum_points": "Sum of the CES scores (7 = very easy) of the CES responses in the window.",
    "pulse_ces_score": (
        "CES: mean score of the CES responses in the window, 1..7 with 7 = very easy (0 without responses)."
    ),
}


CES_REVERSED = "higher_is_harder"
CES_TOP = 7


def ces_points(score: int, stated_scale: str | None, config: EngineConfig) -> int:
    """A CES score on the exported scale (7 = very easy), from a response on its stated
    scale, or on the configured one when it states none."""
    scale = stated_scale if stated_scale is not None else config.ces_scale
    return CES_TOP + 1 - score if scale == CES_REVERSED else score


def encode(time: int, source: int, score: int) -> int | None:
    """The stored entry, or None for a source or score outside the contract."""
    if not 0 <= source <= TICKET_RATING or not 0 <= score < _SOURCE:
        return None
    return tagged(time, source * _SOURCE + score, _SCALE)


def response_time(response: int) -> int:
    """The time of a stored response."""
    return tagged_time(response, _SCALE)


def source_and_score(response: int) -> tuple[int, int]:
    """The source (NPS, CSAT, CES or TICKET_RATING) and the score of a stored response."""
    return divmod(tag_of(response, _SCALE), _SOURCE)


def last_response_at(time: int) -> int:
    """The largest stored response at `time` (bisect_right counts those at or before it)."""
    return last_tagged(time, _SCALE)


def record(responses: array[int], time: int, source: int, score: int) -> None:
    entry = encode(time, source, score)
    if entry is not None:
        insert_sorted(responses, entry)


def prune(responses: array[int], stream_time: int, config: EngineConfig) -> None:
    cutoff = stream_time - config.survey_lag_ms - WINDOW_MS
    drop_through(responses, last_response_at(cutoff))


@dataclass(slots=True)
class SurveyTotals:
    responses: list[int] = field(default_factory=lambda: [0] * len(SURVEYS))
    csat_ratings: int = 0
    csat_satisfied: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0
    ces_score_sum: int = 0


def tally(responses: array[int], as_of: int, totals: SurveyTotals) -> None:
    end = bisect_right(responses, last_response_at(as_of))
    start = bisect_right(responses, last_response_at(as_of - WINDOW_MS))
    for index in range(start, end):
        source, score = source_and_score(responses[index])
        if source in (TICKET_RATING, CSAT):
            totals.csat_ratings += 1
            if score >= 4:
                totals.csat_satisfied += 1
        if source == TICKET_RATING:
            continue
        totals.responses[source] += 1
        if source == NPS:
            if score >= 9:
                totals.nps_promoters += 1
            elif score <= 6:
                totals.nps_detractors += 1
        elif source == CES:
            totals.ces_score_sum += score


def next_change(responses: array[int], as_of: int) -> int:
    """The earliest time after T at which `tally` can count other responses without a new
    event (timeline.NEVER: never)."""
    return window_change(responses, as_of, WINDOW_MS, _SCALE)


def samples(totals: SurveyTotals) -> list[Sample]:
    window = (("window", WINDOW_NAME),)
    nps_responses = totals.responses[NPS]
    ces_responses = totals.responses[CES]
    out = [
        Sample("pulse_survey_responses", (("survey", name), ("window", WINDOW_NAME)), count)
        for name, count in zip(SURVEYS, totals.responses, strict=True)
    ]
    out += [
        Sample("pulse_csat_ratings", window, totals.csat_ratings),
        Sample("pulse_csat_satisfied_ratings", window, totals.csat_satisfied),
        ratio_sample("pulse_csat_ratio", window, totals.csat_satisfied, totals.csat_ratings),
        Sample("pulse_nps_promoters", window, totals.nps_promoters),
        Sample("pulse_nps_detractors", window, totals.nps_detractors),
        ratio_sample(
            "pulse_nps_score",
            window,
            totals.nps_promoters - totals.nps_detractors,
            nps_responses,
            scale=100,
        ),
        Sample("pulse_ces_score_sum_points", window, totals.ces_score_sum),
        ratio_sample("pulse_ces_score", window, totals.ces_score_sum, ces_responses),
    ]
    return out
