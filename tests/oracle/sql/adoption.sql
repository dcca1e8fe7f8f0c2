-- Feature adoption over (T - 30d, T].
--   pulse_feature_users{feature, window="30d"}: distinct (account_id, user_id) with a
--       feature_used of that feature in the window
--   pulse_feature_adoption_ratio{feature, window="30d"}: feature users / 30d active users
--       (active: activity_events.sql)
WITH users_by_feature AS (
    SELECT feature, count(*) AS users
    FROM (
        SELECT DISTINCT feature, account_id, user_id
        FROM applied, clock
        WHERE type = 'feature_used' AND occurred_at > clock.t - 2592000000
    )
    GROUP BY feature
),
active_30d AS (
    SELECT count(*) AS users
    FROM (
        SELECT DISTINCT account_id, user_id
        FROM activity_events, clock
        WHERE occurred_at > clock.t - 2592000000
    )
)
SELECT 'pulse_feature_users' AS name, MAP {'feature': feature, 'window': '30d'} AS labels,
       users::HUGEINT AS numerator, 1::HUGEINT AS denominator, 'count' AS unit
FROM users_by_feature
UNION ALL
SELECT 'pulse_feature_adoption_ratio', MAP {'feature': feature, 'window': '30d'},
       f.users, a.users, 'ratio'
FROM users_by_feature f, active_30d a;
