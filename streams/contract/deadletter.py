"""Dead letters: the record kept for every rejected message, and its metric label.

Definition (contract v1; docs/events.md, "Dead letters"). One JSON object per rejected
message, the same for the `pulse.dead-letter` topic and for replay's JSONL file:

    reason, detail      the Rejection (reason from streams.contract.decoding.REASONS)
    rejected_at         RFC 3339 UTC with milliseconds, e.g. 2026-03-01T09:15:00.123Z
    topic, partition, offset   where the message came from (null when unknown)
    raw_size            length of the original message in bytes
    raw_sha256          SHA-256 of the whole original message, hex
    raw_text            the stored copy of the original bytes, when it is valid UTF-8 ...
    raw_base64          ... otherwise the stored copy, base64 (standard alphabet, padded)
    raw_truncated       present (true) only when the copy was cut to fit MAX_RECORD_BYTES

The copy is stored once (text or base64, never both) and cut, at a character boundary
when it is text, so that the whole record is at most MAX_RECORD_BYTES: a record always
fits a dead-letter topic that accepts messages of that size (Kafka's default, 1 MiB,
does), whatever the size of the rejected message (a too_large one can be as large as
the source topic allows). raw_size and raw_sha256 still describe the whole original, so
a cut copy can be matched with the message in the source topic.

`pulse_events_rejected_total{reason}` carries the full reason: field names come from the
schema, so the label set is finite (REASON_LABELS); anything else maps to "other".
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

import orjson

from streams.contract.decoding import REASONS, Rejection, field_names
from streams.contract.rfc3339 import rfc3339_ms

OTHER_REASON_LABEL = "other"
#: The largest dead-letter record, in bytes (docs/events.md). A quarter of Kafka's default
#: message limit: the copy of a message under the decoder's default max_bytes (64 KiB)
#: is kept whole (unless most of its characters are ones JSON escapes), and the
#: dead-letter topic needs no special setting.
MAX_RECORD_BYTES = 256 * 1024
#: A dead letter is sent with its message's key (it only spreads dead letters over the
#: topic's partitions); a longer key is cut to this length, so that the message fits too.
MAX_KEY_BYTES = 1024


def dead_letter_record(
    raw: bytes,
    rejection: Rejection,
    *,
    topic: str | None,
    partition: int | None,
    offset: int | None,
    at_ms: int,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> bytes:
    """The dead-letter record (JSON, UTF-8) for one rejected message, at most
    `max_record_bytes` long: the copy of the original is a prefix that fits, within about
    1 % of the longest one."""
    raw = bytes(raw)
    head: dict[str, object] = {
        "reason": rejection.reason,
        "detail": rejection.detail,
        "rejected_at": rfc3339_ms(at_ms),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
    }
    record = _encode(head, raw, len(raw))
    if len(record) <= max_record_bytes:
        return record
    empty = len(_encode(head, raw, 0))
    if empty > max_record_bytes:
        raise ValueError(
            f"a dead-letter record needs more than {max_record_bytes} bytes without any copy"
        )
    # The copy's encoded size grows about in proportion to its length (escapes, base64):
    # shrink it by the ratio it is over, a little more, until it fits (two or three
    # encodings; the record ends within about 1 % of the cap).
    length = len(raw)
    for _ in range(8):
        length = min(
            length - 1, int(length * (max_record_bytes - empty) / (len(record) - empty) * 0.995)
        )
        record = _encode(head, raw, length)
        if len(record) <= max_record_bytes:
            return record
    low, high, record = (
        0,
        length,
        _encode(head, raw, 0),
    )  # uneven escapes: bisect for the longest that fits
    while low < high:
        middle = (low + high + 1) // 2
        candidate = _encode(head, raw, middle)
        if len(candidate) <= max_record_bytes:
            record, low = candidate, middle
        else:
            high = middle - 1
    return record


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The key a dead letter is sent with: the message's own, cut to MAX_KEY_BYTES."""
    return key if key is None or len(key) <= MAX_KEY_BYTES else bytes(key[:MAX_KEY_BYTES])


def _encode(head: dict[str, object], raw: bytes, length: int) -> bytes:
    """The record with the first `length` bytes of `raw` as its copy: as text when they
    are valid UTF-8 (a cut inside a character moves back to the character's start)."""
    record = dict(head)
    kept = raw[:length]
    text = _utf8(kept, cut=length < len(raw))
    if text is not None:
        record["raw_text"] = text
        kept_length = len(text.encode("utf-8"))
    else:
        record["raw_base64"] = base64.b64encode(kept).decode("ascii")
        kept_length = len(kept)
    if kept_length < len(raw):
        record["raw_truncated"] = True
    return orjson.dumps(record)


def _utf8(data: bytes, *, cut: bool) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        # a cut can split the last character (at most 3 bytes of it are left): drop them
        if cut and error.start >= len(data) - 3 and error.reason == "unexpected end of data":
            try:
                return data[: error.start].decode("utf-8")
            except UnicodeDecodeError:
                return None
        return None


@cache
def reason_labels() -> frozenset[str]:
    """Every value `pulse_events_rejected_total{reason}` can take (to pre-create series)."""
    labels = {reason for reason in REASONS if not reason.endswith(":")}
    labels |= {
        prefix + name for prefix in REASONS if prefix.endswith(":") for name in field_names()
    }
    return frozenset(labels | {OTHER_REASON_LABEL})


def rejected_reason_label(reason: str) -> str:
    """The reason as a metric label: itself when it is one of the finite set, else "other"."""
    return reason if reason in reason_labels() else OTHER_REASON_LABEL
