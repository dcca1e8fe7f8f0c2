"""A `WorkerBook` without Kafka or Faust: the worker's per-event path and its checkpoints,
for pure tests and the benchmarks that measure that path.

Faust hands the book messages and a changelogged table; here a `Message` dataclass with
the attributes the book reads, and a `Table` (a dict with the changelog topic name Faust's
table has) stand in for them. `worker_book` builds one the way the worker's agent does:
attach the table, then load every partition."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streams.pulse_config import PulseConfig
from streams.worker.state import WorkerBook

CHANGELOG_TOPIC = "changelog"


@dataclass
class Message:
    """The attributes of a Faust message the book reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list | None = None


class Table(dict):
    """The table's local store as the worker fills it from committed checkpoints."""

    class changelog_topic:  # noqa: N801 - the attribute Faust's table has
        @staticmethod
        def get_topic_name() -> str:
            return CHANGELOG_TOPIC


def worker_book(
    clock: Callable[[], int] | int,
    *,
    partitions: int,
    config: PulseConfig | None = None,
    table: Table | None = None,
    account_records: bool = True,
) -> WorkerBook:
    """A book owning every one of `partitions`, over `table` (a fresh one by default).

    `clock` is the worker's clock, or a fixed instant (epoch milliseconds)."""
    now = clock if callable(clock) else (lambda: clock)
    book = WorkerBook(
        config or PulseConfig(),
        now,
        partitions=partitions,
        rekey_topic="rekeyed",
        dead_letter_topic="dead-letter",
        unprefixed=lambda topic: topic,
        account_records=account_records,
    )
    book.attach(Table() if table is None else table)
    book.sync(set(range(partitions)))
    return book
