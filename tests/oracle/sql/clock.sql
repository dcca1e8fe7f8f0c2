-- pulse_evaluation_timestamp_seconds: the T every other metric is evaluated at.
SELECT 'pulse_evaluation_timestamp_seconds' AS name, MAP {}::MAP(VARCHAR, VARCHAR) AS labels,
       t::HUGEINT AS numerator, 1000::HUGEINT AS denominator, 'ratio' AS unit
FROM clock;
