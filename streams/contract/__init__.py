"""The event contract: bytes -> a typed event (`model`) or a rejection with a
machine-readable reason (`decoding`), and the dead-letter record of every rejection
(`deadletter`). Imports nothing from ingest, worker or cli."""
