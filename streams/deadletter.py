"""Dead letters: the record kept for every rejected message, and its metric label.

Definition (contract v1; docs/events.md, "Dead letters"). One JSON object per rejected
message, the same for the `pulse.dead-letter` topic and for replay's JSONL file:

    reason, detail      the Rejection (reason from streams.events.REASONS)
    rejected_at         RFC 3339 UTC with milliseconds, e.g. 2026-03-01T09:15:00.123Z
    topic, partition, offset   where the message came from (null when unknown)
    raw_size            length of the original message in bytes
    raw_base64          the original bytes, base64 (standard alphabet, padded)
    raw_text            the same bytes as text, present only when they are valid UTF-8
    raw_truncated       present (true) only when max_raw_bytes cut the copy short

`pulse_events_rejected_total{reason}` carries the full reason: field names come from the
schema, so the label set is finite (REASON_LABELS); anything else maps to "other".
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from functools import cache

import orjson

from streams.events import REASONS, Rejection, field_names

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
OTHER_REASON_LABEL = "other"


def rfc3339_ms(epoch_ms: int) -> str:
    """Epoch milliseconds as RFC 3339 UTC with milliseconds: 2026-03-01T09:15:00.123Z."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_letter_record(
    raw: bytes,
    rejection: Rejection,
    *,
    topic: str | None,
    partition: int | None,
    offset: int | None,
    at_ms: int,
    max_raw_bytes: int | None = None,
) -> bytes:
    """The dead-letter record (JSON, UTF-8) for one rejected message.

    `max_raw_bytes` caps the copy of the original bytes (a record must fit the broker's
    message limit even when the reason is too_large); None keeps them whole.
    """
    raw = bytes(raw)
    kept = raw if max_raw_bytes is None else raw[:max_raw_bytes]
    record: dict[str, object] = {
        "reason": rejection.reason,
        "detail": rejection.detail,
        "rejected_at": rfc3339_ms(at_ms),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "raw_size": len(raw),
        "raw_base64": base64.b64encode(kept).decode("ascii"),
    }
    try:
        record["raw_text"] = kept.decode("utf-8")
    except UnicodeDecodeError:
        pass  # not text; raw_base64 alone carries it
    if len(kept) < len(raw):
        record["raw_truncated"] = True
    return orjson.dumps(record)


@cache
def reason_labels() -> frozenset[str]:
    """Every value `pulse_events_rejected_total{reason}` can take (to pre-create series)."""
    labels = {reason for reason in REASONS if not reason.endswith(":")}
    labels |= {prefix + name for prefix in REASONS if prefix.endswith(":") for name in field_names()}
    return frozenset(labels | {OTHER_REASON_LABEL})


def rejected_reason_label(reason: str) -> str:
    """The reason as a metric label: itself when it is one of the finite set, else "other"."""
    return reason if reason in reason_labels() else OTHER_REASON_LABEL
