-- Typed events: one row per line that passed the edge (schema-valid, known currency).
-- Input table (filled by oracle.py): lines(line_no, raw). Fields are read from the JSON
-- text itself, in one pass per line; numbers are read as their JSON text, so money stays
-- exact DECIMAL; times become epoch milliseconds (UTC).
CREATE OR REPLACE TABLE events AS
WITH parsed AS (
    SELECT line_no,
           json_transform(raw, '{
               "event_id": "VARCHAR", "type": "VARCHAR", "occurred_at": "VARCHAR",
               "account_id": "VARCHAR", "user_id": "VARCHAR", "feature": "VARCHAR",
               "ticket_id": "VARCHAR", "author": "VARCHAR", "rating": "VARCHAR",
               "subscription_id": "VARCHAR", "plan": "VARCHAR", "amount": "VARCHAR",
               "currency": "VARCHAR", "interval": "VARCHAR", "interval_count": "VARCHAR",
               "quantity": "VARCHAR", "discount_percent": "VARCHAR", "trial_ends_at": "VARCHAR",
               "effective_at": "VARCHAR", "survey": "VARCHAR", "score": "VARCHAR",
               "priority": "VARCHAR", "step": "VARCHAR", "name": "VARCHAR", "segment": "VARCHAR",
               "owner": "VARCHAR", "renewal_at": "VARCHAR", "seats_purchased": "VARCHAR",
               "scale": "VARCHAR", "session_id": "VARCHAR"
           }') AS f
    FROM lines
)
SELECT
    line_no,
    f.event_id,
    f.type,
    epoch_ms(CAST(upper(f.occurred_at) AS TIMESTAMPTZ))                        AS occurred_at,
    f.account_id,
    f.user_id,
    -- feature_used
    f.feature,
    -- tickets
    f.ticket_id,
    f.author,
    CAST(f.rating AS INTEGER)                                                   AS rating,
    -- billing
    f.subscription_id,
    f.plan,
    CAST(f.amount AS DECIMAL(38, 12))                                           AS amount,
    upper(f.currency)                                                           AS currency,
    f.interval                                                                  AS billing_interval,
    COALESCE(CAST(f.interval_count AS BIGINT), 1)                               AS interval_count,
    COALESCE(CAST(f.quantity AS BIGINT), 1)                                     AS quantity,
    COALESCE(CAST(f.discount_percent AS DECIMAL(38, 12)), 0)                    AS discount_percent,
    epoch_ms(CAST(upper(f.trial_ends_at) AS TIMESTAMPTZ))                       AS trial_ends_at,
    epoch_ms(CAST(upper(COALESCE(f.effective_at, f.occurred_at)) AS TIMESTAMPTZ)) AS effective_at,
    -- surveys
    f.survey,
    CAST(f.score AS INTEGER)                                                    AS score,
    -- ticket_opened
    f.priority,
    -- onboarding_step_completed
    f.step,
    -- account_updated
    f.name,
    f.segment,
    f.owner,
    epoch_ms(CAST(upper(f.renewal_at) AS TIMESTAMPTZ))                          AS renewal_at,
    CAST(f.seats_purchased AS BIGINT)                                           AS seats_purchased,
    f.scale                                                                     AS survey_scale,
    -- login, logout (the contract gives no other type a session_id)
    CASE WHEN f.type IN ('login', 'logout') THEN f.session_id END              AS session_id
FROM parsed;
