"""A hostile stream never crashes the decoder: every input yields an Event or a Rejection
whose reason is one of REASONS (field names from the schema). Thousands of cases."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.contract.decoding import (
    REASONS,
    Decoder,
    Rejection,
    field_names,
    iter_examples,
    reason_code,
)
from streams.contract.model import SOURCE_TOPICS, Event
from tests.support.strategies import json_values

EXAMPLES = [example for _, example in iter_examples()]
DECODERS = [
    Decoder(),
    Decoder(max_bytes=512, currencies={"USD", "EUR"}),
    Decoder(max_bytes=10_000_000),
]

JSON_VALUES = json_values(max_int=2**64 - 1, text_size=50, children=4, key_size=10, max_leaves=12)

HOSTILE_LITERALS = [
    b"NaN",
    b"-Infinity",
    b"Infinity",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"123456789012345678901234567890",
    b"-0",
    b"0.0000000000000000000000000001",
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\u0000"',
    b"true",
    b"null",
    b'"' + b"x" * 70_000 + b'"',
    b"[" * 3000 + b"]" * 3000,
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b"\xed\xa0\x80",
    b'"\xff"',
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"0x10",
    b"[1,]",
    b'{"a":1,}',
    b"'x'",
]


def broken_event(example: dict[str, Any], name: str, literal: bytes) -> bytes:
    """An example with one field's JSON text replaced by a raw literal (possibly not JSON)."""
    raw = orjson.dumps({k: (v if k != name else "\x00SLOT\x00") for k, v in example.items()})
    return raw.replace(orjson.dumps("\x00SLOT\x00"), literal)


# The strategies of hostile_messages, made once: a strategy made anew in every draw is
# validated anew by hypothesis, which was a large part of the test's time.
KINDS = st.integers(0, 7)
AN_EXAMPLE = st.sampled_from(EXAMPLES)
FIELDS_OF = {tuple(sorted(example)): st.sampled_from(sorted(example)) for example in EXAMPLES}
BINARY = st.binary(max_size=300)
LITERALS = st.sampled_from(HOSTILE_LITERALS)
DEPTHS = st.integers(1, 5000)
NESTINGS = st.sampled_from([(b"[", b"]"), (b'{"k":', b"}")])
HUGE_SIZES = st.sampled_from([129, 2001, 65_536, 200_000])
HUGE_CHARACTERS = st.sampled_from("x\u00e9\U0001f600")
BYTES = st.integers(0, 255)
CUTS = st.integers(0, 2)
SWAPPED_TYPES = st.sampled_from([e["type"] for e in EXAMPLES] + ["", "x", 5])
WRAPPERS = st.sampled_from([bytes, bytearray, memoryview])


@st.composite
def hostile_messages(draw: st.DrawFn) -> bytes | bytearray | memoryview:
    kind = draw(KINDS)
    example = draw(AN_EXAMPLE)
    field = draw(FIELDS_OF[tuple(sorted(example))])
    if kind == 0:
        raw = draw(BINARY)
    elif kind == 1:  # any JSON document at all
        raw = orjson.dumps(draw(JSON_VALUES))
    elif kind == 2:  # a valid event with one field replaced by any JSON value
        raw = orjson.dumps(example | {field: draw(JSON_VALUES)})
    elif kind == 3:  # a valid event with one field replaced by a hostile literal
        raw = broken_event(example, field, draw(LITERALS))
    elif kind == 4:  # deep nesting, inside a known field or an unknown one
        depth = draw(DEPTHS)
        opener, closer = draw(NESTINGS)
        raw = broken_event(
            example | {"extra": 0},
            draw(st.sampled_from([field, "extra"])),
            opener * depth + b"0" + closer * depth,
        )
    elif kind == 5:  # huge strings
        size = draw(HUGE_SIZES)
        raw = orjson.dumps(example | {field: draw(HUGE_CHARACTERS) * size})
    elif kind == 6:  # a valid event, its bytes flipped or cut
        raw = orjson.dumps(example)
        position = draw(st.integers(0, len(raw) - 1))
        raw = raw[:position] + bytes([draw(BYTES)]) + raw[position + draw(CUTS) :]
    else:  # a field dropped, a type swapped
        event = {k: v for k, v in example.items() if k != field}
        event["type"] = draw(SWAPPED_TYPES)
        raw = orjson.dumps(event)
    return draw(WRAPPERS)(raw)


@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    hostile_messages(),
    st.sampled_from(DECODERS),
    st.sampled_from([None, *SOURCE_TOPICS, "elsewhere"]),
)
def test_decode_never_raises_and_reasons_are_listed(
    raw: bytes, decoder: Decoder, topic: str | None
) -> None:
    check(decoder.decode(raw, topic))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_short_random_bytes(raw: bytes) -> None:
    check(DECODERS[0].decode(raw))


def check(result: object) -> None:
    """An Event, or a Rejection with a listed reason, a named schema field, a sentence."""
    if isinstance(result, Rejection):
        code = reason_code(result.reason)
        assert code in REASONS
        if code.endswith(":"):
            assert result.reason[len(code) :] in field_names()
        assert "Internal error" not in result.detail, result.detail
        assert isinstance(result.detail, str) and result.detail
    else:
        assert isinstance(result, Event)
        assert type(result.occurred_at) is int
