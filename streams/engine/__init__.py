"""The metric engine: pure, deterministic per-account state machines (stdlib only).

One module per metric family (activity, adoption, sessions, support, surveys,
lifecycle, revenue); each opens with the definition it implements. The engine knows
nothing about Kafka, Faust or Prometheus: it takes typed events and answers "what are
the metrics as of time T" as a list of `Sample`. `Engine` lives in `streams.engine.engine`
(import it from there; this package stays import-light so `samples` loads alone).

The account layer sits next to the families: `crm` (account_updated facts) and `journey`
(first times) keep per-account state; `records` computes each account's record at T,
`health` its score and `cohorts` its onboarding figures, configured by
`accounts_config` (the `[accounts]` table).
"""

from streams.engine.samples import Sample, ratio_sample

__all__ = ["Sample", "ratio_sample"]
