-- Pipeline counters over the whole input.
--   pulse_events_total{type}:            events admitted and applied (occurred_at <= T), by
--                                        type; admitted events later than T are not counted
--   pulse_events_duplicate_total:        lines dropped as duplicates
--   pulse_events_rejected_total{reason}: edge rejections (edge_rejections, from oracle.py)
--                                        plus future_timestamp and too_late
SELECT 'pulse_events_total' AS name, MAP {'type': type} AS labels,
       count(*)::HUGEINT AS numerator, 1::HUGEINT AS denominator, 'count' AS unit
FROM applied
GROUP BY type
UNION ALL
SELECT 'pulse_events_duplicate_total', MAP {}::MAP(VARCHAR, VARCHAR),
       (SELECT count(*) FROM admission WHERE verdict = 'duplicate'), 1, 'count'
UNION ALL
SELECT 'pulse_events_rejected_total', MAP {'reason': reason}, count(*), 1, 'count'
FROM (
    SELECT reason FROM edge_rejections
    UNION ALL
    SELECT verdict FROM admission WHERE verdict IN ('future_timestamp', 'too_late')
)
GROUP BY reason;
