-- Revenue: MRR, movements, retention.
--
-- MRR of a subscription at time t (cents of the reporting currency):
--   terms = the latest subscription_started/changed with occurred_at <= t (equal times:
--           started before changed, then event_id);
--   0 if there are no terms, while terms.trial_ends_at > t, or when a cancel that holds
--   from a time <= t (see subscription_cancels) applies to those terms (the terms began at
--   or before the cancel's effective time: a start/change strictly after it re-activates
--   the subscription);
--   else round_half_up(amount x quantity x (1 - discount/100) x rate x f / interval_count)
--   with f = 1 (month), 1/3 (quarter), 1/12 (year), 52/12 (week), 365/12 (day), and rate
--   the currency's rate in force at the terms' occurred_at (the latest valid_from <= it).
-- Account MRR = sum of its subscriptions' (rounded) MRR; a step function of time. Its step
-- changes are the movements: new (0 -> >0, first time ever), reactivation (0 -> >0 after an
-- earlier >0), expansion/contraction (up/down staying >0), churn (>0 -> 0); amounts > 0.
-- An account that is still a customer at MRR 0 (a free subscription, see account_mrr)
-- makes >0 -> 0 a contraction and 0 -> >0 (after an earlier >0) an expansion.
-- Only events applied at T (occurred_at <= T) shape the function; movements count in
-- (T - 30d, T]. Retention over W (30d, 90d, 365d) compares account MRR at T - W and at T. A
-- subscription is in trial at t when it has terms, no cancel holds it and
-- trial_ends_at > t.
--
-- Exact arithmetic: amounts and discounts are scaled by 10^4 and rates by 10^8 to HUGEINT
-- (oracle.py checks that no value carries more decimals), and the half-up rounding of a
-- non-negative N / D is (2N + D) // (2D).
CREATE OR REPLACE TABLE subscription_terms AS
SELECT a.account_id, a.subscription_id, a.occurred_at, a.event_id, a.plan,
       CASE a.type WHEN 'subscription_started' THEN 0 ELSE 1 END AS type_rank,
       a.trial_ends_at,
       (  CAST(a.amount * 10000 AS HUGEINT)
        * a.quantity
        * CAST((100 - a.discount_percent) * 10000 AS HUGEINT)
        * CAST(r.rate * 100000000 AS HUGEINT)
        * CASE a.billing_interval WHEN 'week' THEN 52 WHEN 'day' THEN 365 ELSE 1 END
       ) AS cents_numerator,
       (  CAST(10000 AS HUGEINT) * 10000 * 100000000
        * a.interval_count
        * CASE a.billing_interval WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END
       ) AS cents_denominator
FROM applied a ASOF JOIN rates r ON r.currency = a.currency AND a.occurred_at >= r.valid_from
WHERE a.type IN ('subscription_started', 'subscription_changed');

-- A cancel holds from `holds_from`: its effective_at, or with backdated_cancellations =
-- 'when_known' (the default) the later of effective_at and occurred_at, so a backdated cancel
-- counts from the time it became known.
CREATE OR REPLACE TABLE subscription_cancels AS
SELECT account_id, subscription_id, effective_at,
       CASE (SELECT backdated_cancellations FROM params)
           WHEN 'when_known' THEN greatest(effective_at, occurred_at)
           ELSE effective_at
       END AS holds_from
FROM applied
WHERE type = 'subscription_canceled';

-- Dunning: a run of failed payments starts at a failure whose previous payment (by time,
-- a failure before a success at the same millisecond) is a success or none. With a
-- dunning window W (params.dunning_window_ms, NULL when off) and no success in
-- (start, start + W], the account is delinquent from start + W until its next success:
-- MRR 0 and not a customer. A churn at start + W is involuntary.
CREATE OR REPLACE TABLE delinquency AS
WITH pays AS (
    SELECT account_id, occurred_at, CASE type WHEN 'payment_failed' THEN 0 ELSE 1 END AS outcome
    FROM applied
    WHERE type IN ('payment_failed', 'payment_succeeded')
),
ordered AS (
    SELECT *, lag(outcome) OVER (PARTITION BY account_id ORDER BY occurred_at, outcome) AS previous_outcome
    FROM pays
),
runs AS (
    SELECT o.account_id, o.occurred_at AS failed_at,
           (SELECT min(s.occurred_at) FROM pays s
            WHERE s.account_id = o.account_id AND s.outcome = 1 AND s.occurred_at >= o.occurred_at) AS paid_at
    FROM ordered o
    WHERE o.outcome = 0 AND (o.previous_outcome IS NULL OR o.previous_outcome = 1)
)
SELECT r.account_id, r.failed_at + p.dunning_window_ms AS delinquent_from,
       COALESCE(r.paid_at, 9223372036854775000) AS delinquent_until
FROM runs r, params p
WHERE p.dunning_window_ms IS NOT NULL
  AND (r.paid_at IS NULL OR r.paid_at > r.failed_at + p.dunning_window_ms);

-- Every instant at which an account's MRR can change, plus T and T - 30d, 90d, 365d.
CREATE OR REPLACE TABLE revenue_points AS
WITH accounts AS (
    SELECT DISTINCT account_id FROM subscription_terms
)
SELECT DISTINCT candidates.account_id, candidates.t
FROM (
    SELECT account_id, occurred_at AS t FROM subscription_terms
    UNION ALL SELECT account_id, trial_ends_at FROM subscription_terms WHERE trial_ends_at IS NOT NULL
    UNION ALL SELECT account_id, holds_from FROM subscription_cancels
    UNION ALL SELECT account_id, delinquent_from FROM delinquency
    UNION ALL SELECT account_id, delinquent_until FROM delinquency
    UNION ALL SELECT account_id, clock.t FROM accounts, clock
    UNION ALL SELECT account_id, clock.t - 2592000000 FROM accounts, clock
    UNION ALL SELECT account_id, clock.t - 7776000000 FROM accounts, clock
    UNION ALL SELECT account_id, clock.t - 31536000000 FROM accounts, clock
) AS candidates, clock
WHERE candidates.t <= clock.t;

CREATE OR REPLACE TABLE subscription_mrr AS
WITH terms_at AS (
    SELECT p.account_id, p.t, s.subscription_id,
           arg_max(s, (s.occurred_at, s.type_rank, s.event_id)) AS terms
    FROM revenue_points p
    JOIN subscription_terms s ON s.account_id = p.account_id AND s.occurred_at <= p.t
    GROUP BY p.account_id, p.t, s.subscription_id
),
held AS (
    SELECT *,
           EXISTS (
               SELECT 1 FROM subscription_cancels c
               WHERE c.account_id = terms_at.account_id
                 AND c.subscription_id = terms_at.subscription_id
                 AND c.holds_from <= terms_at.t
                 AND c.effective_at >= terms.occurred_at
           ) AS is_held
    FROM terms_at
)
SELECT account_id, t, subscription_id,
       (NOT is_held AND terms.trial_ends_at > t) AS in_trial,
       (NOT is_held AND (terms.trial_ends_at IS NULL OR terms.trial_ends_at <= t)) AS in_force,
       CASE
           WHEN is_held OR terms.trial_ends_at > t THEN 0
           ELSE (2 * terms.cents_numerator + terms.cents_denominator) // (2 * terms.cents_denominator)
       END AS cents
FROM held;

-- A customer at t: MRR > 0; with free_subscriptions = 'active' (the default) also an
-- account with any subscription in force out of trial, free (price 0, 100 % discount) or not.
CREATE OR REPLACE TABLE account_mrr AS
WITH summed AS (
    SELECT p.account_id, p.t,
           COALESCE(sum(m.cents), 0)::HUGEINT AS cents,
           COALESCE(bool_or(m.in_trial), false) AS has_trial,
           COALESCE(bool_or(m.in_force), false) AS has_subscription_in_force
    FROM revenue_points p
    LEFT JOIN subscription_mrr m ON m.account_id = p.account_id AND m.t = p.t
    GROUP BY p.account_id, p.t
)
SELECT s.account_id, s.t,
       CASE WHEN d.account_id IS NULL THEN s.cents ELSE 0 END::HUGEINT AS cents,
       s.has_trial,
       d.account_id IS NULL AND CASE (SELECT free_subscriptions FROM params)
           WHEN 'active' THEN s.cents > 0 OR s.has_subscription_in_force
           ELSE s.cents > 0
       END AS is_customer,
       d.account_id IS NOT NULL AS is_delinquent,
       EXISTS (SELECT 1 FROM delinquency e WHERE e.account_id = s.account_id AND e.delinquent_from = s.t)
           AS delinquency_starts
FROM summed s
LEFT JOIN (SELECT DISTINCT x.account_id, y.t FROM delinquency x JOIN summed y
           ON y.account_id = x.account_id AND x.delinquent_from <= y.t AND y.t < x.delinquent_until) d
    ON d.account_id = s.account_id AND d.t = s.t;

CREATE OR REPLACE TABLE mrr_movements AS
WITH steps AS (
    SELECT account_id, t, cents, is_customer, delinquency_starts,
           COALESCE(lag(cents) OVER by_time, 0) AS previous_cents,
           COALESCE(lag(is_customer) OVER by_time, false) AS was_customer,
           COALESCE(bool_or(cents > 0) OVER (PARTITION BY account_id ORDER BY t
                                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                    false) AS was_paying_before
    FROM account_mrr
    WINDOW by_time AS (PARTITION BY account_id ORDER BY t)
)
SELECT account_id, t,
       CASE
           WHEN previous_cents = 0 AND NOT was_paying_before THEN 'new'
           WHEN previous_cents = 0 AND was_customer THEN 'expansion'   -- from a free plan
           WHEN previous_cents = 0 THEN 'reactivation'
           WHEN cents = 0 AND is_customer THEN 'contraction'           -- to a free plan
           WHEN cents = 0 THEN 'churn'
           WHEN cents > previous_cents THEN 'expansion'
           ELSE 'contraction'
       END AS kind,
       abs(cents - previous_cents) AS cents,
       cents = 0 AND NOT is_customer AND delinquency_starts AS involuntary
FROM steps
WHERE cents <> previous_cents;
