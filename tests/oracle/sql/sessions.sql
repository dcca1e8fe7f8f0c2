-- Sessions (docs/metrics.md). A user's (account_id, user_id) login, feature_used and
-- logout events, in event-time order, are cut into runs wherever two consecutive events
-- are more than 30 minutes apart. Within a run, an event with a session_id belongs to that
-- session; an event without one belongs to the latest tagged login of the run that no
-- logout has ended yet, else to the run's untagged session (key ''). A logout ends the
-- session it belongs to (a tagged logout: its own id; an untagged one: the session it
-- belongs to); the next event of that key in the run starts a new session.
-- Equal times: tagged login, other untagged events, untagged logout, tagged logout
-- (then session_id, then event_id).
-- Duration = last event - first event. A session is closed at T if it ended with a logout
-- or its last event is more than 30 minutes before T; it ended at its last event.
--   pulse_sessions{window="7d"}:             closed sessions that ended in (T - 7d, T]
--   pulse_session_duration_sum_seconds{window="7d"}: their total duration, seconds
--   pulse_sessions_zero_length{window="7d"}: those of them that last 0 ms
WITH RECURSIVE session_events AS (
    SELECT account_id, user_id, occurred_at, type, event_id, session_id,
           CASE WHEN type = 'login' AND session_id IS NOT NULL THEN 0
                WHEN type <> 'logout' THEN 1
                WHEN session_id IS NULL THEN 2
                ELSE 3 END AS step_rank
    FROM applied
    WHERE type IN ('login', 'feature_used', 'logout')
),
ordered AS (
    SELECT *,
           lag(occurred_at) OVER by_user AS previous_at
    FROM session_events
    WINDOW by_user AS (PARTITION BY account_id, user_id
                       ORDER BY occurred_at, step_rank, COALESCE(session_id, ''), event_id)
),
runs AS (
    SELECT *,
           sum(CASE WHEN previous_at IS NULL OR occurred_at - previous_at > 1800000 THEN 1 ELSE 0 END)
               OVER (PARTITION BY account_id, user_id
                     ORDER BY occurred_at, step_rank, COALESCE(session_id, ''), event_id
                     ROWS UNBOUNDED PRECEDING) AS run_no
    FROM ordered
),
steps AS (
    SELECT *,
           row_number() OVER (PARTITION BY account_id, user_id, run_no
                              ORDER BY occurred_at, step_rank, COALESCE(session_id, ''), event_id) AS step,
           bool_or(session_id IS NOT NULL) OVER (PARTITION BY account_id, user_id, run_no) AS run_is_tagged
    FROM runs
),
-- Walk each run that has tagged events in order, keeping the list of open tagged
-- sessions (latest login last): the key of an untagged event is the list's last element.
walk AS (
    SELECT account_id, user_id, run_no, step, event_id,
           COALESCE(session_id, '') AS session_key,
           CASE WHEN step_rank = 0 THEN [session_id] ELSE []::VARCHAR[] END AS open_after
    FROM steps
    WHERE run_is_tagged AND step = 1
    UNION ALL
    SELECT s.account_id, s.user_id, s.run_no, s.step, s.event_id,
           CASE WHEN s.session_id IS NOT NULL THEN s.session_id
                WHEN len(w.open_after) > 0 THEN w.open_after[-1]
                ELSE '' END,
           CASE s.step_rank
                WHEN 0 THEN list_append(list_filter(w.open_after, lambda x: x <> s.session_id), s.session_id)
                WHEN 3 THEN list_filter(w.open_after, lambda x: x <> s.session_id)
                WHEN 2 THEN list_slice(w.open_after, 1, len(w.open_after) - 1)
                ELSE w.open_after END
    FROM walk w
    JOIN steps s ON s.account_id = w.account_id AND s.user_id = w.user_id
                AND s.run_no = w.run_no AND s.step = w.step + 1
),
keyed AS (
    SELECT s.*, COALESCE(w.session_key, '') AS session_key
    FROM steps s
    LEFT JOIN walk w ON w.account_id = s.account_id AND w.user_id = s.user_id
                    AND w.run_no = s.run_no AND w.step = s.step
),
numbered AS (
    SELECT *,
           COALESCE(sum(CASE WHEN type = 'logout' THEN 1 ELSE 0 END)
               OVER (PARTITION BY account_id, user_id, run_no, session_key ORDER BY step
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS session_no
    FROM keyed
),
sessions AS (
    SELECT account_id, user_id, run_no, session_key, session_no,
           min(occurred_at) AS first_at,
           max(occurred_at) AS last_at,
           bool_or(type = 'logout') AS ended_by_logout
    FROM numbered
    GROUP BY account_id, user_id, run_no, session_key, session_no
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
FROM closed_in_window
UNION ALL
SELECT 'pulse_sessions_zero_length', MAP {'window': '7d'},
       count(*) FILTER (WHERE last_at = first_at)::HUGEINT, 1, 'count'
FROM closed_in_window;
