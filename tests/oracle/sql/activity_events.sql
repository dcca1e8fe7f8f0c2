-- Who is active: the applied events that make their user active, under
-- params.activity_types (event types) and params.core_features (features; an empty list
-- means every feature). A login is activity when 'login' is listed; a feature_used when
-- 'feature_used' is listed and its feature is a core feature. A logout never is.
-- Output: activity_events(the columns of applied).
CREATE OR REPLACE TABLE activity_events AS
SELECT a.*
FROM applied a, params p
WHERE a.type IN ('login', 'feature_used')
  AND list_contains(p.activity_types, a.type)
  AND (a.type = 'login' OR len(p.core_features) = 0 OR list_contains(p.core_features, a.feature));
