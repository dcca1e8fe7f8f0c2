"""Which event ids a finite input can repeat: the only ids a replay of files remembers.

Admission (streams/ingest/admission.py) finds an event a DUPLICATE only when the same
event_id was accepted before it in the same lane. In an input that can be read before it is
run (`pulse replay` of files), an id that occurs once can never be found again, so
remembering it changes no verdict: it costs memory (about 50 bytes per id plus the id,
streams/ingest/remembered_ids.py) and time, and nothing else.

`repeated_keys` reads the lines once and returns the keys (`id_key`: xxh3 of the id's
UTF-8 bytes) of every id that occurs more than once, plus a few of ids that do not:

- a Bloom filter of two bits per id, from the key's low and high 32 bits: an id whose two
  bits are both set already is kept. The first occurrence of an id sets its bits, so every
  later occurrence finds them: every repeated id is kept, exactly. An id that occurs once
  is kept only when other ids happened to set both of its bits (a false positive, about
  0.5 % of the ids at 16 bits per 100 bytes of input), which only means it is remembered
  as before. So admission remembering only the kept ids gives the verdicts of remembering
  every id, and the dedup stays exact: a kept id is found by its bytes, as always.
- The id of a line is the decoded event's `event_id`. A plain line (no backslash, one
  `"event_id"` token, written `"event_id":"...`) holds its bytes verbatim between the
  quotes: without escapes, no JSON decoder can read them otherwise. Any other line is
  decoded by `decode` (the pipeline's own decoder), and one that is rejected has no id
  that could be remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from xxhash import xxh3_64_intdigest

from streams.contract.decoding import Rejection
from streams.contract.model import Event

_KEY = b'"event_id"'
_KEY_VALUE = b'"event_id":"'
_OPENING = b'{"event_id":"'
BITS_PER_100_BYTES = 16
"""The filter's size: 16 bits per 100 bytes of input (at least one bit per 12 bytes of a
line of JSON, so at least 27 bits per id for lines of 170 bytes)."""
MIN_BITS = 1 << 16
MAX_BITS = 1 << 30
"""At most 128 MiB of filter, whatever the input: past about 7 GB of lines the false
positives grow (more ids are remembered than need be), never the answers."""
GZIP_RATIO = 8
"""A compressed input's lines are taken as this many times its size (JSONL of events
gzips 6 to 12 times)."""


def filter_bits(input_bytes: int) -> int:
    """The filter's size in bits for `input_bytes` of lines: a power of two."""
    wanted = max(MIN_BITS, input_bytes * BITS_PER_100_BYTES // 100)
    bits = MIN_BITS
    while bits < wanted and bits < MAX_BITS:
        bits *= 2
    return bits


def plain_id(line: bytes) -> bytes | None:
    """The event_id's UTF-8 bytes of a plain line (see the header), or None. (Each check is
    one C-speed scan: this runs once per line of a replay.)"""
    at = 1 if line.startswith(_OPENING) else line.find(_KEY_VALUE)
    if at < 0:
        return None
    start = at + len(_KEY_VALUE)
    end = line.find(b'"', start)
    if (
        end < 0
        or line.find(b"\\") >= 0
        or line.find(_KEY, end) >= 0
        or (at > 1 and line.find(_KEY, 0, at + len(_KEY) - 1) >= 0)
    ):
        return None
    return line[start:end]


def repeated_keys(
    lines: Iterable[bytes], bits: int, decode: Callable[[bytes], Event | Rejection]
) -> set[int]:
    """The keys of the ids that occur more than once in `lines`, and false positives
    (see the header); `bits` is the filter's size, a power of two. A line may end in its
    line break."""
    seen = bytearray(bits // 8)
    mask = bits - 1
    kept: set[int] = set()
    for line in lines:
        data = plain_id(line)
        if data is None:
            decoded = decode(line.rstrip(b"\r\n"))
            if isinstance(decoded, Rejection):
                continue
            data = decoded.event_id.encode()
        key = xxh3_64_intdigest(data)
        low, high = key & mask, (key >> 32) & mask
        low_bit, high_bit = 1 << (low & 7), 1 << (high & 7)
        if seen[low >> 3] & low_bit and seen[high >> 3] & high_bit:
            kept.add(key)
        else:
            seen[low >> 3] |= low_bit
            seen[high >> 3] |= high_bit
    return kept
