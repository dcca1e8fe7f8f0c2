"""Which event ids a finite input can repeat: the only ids a replay of files remembers.

Admission (streams/ingest/admission.py) finds an event a DUPLICATE only when the same
event_id was accepted before it in the same lane. In an input that can be read before it is
run (`pulse replay` of files), an id that occurs once can never be found again, so
remembering it changes no verdict: it costs memory (about 50 bytes per id plus the id,
streams/ingest/remembered_ids.py) and time, and nothing else.

`repeated_keys` reads the lines once, in blocks of whole lines (`line_blocks`), and
returns the keys (`id_key`: xxh3 of the id's UTF-8 bytes) of every id that occurs more than
once, plus a few of ids that do not:

- The id of a line is the decoded event's `event_id`. A plain line (no backslash, one
  `"event_id"` token, written `"event_id":"...`) holds its bytes verbatim between the
  quotes: without escapes, no JSON decoder can read them otherwise. A block without a
  backslash whose every `"event_id"` token opens an object, written `{"event_id":"...`
  (what the generator and most producers write), is read in one regular-expression scan
  (`block_ids`): every token's value, so each line's top-level id, and from a line that
  also nests one (which the decoder refuses or not) a stray id, which can only make
  another line's id remembered needlessly. Any other block is read line by line
  (`plain_id`), and a line that is not plain is decoded by `decode` (the pipeline's own
  decoder): one that is rejected has no id that could be remembered.
- The keys are held in 64 arrays by their low bits, 8 bytes per line, and each array is
  counted at the end (a set first: most hold no repeat). Exact: a key read twice is kept.
  Past `MAX_HELD_KEYS` lines (about 3 GB of JSONL) the held keys go into a Bloom filter of
  two bits per id, from the key's low and high 32 bits, and so do the rest: an id whose
  two bits are both set already is kept. The first occurrence of an id sets its bits, so
  every later one finds them: every repeated id is kept, exactly. An id that occurs once
  is kept only when other ids happened to set both of its bits (a false positive, about
  0.5 % of the ids at 16 bits per 100 bytes of input), which only means it is remembered
  as before. Either way admission remembering only the kept ids gives the verdicts of
  remembering every id, and the dedup stays exact: a kept id is found by its bytes, as
  always. The filter was the only way before; the arrays are about three times faster
  (one append per id against a dozen operations on 64-bit integers).
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from xxhash import xxh3_64_intdigest

from streams.contract.decoding import Rejection
from streams.contract.model import Event

_KEY = b'"event_id"'
_KEY_VALUE = b'"event_id":"'
_OPENING = b'{"event_id":"'
_OPENING_IDS = re.compile(rb'\{"event_id":"([^"\\\n]*)"')
"""Every `{"event_id":"..."` of a block: the id, up to its closing quote on the same line."""
BITS_PER_100_BYTES = 16
"""The filter's size: 16 bits per 100 bytes of input (at least one bit per 12 bytes of a
line of JSON, so at least 27 bits per id for lines of 170 bytes)."""
MIN_BITS = 1 << 16
MAX_BITS = 1 << 30
"""At most 128 MiB of filter, whatever the input: past about 7 GB of lines the false
positives grow (more ids are remembered than need be), never the answers."""
MAX_HELD_KEYS = 1 << 24
"""Keys held exactly (128 MiB of them, the filter's largest size) before the filter takes
over."""
_BUCKETS = 64
BLOCK_BYTES = 1 << 20
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


def line_blocks(read: Callable[[int], bytes], size: int = BLOCK_BYTES) -> Iterator[bytes]:
    """The bytes `read` gives, in blocks of whole lines of about `size` bytes, each ending
    with a line break (one is added to a last line without it)."""
    rest = b""
    while chunk := read(size):
        chunk = rest + chunk if rest else chunk
        cut = chunk.rfind(b"\n") + 1
        if cut:
            yield chunk[:cut]
        rest = chunk[cut:]
    if rest:
        yield rest + b"\n"


def line_id(line: bytes, decode: Callable[[bytes], Event | Rejection]) -> bytes | None:
    """The event_id's UTF-8 bytes of one line (with or without its line break), or None
    when the line is rejected."""
    data = plain_id(line)
    if data is None:
        decoded = decode(line.rstrip(b"\r\n"))
        if isinstance(decoded, Rejection):
            return None
        data = decoded.event_id.encode()
    return data


def block_ids(block: bytes, decode: Callable[[bytes], Event | Rejection]) -> list[bytes]:
    """The ids of a block's lines, in order, and perhaps stray ones (see the header); a
    rejected line gives none."""
    ids: list[bytes] = _OPENING_IDS.findall(block)
    if len(ids) == block.count(_KEY) and block.find(b"\\") < 0:
        return ids  # every token read: each line's top-level one among them
    return [data for line in block.splitlines() if (data := line_id(line, decode)) is not None]


def repeated_keys(
    blocks: Iterable[bytes],
    bits: int,
    decode: Callable[[bytes], Event | Rejection],
    max_held: int = MAX_HELD_KEYS,
) -> set[int]:
    """The keys of the ids that occur more than once in `blocks` (bytes of whole lines),
    exactly while at most `max_held` lines are read, then with a filter of `bits` (a power
    of two) and its false positives (see the header)."""
    held = [array("Q") for _ in range(_BUCKETS)]
    bucket_mask, count = _BUCKETS - 1, 0
    bloom: _Bloom | None = None
    for block in blocks:
        keys = list(map(xxh3_64_intdigest, block_ids(block, decode)))
        if bloom is not None:
            bloom.add(keys)
            continue
        for key in keys:
            held[key & bucket_mask].append(key)
        count += len(keys)
        if count > max_held:
            bloom = _Bloom(bits)
            for bucket in held:
                bloom.add(bucket)
            held = []
    kept = set() if bloom is None else bloom.kept
    for bucket in held:
        if len(set(bucket)) < len(bucket):
            kept.update(key for key, times in Counter(bucket).items() if times > 1)
    return kept


class _Bloom:
    """Two bits per key, from its low and high 32 bits; `kept`: the keys whose two bits
    were both set already when they were added."""

    def __init__(self, bits: int) -> None:
        self.seen = bytearray(bits // 8)
        self.mask = bits - 1
        self.kept: set[int] = set()

    def add(self, keys: Iterable[int]) -> None:
        seen, mask, kept = self.seen, self.mask, self.kept
        for key in keys:
            low, high = key & mask, (key >> 32) & mask
            low_bit, high_bit = 1 << (low & 7), 1 << (high & 7)
            if seen[low >> 3] & low_bit and seen[high >> 3] & high_bit:
                kept.add(key)
            else:
                seen[low >> 3] |= low_bit
                seen[high >> 3] |= high_bit
