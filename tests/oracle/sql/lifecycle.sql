-- Lifecycle counts over (T - 30d, T]: signup, onboarding_step_completed and
-- onboarding_completed events in the window.
WITH kinds(name, type) AS (
    VALUES ('pulse_signups', 'signup'),
           ('pulse_onboarding_steps_completed', 'onboarding_step_completed'),
           ('pulse_onboarding_completed', 'onboarding_completed')
)
SELECT k.name, MAP {'window': '30d'} AS labels,
       (SELECT count(*) FROM applied a, clock
        WHERE a.type = k.type AND a.occurred_at > clock.t - 2592000000)::HUGEINT AS numerator,
       1::HUGEINT AS denominator, 'count' AS unit
FROM kinds k;
