-- Activity. Windows are (T - W, T]. "Active" = an event of activity_events.sql.
--   pulse_active_users{window}: distinct (account_id, user_id) with >= 1 activity event
--                               in the window (1d, 7d, 30d)
--   pulse_stickiness_ratio:     1d active users / 30d active users (0 when 30d is 0)
--   pulse_logins{window}:       login events in the window (1d, 7d)
--   Averaged stickiness, by calendar day in params.time_zone: the 30 local dates before
--   the local date of T (T's own date excluded); a user is active on a date with an
--   activity event whose local date it is.
--   pulse_daily_active_users_sum_users{window="30d"}: distinct (user, date) pairs
--   pulse_calendar_active_users{window="30d"}:        distinct users among them
--   pulse_average_stickiness_ratio{window="30d"}:     pairs / (30 x users), 0 when no users
--   pulse_login_only_users{window="30d"}: users with a login in (T - 30d, T] and no
--       feature_used of a core feature in it
WITH windows(win, width_ms) AS (
    VALUES ('1d', 86400000::BIGINT), ('7d', 604800000::BIGINT), ('30d', 2592000000::BIGINT)
),
active AS (
    SELECT w.win,
           (SELECT count(*) FROM (
                SELECT DISTINCT account_id, user_id
                FROM activity_events, clock
                WHERE occurred_at > clock.t - w.width_ms
           )) AS users
    FROM windows w
),
logins AS (
    SELECT w.win,
           (SELECT count(*) FROM applied, clock
            WHERE type = 'login' AND occurred_at > clock.t - w.width_ms) AS n
    FROM windows w
    WHERE w.win IN ('1d', '7d')
),
-- local date of an epoch-ms instant, exact to the millisecond
today AS (
    SELECT timezone(p.time_zone, to_timestamp(c.t // 1000) + to_milliseconds(c.t % 1000))::DATE AS d
    FROM clock c, params p
),
user_dates AS (
    SELECT DISTINCT e.account_id, e.user_id,
           timezone(p.time_zone, to_timestamp(e.occurred_at // 1000) + to_milliseconds(e.occurred_at % 1000))::DATE
               AS d
    FROM activity_events e, params p
),
in_days AS (
    SELECT u.* FROM user_dates u, today
    WHERE u.d >= today.d - 30 AND u.d < today.d
),
calendar AS (
    SELECT (SELECT count(*) FROM in_days) AS user_days,
           (SELECT count(*) FROM (SELECT DISTINCT account_id, user_id FROM in_days)) AS users
),
idle AS (
    SELECT count(*) AS users FROM (
        SELECT DISTINCT account_id, user_id
        FROM applied, clock
        WHERE type = 'login' AND occurred_at > clock.t - 2592000000
        EXCEPT
        SELECT DISTINCT account_id, user_id
        FROM applied, clock, params p
        WHERE type = 'feature_used' AND occurred_at > clock.t - 2592000000
          AND (len(p.core_features) = 0 OR list_contains(p.core_features, feature))
    )
)
SELECT 'pulse_active_users' AS name, MAP {'window': win} AS labels,
       users::HUGEINT AS numerator, 1::HUGEINT AS denominator, 'count' AS unit
FROM active
UNION ALL
SELECT 'pulse_stickiness_ratio', MAP {}::MAP(VARCHAR, VARCHAR),
       (SELECT users FROM active WHERE win = '1d'),
       (SELECT users FROM active WHERE win = '30d'), 'ratio'
UNION ALL
SELECT 'pulse_logins', MAP {'window': win}, n, 1, 'count'
FROM logins
UNION ALL
SELECT 'pulse_daily_active_users_sum_users', MAP {'window': '30d'}, user_days, 1, 'count' FROM calendar
UNION ALL
SELECT 'pulse_calendar_active_users', MAP {'window': '30d'}, users, 1, 'count' FROM calendar
UNION ALL
SELECT 'pulse_average_stickiness_ratio', MAP {'window': '30d'}, user_days, 30 * users, 'ratio' FROM calendar
UNION ALL
SELECT 'pulse_login_only_users', MAP {'window': '30d'}, users, 1, 'count' FROM idle;
