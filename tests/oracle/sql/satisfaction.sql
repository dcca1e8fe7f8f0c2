-- Satisfaction over (T - 90d, T].
--   pulse_survey_responses{survey, window="90d"}: survey_response events by survey
--   pulse_csat_ratio:  ratings 4-5 / all ratings; ratings = ticket_rated.rating and
--                      csat survey scores
--   pulse_nps_score:   100 x (promoters 9-10 - detractors 0-6) / nps responses
--   pulse_ces_score:   mean ces score on the scale 7 = very easy: a response whose scale is
--                      'higher_is_harder' counts 8 - score (the oracle assumes the default
--                      [engine] ces_scale = "higher_is_easier" for responses without one)
-- and their additive parts: pulse_csat_ratings, pulse_csat_satisfied_ratings,
-- pulse_nps_promoters, pulse_nps_detractors, pulse_ces_score_sum_points.
-- Each is 0 when its denominator is empty.
WITH in_window AS (
    SELECT a.*
    FROM applied a, clock
    WHERE a.occurred_at > clock.t - 7776000000
),
surveys(survey) AS (VALUES ('nps'), ('csat'), ('ces')),
ratings AS (
    SELECT rating AS value FROM in_window WHERE type = 'ticket_rated'
    UNION ALL
    SELECT score FROM in_window WHERE type = 'survey_response' AND survey = 'csat'
),
nps AS (
    SELECT count(*) FILTER (WHERE score >= 9) AS promoters,
           count(*) FILTER (WHERE score <= 6) AS detractors,
           count(*) AS responses
    FROM in_window WHERE type = 'survey_response' AND survey = 'nps'
),
ces AS (
    SELECT COALESCE(sum(CASE WHEN survey_scale = 'higher_is_harder' THEN 8 - score ELSE score END), 0)
               AS score_sum,
           count(*) AS responses
    FROM in_window WHERE type = 'survey_response' AND survey = 'ces'
)
SELECT 'pulse_survey_responses' AS name, MAP {'survey': s.survey, 'window': '90d'} AS labels,
       (SELECT count(*) FROM in_window i
        WHERE i.type = 'survey_response' AND i.survey = s.survey)::HUGEINT AS numerator,
       1::HUGEINT AS denominator, 'count' AS unit
FROM surveys s
UNION ALL
SELECT 'pulse_csat_ratings', MAP {'window': '90d'}, (SELECT count(*) FROM ratings), 1, 'count'
UNION ALL
SELECT 'pulse_csat_satisfied_ratings', MAP {'window': '90d'},
       (SELECT count(*) FROM ratings WHERE value >= 4), 1, 'count'
UNION ALL
SELECT 'pulse_nps_promoters', MAP {'window': '90d'}, promoters, 1, 'count' FROM nps
UNION ALL
SELECT 'pulse_nps_detractors', MAP {'window': '90d'}, detractors, 1, 'count' FROM nps
UNION ALL
SELECT 'pulse_ces_score_sum_points', MAP {'window': '90d'}, score_sum, 1, 'count' FROM ces
UNION ALL
SELECT 'pulse_csat_ratio', MAP {'window': '90d'},
       (SELECT count(*) FROM ratings WHERE value >= 4), (SELECT count(*) FROM ratings), 'ratio'
UNION ALL
SELECT 'pulse_nps_score', MAP {'window': '90d'}, 100 * (promoters - detractors), responses, 'ratio'
FROM nps
UNION ALL
SELECT 'pulse_ces_score', MAP {'window': '90d'}, score_sum, responses, 'ratio'
FROM ces;
