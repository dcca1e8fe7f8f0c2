-- Admission: which typed events the pipeline accepts, in line (arrival) order.
--
--   after_as_of       occurred_at > as_of (only when an as-of is given): not judged at all,
--                     since a log holds the future of every instant before its end; such
--                     a line is neither a reject nor applied and moves no stream time
--   duplicate         same (account_id, topic, event_id) as an earlier ACCEPTED line
--   too_late          activity types more than 35 days, survey_response more than 95 days
--                     behind the account's stream time on the topic; billing and ticket
--                     types never
--   accepted          everything else
-- Checks run in that order. Stream time of an account on a topic before a line = the
-- latest occurred_at accepted so far for that account among the types of that topic
-- (docs/events.md, "Stream time"); the topic follows from the type.
--
-- Why a running max over every earlier line not after the as-of equals the running max over the
-- ACCEPTED lines (so no recursion is needed): an earlier too_late line is by definition
-- behind the stream time, and an earlier duplicate carries the occurred_at of the accepted
-- line it copies (assumption: duplicates are exact copies). Neither can raise the max.
--
-- A remembered event id is forgotten once the stream time is more than the type's late
-- horizon past its occurred_at; a copy arriving after that is therefore too_late, not a
-- duplicate. Billing and ticket ids are remembered for 400 days; the generated data span
-- less than that, so they are treated as never forgotten.
--
-- Input: events, params(as_of_ms, future_tolerance_ms, activity_horizon_ms, survey_horizon_ms).
-- Output: admission(line_no, verdict, ...events columns), clock(t), applied(events at <= t).
CREATE OR REPLACE TABLE admission AS
WITH timed AS (
    SELECT e.*,
           (p.as_of_ms IS NOT NULL AND e.occurred_at > p.as_of_ms) AS is_after,
           CASE
               WHEN e.type IN ('login', 'logout', 'feature_used', 'signup',
                               'onboarding_step_completed', 'onboarding_completed')
                   THEN p.activity_horizon_ms
               WHEN e.type = 'survey_response' THEN p.survey_horizon_ms
           END AS late_horizon_ms,
           CASE
               WHEN e.type IN ('login', 'logout') THEN 'logins'
               WHEN e.type = 'feature_used' THEN 'feature-use'
               WHEN e.type LIKE 'ticket_%' THEN 'tickets'
               WHEN e.type LIKE 'subscription_%' OR e.type LIKE 'payment_%' THEN 'billing'
               WHEN e.type = 'survey_response' THEN 'surveys'
               ELSE 'lifecycle'
           END AS topic
    FROM events e, params p
),
streamed AS (
    SELECT *,
           max(occurred_at) FILTER (WHERE NOT is_after) OVER (
               PARTITION BY account_id, topic ORDER BY line_no
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS stream_time_before
    FROM timed
),
judged AS (
    SELECT *,
           COALESCE(late_horizon_ms IS NOT NULL
                    AND stream_time_before - occurred_at > late_horizon_ms, false) AS is_late
    FROM streamed
),
first_accepted AS (
    SELECT *,
           min(line_no) FILTER (WHERE NOT is_after AND NOT is_late) OVER (
               PARTITION BY account_id, topic, event_id
           ) AS accepted_line
    FROM judged
)
SELECT *,
       CASE
           WHEN is_after THEN 'after_as_of'
           WHEN line_no > accepted_line AND NOT is_late THEN 'duplicate'
           WHEN line_no = accepted_line THEN 'accepted'
           ELSE 'too_late'
       END AS verdict
FROM first_accepted;

-- The evaluation time T: the as-of when given, else the latest accepted occurred_at.
CREATE OR REPLACE TABLE clock AS
SELECT COALESCE(
           (SELECT as_of_ms FROM params),
           (SELECT max(occurred_at) FROM admission WHERE verdict = 'accepted'),
           0
       ) AS t;

-- What the metrics see: accepted events with occurred_at <= T ("events after the as-of
-- time are not applied").
CREATE OR REPLACE TABLE applied AS
SELECT a.* EXCLUDE (is_after, late_horizon_ms, topic, stream_time_before, is_late, accepted_line, verdict)
FROM admission a, clock c
WHERE a.verdict = 'accepted' AND a.occurred_at <= c.t;
