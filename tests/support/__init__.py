"""Helpers shared by several test modules (and the benchmarks): one home for each."""
