-- Revenue metrics at T from account_mrr and mrr_movements (revenue.sql).
--   pulse_mrr, pulse_paying_accounts (MRR > 0), pulse_arpa = MRR / paying accounts
--   pulse_trialing_accounts: MRR 0 at T and a subscription in trial
--   pulse_past_due_accounts: MRR > 0 and the latest payment event at or before T is
--       payment_failed (at equal times a success sorts after a failure); pulse_past_due_mrr
--       their MRR
--   pulse_mrr_churn_involuntary{window="30d"}, ..._accounts: churn movements at the end of
--       an unpaid dunning window (revenue.sql, delinquency)
--   pulse_mrr_movement{kind, window="30d"}: sum of movement amounts in (T - 30d, T]
--   pulse_mrr_movement_accounts{kind, window="30d"}: accounts with such a movement
--   pulse_mrr_quick_ratio{window="30d"}: (new + expansion + reactivation) / (contraction + churn)
--   pulse_gross_mrr_churn_ratio{window="30d"}: (churn + contraction) / total MRR at T - 30d
--   pulse_net_mrr_churn_ratio{window="30d"}: (churn + contraction - expansion - reactivation)
--       / total MRR at T - 30d (ChartMogul's standard net MRR churn; may be negative)
--   per window W in 30d, 90d, 365d, cohort C = the customers at T - W (account_mrr.is_customer):
--   pulse_net_revenue_retention_ratio   = sum over C of MRR(T) / sum over C of MRR(T - W)
--   pulse_gross_revenue_retention_ratio = the same with MRR(T) capped at MRR(T - W)
--   pulse_customer_churn_ratio          = |{a in C : not a customer at T}| / |C|
--   and their parts pulse_retention_{base,current,capped}_mrr, _{base,churned}_accounts
--   pulse_payments_{failed,succeeded}{window="7d"}: payment events in (T - 7d, T], and
--   pulse_payments_{failed,succeeded}_amount: their amounts converted and each rounded
--       half-up to a cent
WITH now_and_then AS (
    SELECT m.account_id,
           max(m.cents) FILTER (WHERE m.t = clock.t) AS current_cents,
           bool_or(m.has_trial) FILTER (WHERE m.t = clock.t) AS has_trial
    FROM account_mrr m, clock
    GROUP BY m.account_id
),
retention_windows(window_name, width_ms) AS (
    VALUES ('30d', 2592000000), ('90d', 7776000000), ('365d', 31536000000)
),
cohorts AS (
    SELECT w.window_name, now.account_id, now.cents AS current_cents, then_.cents AS base_cents,
           now.is_customer AS is_customer_now
    FROM retention_windows w, clock
    JOIN account_mrr now ON now.t = clock.t
    JOIN account_mrr then_ ON then_.account_id = now.account_id AND then_.t = clock.t - w.width_ms
    WHERE then_.is_customer
),
retention AS (
    SELECT w.window_name,
           COALESCE(sum(c.base_cents), 0) AS base_cents,
           COALESCE(sum(c.current_cents), 0) AS retained_cents,
           COALESCE(sum(least(c.current_cents, c.base_cents)), 0) AS capped_cents,
           count(c.account_id) AS base_accounts,
           count(c.account_id) FILTER (WHERE NOT c.is_customer_now) AS churned_accounts
    FROM retention_windows w LEFT JOIN cohorts c USING (window_name)
    GROUP BY w.window_name
),
latest_payment AS (
    SELECT account_id,
           arg_max(type, (occurred_at, CASE type WHEN 'payment_failed' THEN 0 ELSE 1 END)) AS type
    FROM applied
    WHERE type IN ('payment_failed', 'payment_succeeded')
    GROUP BY account_id
),
totals AS (
    SELECT COALESCE(sum(current_cents), 0) AS mrr_cents,
           count(*) FILTER (WHERE current_cents > 0) AS paying,
           count(*) FILTER (WHERE current_cents = 0 AND has_trial) AS trialing,
           count(*) FILTER (WHERE current_cents > 0 AND p.type = 'payment_failed') AS past_due,
           COALESCE(sum(current_cents) FILTER (WHERE current_cents > 0 AND p.type = 'payment_failed'), 0)
               AS past_due_cents
    FROM now_and_then n LEFT JOIN latest_payment p USING (account_id)
),
kinds(kind) AS (VALUES ('new'), ('expansion'), ('contraction'), ('churn'), ('reactivation')),
movement_totals AS (
    SELECT k.kind,
           COALESCE(sum(m.cents), 0) AS cents,
           count(DISTINCT m.account_id) AS accounts
    FROM kinds k
    LEFT JOIN (SELECT mm.* FROM mrr_movements mm, clock WHERE mm.t > clock.t - 2592000000) m
        ON m.kind = k.kind
    GROUP BY k.kind
),
payment_kinds(name, type) AS (
    VALUES ('pulse_payments_failed', 'payment_failed'), ('pulse_payments_succeeded', 'payment_succeeded')
),
payments AS (
    SELECT k.name,
           count(a.type) AS payments,
           COALESCE(sum((2 * CAST(a.amount * 10000 AS HUGEINT) * CAST(r.rate * 100000000 AS HUGEINT) * 100
                         + CAST(10000 AS HUGEINT) * 100000000)
                        // (2 * CAST(10000 AS HUGEINT) * 100000000)), 0) AS cents
    FROM payment_kinds k
    LEFT JOIN (SELECT ap.* FROM applied ap, clock WHERE ap.occurred_at > clock.t - 604800000) a
        ON a.type = k.type
    ASOF LEFT JOIN rates r ON r.currency = a.currency AND a.occurred_at >= r.valid_from
    GROUP BY k.name
)
SELECT 'pulse_mrr' AS name, MAP {}::MAP(VARCHAR, VARCHAR) AS labels,
       mrr_cents::HUGEINT AS numerator, 1::HUGEINT AS denominator, 'cents' AS unit
FROM totals
UNION ALL SELECT 'pulse_paying_accounts', MAP {}, paying, 1, 'count' FROM totals
UNION ALL SELECT 'pulse_arpa', MAP {}, mrr_cents, 100 * paying, 'ratio' FROM totals
UNION ALL SELECT 'pulse_trialing_accounts', MAP {}, trialing, 1, 'count' FROM totals
UNION ALL SELECT 'pulse_past_due_accounts', MAP {}, past_due, 1, 'count' FROM totals
UNION ALL SELECT 'pulse_past_due_mrr', MAP {}, past_due_cents, 1, 'cents' FROM totals
UNION ALL
SELECT 'pulse_mrr_churn_involuntary', MAP {'window': '30d'},
       COALESCE((SELECT sum(mm.cents) FROM mrr_movements mm, clock
                 WHERE mm.t > clock.t - 2592000000 AND mm.kind = 'churn' AND mm.involuntary), 0), 1, 'cents'
UNION ALL
SELECT 'pulse_mrr_churn_involuntary_accounts', MAP {'window': '30d'},
       (SELECT count(DISTINCT mm.account_id) FROM mrr_movements mm, clock
        WHERE mm.t > clock.t - 2592000000 AND mm.kind = 'churn' AND mm.involuntary), 1, 'count'
UNION ALL SELECT 'pulse_net_revenue_retention_ratio', MAP {'window': window_name},
                 retained_cents, base_cents, 'ratio' FROM retention
UNION ALL SELECT 'pulse_gross_revenue_retention_ratio', MAP {'window': window_name},
                 capped_cents, base_cents, 'ratio' FROM retention
UNION ALL SELECT 'pulse_customer_churn_ratio', MAP {'window': window_name},
                 churned_accounts, base_accounts, 'ratio' FROM retention
UNION ALL SELECT 'pulse_retention_base_mrr', MAP {'window': window_name}, base_cents, 1, 'cents' FROM retention
UNION ALL SELECT 'pulse_retention_current_mrr', MAP {'window': window_name}, retained_cents, 1, 'cents' FROM retention
UNION ALL SELECT 'pulse_retention_capped_mrr', MAP {'window': window_name}, capped_cents, 1, 'cents' FROM retention
UNION ALL SELECT 'pulse_retention_base_accounts', MAP {'window': window_name}, base_accounts, 1, 'count' FROM retention
UNION ALL SELECT 'pulse_retention_churned_accounts', MAP {'window': window_name}, churned_accounts, 1, 'count' FROM retention
UNION ALL
SELECT 'pulse_mrr_movement', MAP {'kind': kind, 'window': '30d'}, cents, 1, 'cents' FROM movement_totals
UNION ALL
SELECT 'pulse_mrr_movement_accounts', MAP {'kind': kind, 'window': '30d'}, accounts, 1, 'count' FROM movement_totals
UNION ALL
SELECT 'pulse_mrr_quick_ratio', MAP {'window': '30d'},
       (SELECT sum(cents) FROM movement_totals WHERE kind IN ('new', 'expansion', 'reactivation')),
       (SELECT sum(cents) FROM movement_totals WHERE kind IN ('contraction', 'churn')), 'ratio'
UNION ALL
SELECT 'pulse_gross_mrr_churn_ratio', MAP {'window': '30d'},
       (SELECT sum(cents) FROM movement_totals WHERE kind IN ('contraction', 'churn')),
       (SELECT sum(a.cents) FROM account_mrr a, clock WHERE a.t = clock.t - 2592000000), 'ratio'
UNION ALL
SELECT 'pulse_net_mrr_churn_ratio', MAP {'window': '30d'},
       (SELECT sum(CASE WHEN kind IN ('contraction', 'churn') THEN cents ELSE -cents END)
        FROM movement_totals WHERE kind <> 'new'),
       (SELECT sum(a.cents) FROM account_mrr a, clock WHERE a.t = clock.t - 2592000000), 'ratio'
UNION ALL
SELECT name, MAP {'window': '7d'}, payments, 1, 'count' FROM payments
UNION ALL
SELECT name || '_amount', MAP {'window': '7d'}, cents, 1, 'cents' FROM payments;
