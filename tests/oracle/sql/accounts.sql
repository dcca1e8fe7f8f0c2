-- Account records, written again from docs/accounts.md and docs/health.md (not from the
-- engine's code). One row per account with any applied event at or before T.
--
-- Inputs: applied (events with occurred_at <= T), clock(t), account_mrr and
-- subscription_mrr (revenue.sql, run at the same clock), subscription_terms, and the
-- configuration tables oracle.py fills: acct_plans(plan, feature), acct_steps(step),
-- acct_core(feature), acct_settings(...), profile_dimensions(profile, dimension, weight),
-- profile_measures(profile, position, measure, dimension, weight, good, average, zero_at,
-- full_at), profile_match(profile, position, kind, value); activity_events
-- (activity_events.sql over the same applied events: who is active by the oracle's
-- [engine] activity_types and core_features, as for the global activity metrics).
-- Days are 86,400,000 ms; "whole days" round down (towards minus infinity).
CREATE OR REPLACE MACRO whole_days(ms) AS floor(ms / 86400000.0)::BIGINT;

CREATE OR REPLACE TABLE acct_ids AS
SELECT DISTINCT account_id FROM applied;

-- latest account_updated at or before T (ties: larger event_id)
CREATE OR REPLACE TABLE acct_facts AS
SELECT account_id,
       arg_max(name, (occurred_at, event_id)) AS name,
       arg_max(segment, (occurred_at, event_id)) AS segment,
       arg_max(owner, (occurred_at, event_id)) AS owner,
       arg_max(renewal_at, (occurred_at, event_id)) AS renewal_at,
       arg_max(seats_purchased, (occurred_at, event_id)) AS seats_purchased
FROM applied WHERE type = 'account_updated'
GROUP BY account_id;

-- activity, per account
CREATE OR REPLACE TABLE acct_activity AS
SELECT i.account_id,
       count(DISTINCT a.user_id) FILTER (WHERE a.occurred_at > c.t - 86400000) AS au1,
       count(DISTINCT a.user_id) FILTER (WHERE a.occurred_at > c.t - 604800000) AS au7,
       count(DISTINCT a.user_id) FILTER (WHERE a.occurred_at > c.t - 2592000000) AS au30,
       max(a.occurred_at) AS last_activity
FROM acct_ids i CROSS JOIN clock c
LEFT JOIN activity_events a ON a.account_id = i.account_id AND a.user_id IS NOT NULL
GROUP BY i.account_id;

-- tickets: known once opened; open when the latest of opened/resolved/reopened (in that
-- order at equal times) is not resolved; priority from the earliest opening
CREATE OR REPLACE TABLE acct_tickets AS
WITH ranked AS (
    SELECT a.*, CASE type WHEN 'ticket_opened' THEN 0 WHEN 'ticket_resolved' THEN 1 WHEN 'ticket_reopened' THEN 2 END AS state_rank
    FROM applied a WHERE type IN ('ticket_opened', 'ticket_resolved', 'ticket_reopened')
),
tickets AS (
    SELECT account_id, ticket_id,
           min(occurred_at) FILTER (WHERE type = 'ticket_opened') AS opened_at,
           arg_min(priority, occurred_at) FILTER (WHERE type = 'ticket_opened') AS priority,
           arg_max(type, (occurred_at, state_rank)) AS state
    FROM ranked GROUP BY account_id, ticket_id
    HAVING opened_at IS NOT NULL
)
SELECT account_id,
       count(*) FILTER (WHERE state <> 'ticket_resolved') AS open_tickets,
       count(*) FILTER (WHERE state <> 'ticket_resolved' AND priority = 'urgent') AS urgent_open,
       count(*) FILTER (WHERE opened_at > c.t - 2592000000) AS opened_30d
FROM tickets, clock c GROUP BY account_id;

-- satisfaction over 90 days
CREATE OR REPLACE TABLE acct_surveys AS
SELECT account_id,
       count(*) FILTER (WHERE type = 'ticket_rated' OR survey = 'csat') AS csat_n,
       count(*) FILTER (WHERE (type = 'ticket_rated' AND rating >= 4) OR (survey = 'csat' AND score >= 4)) AS csat_good,
       count(*) FILTER (WHERE survey = 'nps') AS nps_n,
       count(*) FILTER (WHERE survey = 'nps' AND score >= 9) - count(*) FILTER (WHERE survey = 'nps' AND score <= 6) AS nps_net,
       count(*) FILTER (WHERE survey = 'ces') AS ces_n,
       sum(score) FILTER (WHERE survey = 'ces') AS ces_sum
FROM applied, clock c
WHERE type IN ('ticket_rated', 'survey_response') AND occurred_at > c.t - 7776000000
GROUP BY account_id;

-- money at T: MRR, MRR 30 days ago, trial, paid before, plan, seats, payments
CREATE OR REPLACE TABLE acct_money AS
WITH now AS (
    SELECT m.account_id, m.cents, m.has_trial FROM account_mrr m, clock c WHERE m.t = c.t
),
then_ AS (
    SELECT m.account_id, m.cents FROM account_mrr m, clock c WHERE m.t = c.t - 2592000000
),
paid_ever AS (
    SELECT account_id, bool_or(cents > 0) AS paid FROM account_mrr GROUP BY account_id
),
in_force AS (   -- the terms in force at T per subscription (latest started/changed; equal times: started first, then event_id)
    SELECT a.account_id, a.subscription_id,
           arg_max(a.plan, (a.occurred_at, CASE a.type WHEN 'subscription_started' THEN 0 ELSE 1 END, a.event_id)) AS plan,
           arg_max(a.quantity, (a.occurred_at, CASE a.type WHEN 'subscription_started' THEN 0 ELSE 1 END, a.event_id)) AS quantity
    FROM applied a WHERE a.type IN ('subscription_started', 'subscription_changed')
    GROUP BY a.account_id, a.subscription_id
),
states AS (
    SELECT f.*, COALESCE(m.cents, 0) AS cents, COALESCE(m.in_trial, false) AS in_trial
    FROM in_force f
    JOIN clock c ON true
    LEFT JOIN subscription_mrr m ON m.account_id = f.account_id AND m.subscription_id = f.subscription_id AND m.t = c.t
),
plans AS (
    SELECT account_id,
           arg_min(plan, (-cents, plan)) FILTER (WHERE cents > 0) AS paying_plan,
           min(plan) FILTER (WHERE in_trial) AS trial_plan,
           sum(quantity) FILTER (WHERE cents > 0) AS seats
    FROM states GROUP BY account_id
),
payments AS (
    SELECT account_id, occurred_at, CASE type WHEN 'payment_failed' THEN 0 ELSE 1 END AS ok
    FROM applied WHERE type IN ('payment_failed', 'payment_succeeded')
),
last_success AS (
    SELECT account_id, max(occurred_at) AS at FROM payments WHERE ok = 1 GROUP BY account_id
),
latest AS (
    SELECT account_id, arg_max(ok, (occurred_at, ok)) AS ok FROM payments GROUP BY account_id
),
run_start AS (   -- the first failure after the latest success (at equal times a success sorts after)
    SELECT p.account_id, min(p.occurred_at) AS since
    FROM payments p LEFT JOIN last_success s USING (account_id)
    WHERE p.ok = 0 AND (s.at IS NULL OR p.occurred_at > s.at)
    GROUP BY p.account_id
)
SELECT n.account_id, n.cents AS mrr_cents, COALESCE(t.cents, 0) AS base_cents, n.has_trial,
       COALESCE(pe.paid, false) AS paid_before,
       COALESCE(pl.paying_plan, pl.trial_plan) AS plan,
       CASE WHEN n.cents > 0 THEN pl.seats END AS seats_paid,
       CASE WHEN n.cents > 0 AND l.ok = 0 THEN r.since END AS past_due_since
FROM now n
LEFT JOIN then_ t USING (account_id)
LEFT JOIN paid_ever pe USING (account_id)
LEFT JOIN plans pl USING (account_id)
LEFT JOIN latest l USING (account_id)
LEFT JOIN run_start r USING (account_id);

-- feature adoption of the plan's features (30 days)
CREATE OR REPLACE TABLE acct_adoption AS
WITH users AS (
    SELECT a.account_id, a.feature, count(DISTINCT a.user_id) AS n
    FROM applied a, clock c
    WHERE a.type = 'feature_used' AND a.user_id IS NOT NULL AND a.occurred_at > c.t - 2592000000
    GROUP BY a.account_id, a.feature
)
SELECT m.account_id,
       avg(COALESCE(u.n, 0) / act.au30) AS mean_adoption
FROM acct_money m
JOIN acct_plans p ON p.plan = m.plan
JOIN acct_activity act ON act.account_id = m.account_id AND act.au30 > 0
LEFT JOIN users u ON u.account_id = m.account_id AND u.feature = p.feature
GROUP BY m.account_id;

-- the journey: signup, start, steps, completion, activation
CREATE OR REPLACE TABLE acct_journey AS
WITH steps AS (
    SELECT a.account_id, a.step, min(a.occurred_at) AS first_at
    FROM applied a JOIN acct_steps s ON s.step = a.step
    WHERE a.type = 'onboarding_step_completed'
    GROUP BY a.account_id, a.step
)
SELECT i.account_id,
       (SELECT min(occurred_at) FROM applied a WHERE a.account_id = i.account_id AND a.type = 'signup') AS signup_at,
       (SELECT min(occurred_at) FROM applied a WHERE a.account_id = i.account_id
          AND a.type IN ('signup', 'subscription_started', 'login', 'feature_used')) AS started_at,
       (SELECT min(occurred_at) FROM applied a WHERE a.account_id = i.account_id AND a.type = 'onboarding_completed') AS completed_at,
       (SELECT count(*) FROM steps s WHERE s.account_id = i.account_id) AS steps_done,
       (SELECT max(first_at) FROM steps s WHERE s.account_id = i.account_id) AS last_step_at,
       CASE (SELECT activation FROM acct_settings)
           WHEN 'core_feature' THEN (SELECT min(occurred_at) FROM applied a JOIN acct_core k ON k.feature = a.feature
                                     WHERE a.account_id = i.account_id AND a.type = 'feature_used')
           ELSE (SELECT min(occurred_at) FROM applied a WHERE a.account_id = i.account_id AND a.type = 'onboarding_completed')
       END AS activated_at
FROM acct_ids i;

-- trials that ended in the window, and whether they converted (paying at the trial's end)
CREATE OR REPLACE TABLE acct_trials AS
WITH started AS (   -- terms that put their subscription in trial when they took effect
    SELECT DISTINCT s.account_id, s.subscription_id, s.trial_ends_at
    FROM subscription_terms s
    WHERE s.trial_ends_at > s.occurred_at
      AND NOT EXISTS (SELECT 1 FROM subscription_terms o
                      WHERE o.account_id = s.account_id AND o.subscription_id = s.subscription_id
                        AND o.occurred_at = s.occurred_at AND (o.type_rank, o.event_id) > (s.type_rank, s.event_id))
      AND NOT EXISTS (SELECT 1 FROM subscription_cancels x
                      WHERE x.account_id = s.account_id AND x.subscription_id = s.subscription_id
                        AND x.effective_at = s.occurred_at)
)
SELECT t.account_id,
       count(*) AS ended,
       count(*) FILTER (WHERE m.cents > 0 AND NOT m.in_trial) AS converted
FROM started t
JOIN clock c ON t.trial_ends_at > c.t - (SELECT trial_window_days FROM acct_settings) * 86400000 AND t.trial_ends_at <= c.t
LEFT JOIN subscription_mrr m ON m.account_id = t.account_id AND m.subscription_id = t.subscription_id AND m.t = t.trial_ends_at
GROUP BY t.account_id;

-- the record
CREATE OR REPLACE TABLE acct_records AS
SELECT i.account_id,
       f.name, f.segment, f.owner, f.seats_purchased, f.renewal_at,
       CASE
           WHEN COALESCE(m.mrr_cents, 0) = 0 AND NOT COALESCE(m.has_trial, false) AND COALESCE(m.paid_before, false) THEN 'churned'
           WHEN COALESCE(m.mrr_cents, 0) = 0 AND COALESCE(m.has_trial, false) THEN 'trial'
           WHEN j.signup_at IS NOT NULL AND j.completed_at IS NULL
                AND c.t - j.signup_at <= (SELECT max_onboarding_days FROM acct_settings) * 86400000 THEN 'onboarding'
           ELSE 'active'
       END AS stage,
       whole_days(c.t - j.started_at) AS tenure_days,
       m.plan,
       COALESCE(m.mrr_cents, 0) AS mrr_cents,
       m.seats_paid,
       act.au1, act.au7, act.au30,
       CASE WHEN act.au30 > 0 THEN act.au1 / act.au30 END AS stickiness,
       CASE WHEN m.seats_paid > 0 THEN act.au30 / m.seats_paid END AS license_utilisation,
       CASE WHEN act.last_activity IS NOT NULL THEN least(30, whole_days(c.t - act.last_activity)) END AS days_since_activity,
       COALESCE(k.open_tickets, 0) AS tickets_open,
       COALESCE(k.urgent_open, 0) AS urgent_tickets_open,
       COALESCE(k.opened_30d, 0) AS tickets_opened_30d,
       CASE WHEN s.csat_n > 0 THEN s.csat_good / s.csat_n END AS csat,
       CASE WHEN s.nps_n > 0 THEN 100 * s.nps_net / s.nps_n END AS nps,
       CASE WHEN s.ces_n > 0 THEN s.ces_sum / s.ces_n END AS ces,
       CASE WHEN COALESCE(m.mrr_cents, 0) = 0 THEN NULL WHEN m.past_due_since IS NULL THEN 'current' ELSE 'past_due' END AS payment_status,
       CASE WHEN COALESCE(m.mrr_cents, 0) = 0 THEN NULL WHEN m.past_due_since IS NULL THEN 0
            ELSE whole_days(c.t - m.past_due_since) END AS days_past_due,
       whole_days(f.renewal_at - c.t) AS days_to_renewal,
       CASE WHEN m.base_cents > 0 THEN (m.mrr_cents - m.base_cents) / m.base_cents END AS mrr_change_30d_ratio,
       ad.mean_adoption AS plan_feature_adoption,
       j.signup_at, j.completed_at, j.activated_at, j.steps_done, j.last_step_at,
       CASE WHEN (SELECT count(*) FROM acct_steps) > 0 AND j.signup_at IS NOT NULL
            THEN j.steps_done / (SELECT count(*) FROM acct_steps) END AS onboarding_progress,
       CASE WHEN j.signup_at IS NOT NULL AND j.completed_at IS NULL
                 AND c.t - j.signup_at <= (SELECT max_onboarding_days FROM acct_settings) * 86400000
            THEN whole_days(c.t - greatest(j.signup_at, COALESCE(j.last_step_at, j.signup_at))) END AS days_since_onboarding_step,
       CASE WHEN j.signup_at IS NOT NULL THEN (j.activated_at IS NOT NULL)::INTEGER END AS activated,
       COALESCE(tr.ended, 0) AS trials_ended,
       COALESCE(tr.converted, 0) AS trials_converted
FROM acct_ids i CROSS JOIN clock c
LEFT JOIN acct_facts f USING (account_id)
LEFT JOIN acct_money m USING (account_id)
LEFT JOIN acct_activity act USING (account_id)
LEFT JOIN acct_tickets k USING (account_id)
LEFT JOIN acct_surveys s USING (account_id)
LEFT JOIN acct_adoption ad USING (account_id)
LEFT JOIN acct_journey j USING (account_id)
LEFT JOIN acct_trials tr USING (account_id);

-- onboarding cohorts per account (A = activation_days, C = completion_days, W = cohort_days)
CREATE OR REPLACE TABLE acct_cohorts AS
SELECT r.account_id,
       COALESCE(r.signup_at > c.t - (st.activation_days + st.cohort_days) * 86400000
        AND r.signup_at <= c.t - st.activation_days * 86400000, false)::INTEGER AS activation_cohort,
       COALESCE(r.signup_at > c.t - (st.activation_days + st.cohort_days) * 86400000
        AND r.signup_at <= c.t - st.activation_days * 86400000
        AND r.activated_at - r.signup_at <= st.activation_days * 86400000, false)::INTEGER AS activated_in_cohort,
       CASE WHEN r.activated_at - r.signup_at >= 0 THEN (r.activated_at - r.signup_at) / 86400000.0
            WHEN r.activated_at - r.signup_at < 0 THEN 0.0 END AS ttv_days,   -- (greatest() skips NULLs)
       COALESCE(r.signup_at > c.t - (st.completion_days + st.cohort_days) * 86400000
        AND r.signup_at <= c.t - st.completion_days * 86400000, false)::INTEGER AS completion_cohort,
       COALESCE(r.signup_at > c.t - (st.completion_days + st.cohort_days) * 86400000
        AND r.signup_at <= c.t - st.completion_days * 86400000
        AND r.completed_at - r.signup_at <= st.completion_days * 86400000, false)::INTEGER AS completed_in_cohort,
       CASE WHEN r.completed_at - r.signup_at >= 0 THEN (r.completed_at - r.signup_at) / 86400000.0
            WHEN r.completed_at - r.signup_at < 0 THEN 0.0 END AS completion_days,
       COALESCE(r.signup_at IS NOT NULL AND r.completed_at IS NULL
        AND c.t - r.signup_at <= st.max_onboarding_days * 86400000
        AND c.t - greatest(r.signup_at, COALESCE(r.last_step_at, r.signup_at)) > st.stuck_days * 86400000, false)::INTEGER AS stuck
FROM acct_records r, clock c, acct_settings st;

-- the measures, long form
CREATE OR REPLACE TABLE acct_measures AS
UNPIVOT (SELECT account_id,
                stickiness::DOUBLE AS stickiness, days_since_activity::DOUBLE AS days_since_activity,
                license_utilisation::DOUBLE AS license_utilisation, plan_feature_adoption::DOUBLE AS plan_feature_adoption,
                tickets_open::DOUBLE AS tickets_open, urgent_tickets_open::DOUBLE AS urgent_tickets_open,
                tickets_opened_30d::DOUBLE AS tickets_opened_30d,
                csat::DOUBLE AS csat, nps::DOUBLE AS nps, ces::DOUBLE AS ces,
                days_past_due::DOUBLE AS days_past_due, mrr_change_30d_ratio::DOUBLE AS mrr_change_30d_ratio,
                onboarding_progress::DOUBLE AS onboarding_progress,
                days_since_onboarding_step::DOUBLE AS days_since_onboarding_step, activated::DOUBLE AS activated,
                au30::DOUBLE AS active_users_30d
         FROM acct_records)
ON COLUMNS(* EXCLUDE (account_id)) INTO NAME measure VALUE value;
-- (UNPIVOT drops NULLs: a missing value has no row, so it is excluded)

-- the profile of each account: onboarding when younger than onboarding_days, else the
-- first profile listing its segment, else the first listing its plan, else default
CREATE OR REPLACE TABLE acct_profile AS
SELECT r.account_id,
       CASE
           WHEN r.tenure_days IS NOT NULL AND (c.t - j.started_at) < st.onboarding_days * 86400000
                AND EXISTS (SELECT 1 FROM profile_dimensions WHERE profile = 'onboarding') THEN 'onboarding'
           ELSE COALESCE(
               (SELECT arg_min(profile, position) FROM profile_match p WHERE p.kind = 'segment' AND p.value = r.segment),
               (SELECT arg_min(profile, position) FROM profile_match p WHERE p.kind = 'plan' AND p.value = r.plan),
               'default')
       END AS profile
FROM acct_records r JOIN acct_journey j USING (account_id), clock c, acct_settings st;

CREATE OR REPLACE TABLE acct_health AS
WITH scored AS (
    SELECT p.account_id, pm.position, pm.measure, pm.dimension, pm.weight, v.value,
           CASE
               WHEN pm.zero_at IS NOT NULL THEN 100 * least(1.0, greatest(0.0, (v.value - pm.zero_at) / (pm.full_at - pm.zero_at)))
               WHEN pm.good >= pm.average THEN CASE WHEN v.value >= pm.good THEN 100 WHEN v.value >= pm.average THEN 60 ELSE 0 END
               ELSE CASE WHEN v.value <= pm.good THEN 100 WHEN v.value <= pm.average THEN 60 ELSE 0 END
           END AS points
    FROM acct_profile p
    JOIN profile_measures pm ON pm.profile = p.profile
    JOIN acct_measures v ON v.account_id = p.account_id AND v.measure = pm.measure
),
dims AS (
    SELECT s.account_id, s.dimension, sum(s.weight * s.points) / sum(s.weight) AS dimension_score, d.weight AS dimension_weight
    FROM scored s JOIN acct_profile p USING (account_id)
    JOIN profile_dimensions d ON d.profile = p.profile AND d.dimension = s.dimension
    GROUP BY s.account_id, s.dimension, d.weight
)
SELECT p.account_id, p.profile,
       round(sum(d.dimension_weight * d.dimension_score) / sum(d.dimension_weight), 6) AS score
FROM acct_profile p LEFT JOIN dims d USING (account_id)
GROUP BY p.account_id, p.profile;

SELECT r.*, c.* EXCLUDE (account_id), h.profile, h.score,
       CASE WHEN h.score IS NULL THEN 'unknown' WHEN h.score <= st.red THEN 'red'
            WHEN h.score <= st.yellow THEN 'yellow' ELSE 'green' END AS band
FROM acct_records r JOIN acct_cohorts c USING (account_id) JOIN acct_health h USING (account_id), acct_settings st
ORDER BY r.account_id;
