"""An independent oracle for cs-pulse's metrics: the metric definitions written as DuckDB
SQL over a JSONL event file, used only by tests to check the engine (see docs/testing.md)."""

from tests.oracle.oracle import MetricKey, MetricValue, Oracle, Policy, oracle_metrics

__all__ = ["MetricKey", "MetricValue", "Oracle", "Policy", "oracle_metrics"]
