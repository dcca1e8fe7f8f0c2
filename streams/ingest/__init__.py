"""Ingest: admission (dedup, lateness, future) and the per-message pipeline shared by
the worker and `pulse replay`, with its counters. Imports contract and engine."""
