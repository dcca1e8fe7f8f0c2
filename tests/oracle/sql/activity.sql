-- Activity. Windows are (T - W, T].
--   pulse_active_users{window}: distinct (account_id, user_id) with >= 1 login or
--                               feature_used in the window (1d, 7d, 30d)
--   pulse_stickiness_ratio:     1d active users / 30d active users (0 when 30d is 0)
--   pulse_logins{window}:       login events in the window (1d, 7d)
WITH windows(win, width_ms) AS (
    VALUES ('1d', 86400000::BIGINT), ('7d', 604800000::BIGINT), ('30d', 2592000000::BIGINT)
),
active AS (
    SELECT w.win,
           (SELECT count(*) FROM (
                SELECT DISTINCT account_id, user_id
                FROM applied, clock
                WHERE type IN ('login', 'feature_used') AND occurred_at > clock.t - w.width_ms
           )) AS users
    FROM windows w
),
logins AS (
    SELECT w.win,
           (SELECT count(*) FROM applied, clock
            WHERE type = 'login' AND occurred_at > clock.t - w.width_ms) AS n
    FROM windows w
    WHERE w.win IN ('1d', '7d')
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
FROM logins;
