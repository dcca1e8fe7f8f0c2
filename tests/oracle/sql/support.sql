-- Support tickets, keyed by (account_id, ticket_id). A ticket is known at T once a
-- ticket_opened at or before T exists; its opening time is the earliest one. Events of a
-- ticket whose opening is not known count for nothing.
--   pulse_tickets_open:                  known tickets whose latest state event
--                                        (opened, resolved, reopened) is opened or reopened;
--                                        equal times ordered opened, resolved, reopened
--   pulse_tickets_opened{window}:        known tickets opened in (T - W, T], W 1d, 7d
--   pulse_tickets_resolved{7d}:          ticket_resolved events of known tickets in the window
--   pulse_tickets_reopened{7d}:          ticket_reopened events of known tickets in the window
--   pulse_ticket_first_responses{7d}:    known tickets whose first agent ticket_replied is
--                                        in the window
--   pulse_ticket_first_response_duration_sum_seconds{7d}: sum of (that reply - opening), a reply
--                                        stamped before the opening counting 0
--   pulse_ticket_resolutions{7d}, pulse_ticket_resolution_duration_sum_seconds{7d}: the same for
--                                        the first ticket_resolved
WITH state_order(type, state_rank) AS (
    VALUES ('ticket_opened', 0), ('ticket_resolved', 1), ('ticket_reopened', 2)
),
tickets AS (
    SELECT account_id, ticket_id,
           min(occurred_at) FILTER (WHERE type = 'ticket_opened') AS opened_at,
           min(occurred_at) FILTER (WHERE type = 'ticket_replied' AND author = 'agent') AS first_agent_reply_at,
           min(occurred_at) FILTER (WHERE type = 'ticket_resolved') AS first_resolved_at,
           arg_max(a.type, (a.occurred_at, o.state_rank)) FILTER (WHERE o.state_rank IS NOT NULL) AS state
    FROM applied a LEFT JOIN state_order o USING (type)
    WHERE a.type LIKE 'ticket_%'
    GROUP BY account_id, ticket_id
    HAVING opened_at IS NOT NULL
),
known_events AS (
    SELECT a.type, a.occurred_at
    FROM applied a JOIN tickets t USING (account_id, ticket_id)
),
windows(win, width_ms) AS (
    VALUES ('1d', 86400000::BIGINT), ('7d', 604800000::BIGINT)
),
first_response AS (
    SELECT count(*) AS tickets, COALESCE(sum(greatest(first_agent_reply_at - opened_at, 0)), 0) AS total_ms
    FROM tickets, clock
    WHERE first_agent_reply_at > clock.t - 604800000
),
resolution AS (
    SELECT count(*) AS tickets, COALESCE(sum(greatest(first_resolved_at - opened_at, 0)), 0) AS total_ms
    FROM tickets, clock
    WHERE first_resolved_at > clock.t - 604800000
)
SELECT 'pulse_tickets_open' AS name, MAP {}::MAP(VARCHAR, VARCHAR) AS labels,
       (SELECT count(*) FROM tickets WHERE state IN ('ticket_opened', 'ticket_reopened'))::HUGEINT
           AS numerator,
       1::HUGEINT AS denominator, 'count' AS unit
UNION ALL
SELECT 'pulse_tickets_opened', MAP {'window': w.win},
       (SELECT count(*) FROM tickets, clock WHERE opened_at > clock.t - w.width_ms), 1, 'count'
FROM windows w
UNION ALL
SELECT 'pulse_tickets_resolved', MAP {'window': '7d'},
       (SELECT count(*) FROM known_events, clock
        WHERE type = 'ticket_resolved' AND occurred_at > clock.t - 604800000), 1, 'count'
UNION ALL
SELECT 'pulse_tickets_reopened', MAP {'window': '7d'},
       (SELECT count(*) FROM known_events, clock
        WHERE type = 'ticket_reopened' AND occurred_at > clock.t - 604800000), 1, 'count'
UNION ALL
SELECT 'pulse_ticket_first_responses', MAP {'window': '7d'}, tickets, 1, 'count'
FROM first_response
UNION ALL
SELECT 'pulse_ticket_first_response_duration_sum_seconds', MAP {'window': '7d'}, total_ms, 1000, 'ratio'
FROM first_response
UNION ALL
SELECT 'pulse_ticket_resolutions', MAP {'window': '7d'}, tickets, 1, 'count'
FROM resolution
UNION ALL
SELECT 'pulse_ticket_resolution_duration_sum_seconds', MAP {'window': '7d'}, total_ms, 1000, 'ratio'
FROM resolution;
