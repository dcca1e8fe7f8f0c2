"""The revenue family: MRR, its movements, NRR / GRR, customer churn, ARPA, trials, payments.

Definitions (docs/metrics-revenue.md has the full text, the knobs and the vendor notes):

- MRR of a subscription at T: 0 before it starts, while `trial_ends_at` > T, and from its
  cancellation's effective time on; otherwise amount x quantity x (1 - discount / 100)
  normalised to a month, converted to the reporting currency and rounded half-up to a
  cent (`money`). Which terms, trial and cancellation apply at T: `steps`.
- Account MRR = sum over its subscriptions; movements (new, expansion, contraction, churn,
  reactivation) are the changes of that step function (`movements`).
- Everything at T is computed from the events with occurred_at <= T, so the answer does
  not depend on arrival order and later events never leak into the past.
- Aggregates over accounts, windows (T - W, T] and metric names: `metrics`.

Modules: `config` (RevenueConfig and its knobs), `money` (terms -> cents), `steps` (state
over time), `movements`, `account` (AccountRevenue: per-account state, compaction,
serialisation), `metrics` (revenue_samples).
"""

from streams.engine.revenue.account import AccountRevenue
from streams.engine.revenue.metrics import REVENUE_METRICS, revenue_samples
from streams.engine.revenue.revenue_config import RevenueConfig

__all__ = ["REVENUE_METRICS", "AccountRevenue", "RevenueConfig", "revenue_samples"]
