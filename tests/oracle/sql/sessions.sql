-- Sessions. A user's (account_id, user_id) login, feature_used and logout events, in
-- event-time order, form one session while the gap between consecutive events is
-- <= 30 minutes; a logout ends its session (the next event starts a new one).
-- Duration = last event - first event. A session is closed at T if it ended with a logout
-- or its last event is more than 30 minutes before T; it ended at its last event.
-- Equal timestamps are ordered login, feature_used, logout, then event_id (see
-- docs/testing.md).
--   pulse_sessions{window="7d"}:             closed sessions that ended in (T - 7d, T]
--   pulse_session_duration_sum_seconds{window="7d"}: their total duration, seconds
WITH session_events AS (
    SELECT account_id, user_id, occurred_at, type, event_id,
           CASE type WHEN 'login' THEN 0 WHEN 'feature_used' THEN 1 ELSE 2 END AS type_rank
    FROM applied
    WHERE type IN ('login', 'feature_used', 'logout')
),
ordered AS (
    SELECT *,
           lag(occurred_at) OVER by_user AS previous_at,
           lag(type) OVER by_user AS previous_type
    FROM session_events
    WINDOW by_user AS (PARTITION BY account_id, user_id ORDER BY occurred_at, type_rank, event_id)
),
numbered AS (
    SELECT *,
           sum(CASE WHEN previous_at IS NULL
                         OR previous_type = 'logout'
                         OR occurred_at - previous_at > 1800000 THEN 1 ELSE 0 END)
               OVER (PARTITION BY account_id, user_id
                     ORDER BY occurred_at, type_rank, event_id
                     ROWS UNBOUNDED PRECEDING) AS session_no
    FROM ordered
),
sessions AS (
    SELECT account_id, user_id, session_no,
           min(occurred_at) AS first_at,
           max(occurred_at) AS last_at,
           bool_or(type = 'logout') AS ended_by_logout
    FROM numbered
    GROUP BY account_id, user_id, session_no
),
closed_in_window AS (
    SELECT s.*
    FROM sessions s, clock
    WHERE (s.ended_by_logout OR clock.t - s.last_at > 1800000)
      AND s.last_at > clock.t - 604800000
)
SELECT 'pulse_sessions' AS name, MAP {'window': '7d'} AS labels,
       count(*)::HUGEINT AS numerator, 1::HUGEINT AS denominator, 'count' AS unit
FROM closed_in_window
UNION ALL
SELECT 'pulse_session_duration_sum_seconds', MAP {'window': '7d'},
       COALESCE(sum(last_at - first_at), 0)::HUGEINT, 1000, 'ratio'
FROM closed_in_window;
