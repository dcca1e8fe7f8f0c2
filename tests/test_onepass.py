"""The decoder's one pass (streams/contract/onepass.py) gives exactly what the long way
gives: the same event (type, fields, Decimal digits) or the same reason and sentence, for
valid events, near misses, other spellings of the same JSON and hostile bytes. And the
translation refuses every schema construct it cannot reproduce, so that a type it cannot
express takes the long way rather than a looser check."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from streams.contract.decoding import Decoder, Rejection, iter_examples, load_schema, type_schema
from streams.contract.model import CLASS_OF_TYPE, EVENT_TYPES, SOURCE_TOPICS, TOPIC_OF_TYPE
from streams.contract.onepass import wire_struct
from tests.test_events_fuzz import hostile_messages
from tests.test_schemas import candidate_events, timestamps

SCHEMA = load_schema()
EXAMPLES = list(iter_examples())
PAIRS = [
    (Decoder(), Decoder(one_pass=False)),
    (
        Decoder(max_bytes=600, currencies={"USD", "EUR"}, rate_known=lambda c, t: c != "EUR"),
        Decoder(
            max_bytes=600,
            currencies={"USD", "EUR"},
            rate_known=lambda c, t: c != "EUR",
            one_pass=False,
        ),
    ),
]
TOPICS = st.sampled_from([None, *SOURCE_TOPICS, "elsewhere"])


def outcome(result: object) -> tuple[str, str]:
    """What a decode gave, in full: the event's repr (its class, every field, the Decimal
    digits) or the rejection's reason and sentence."""
    if isinstance(result, Rejection):
        return result.reason, result.detail
    return type(result).__name__, repr(result)


def check_same(raw: bytes, topic: str | None) -> None:
    for one_pass, long_way in PAIRS:
        expected = outcome(long_way.decode(raw, topic))
        note(f"{raw!r} on {topic}: {expected}")
        assert outcome(one_pass.decode(raw, topic)) == expected


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidate_events(), TOPICS)
def test_one_pass_equals_the_long_way_on_schema_cases(obj: dict[str, Any], topic: str) -> None:
    check_same(orjson.dumps(obj), topic)


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_messages(), TOPICS)
def test_one_pass_equals_the_long_way_on_hostile_bytes(raw: Any, topic: str | None) -> None:
    check_same(raw, topic)


# Other spellings of one JSON value, which orjson.dumps never writes.
SPELLINGS: dict[str, list[bytes]] = {
    "number": [b"19", b"19.0", b"19.990", b"1.999e1", b"1999E-2", b"-0", b"-0.0", b"0e0"]
    + [b"1e12", b"1000000000000.0001", b"0.1", b"123456.78901234567", b"5e-324", b"1e-400"],
    "integer": [b"3", b"3.0", b"3e0", b"30e-1", b"-0", b"1e2", b"99999999999999999999"],
}


@st.composite
def respelled_events(draw: st.DrawFn) -> bytes:
    """A schema example with one value, one key or the layout written another way."""
    event_type, example = draw(st.sampled_from(EXAMPLES))
    props = {
        name: prop
        for part in type_schema(SCHEMA, event_type)["allOf"]
        for name, prop in part.get("properties", {}).items()
    }
    raw = orjson.dumps(example)
    name = draw(st.sampled_from(sorted(example)))
    kind = draw(st.integers(0, 5))
    if kind == 0:  # a number spelled otherwise
        literal = draw(st.sampled_from(SPELLINGS["number"] + SPELLINGS["integer"]))
        raw = raw.replace(
            orjson.dumps({name: example[name]})[1:-1], f'"{name}":'.encode() + literal
        )
    elif kind == 1:  # a key with an escape
        escaped = "".join(f"\\u{ord(c):04x}" if draw(st.booleans()) else c for c in name)
        raw = raw.replace(f'"{name}":'.encode(), f'"{escaped}":'.encode(), 1)
    elif kind == 2:  # the key twice, the first or the last one changed
        other = draw(st.sampled_from([None, "", "x", 0, example[name], "2026-03-01T09:15:00Z"]))
        pair = orjson.dumps({name: other})[1:-1]
        raw = (
            raw[:1] + pair + b"," + raw[1:]
            if draw(st.booleans())
            else raw[:-1] + b"," + pair + b"}"
        )
    elif kind == 3:  # whitespace between tokens
        space = draw(st.sampled_from([b" ", b"\t", b"\r\n", b"\n  "]))
        raw = raw.replace(b'":', b'":' + space).replace(b",", space + b"," + space)
    elif kind == 4 and any(p.get("format") == "date-time" for p in props.values()):  # times
        field = draw(
            st.sampled_from([n for n, p in props.items() if p.get("format") == "date-time"])
        )
        stamp = draw(
            timestamps()
            | st.sampled_from(
                [
                    "2026-03-01T09:15:60Z",
                    "2026-03-01T24:00:00Z",
                    "2026-03-01 09:15:00Z",
                    "2026-03-01T09:15:00",
                    "2026-03-01T09:15:00.1234567891Z",
                    "2026-03-01T09:15:00.9999999Z",
                    "2026-03-01T09:15:00+24:00",
                    "2026-03-01T09:15:00+0100",
                    "2026-02-29T00:00:00Z",
                    "2000-02-29T00:00:00Z",
                    "1900-02-29T00:00:00Z",
                    "0000-01-01T00:00:00Z",
                    "0001-01-01T00:00:00.999999999-23:59",
                    "9999-12-31T23:59:59.999999999+00:01",
                    "2026-03-01T09:15:00Z\n",
                    "2026-03-01t09:15:00.5z",
                ]
            )
        )
        raw = orjson.dumps(example | {field: stamp})
    else:  # a string with escapes, astral characters, or at a length limit
        value = draw(
            st.sampled_from(
                ["\\u0041BC", "\\ud83d\\ude00", "\\u0000", "\\/", "usd", "\\u00e9" * 64]
            )
        )
        raw = raw.replace(orjson.dumps({name: example[name]})[1:-1], f'"{name}":"{value}"'.encode())
    return raw


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(respelled_events(), TOPICS)
def test_one_pass_equals_the_long_way_on_other_spellings(raw: bytes, topic: str | None) -> None:
    check_same(raw, topic)


@pytest.mark.parametrize(("event_type", "example"), EXAMPLES)
def test_every_example_takes_the_one_pass_where_the_schema_allows(
    event_type: str, example: dict[str, Any]
) -> None:
    """The speed is not lost silently: every type but the one with conditions has a wire
    struct, and decodes the schema's examples in one pass."""
    wire = wire_struct(event_type, type_schema(SCHEMA, event_type), CLASS_OF_TYPE[event_type])
    if event_type == "survey_response":  # its score's range depends on the survey (if/then)
        assert wire is None
        return
    assert wire is not None
    struct = msgspec.json.decode(orjson.dumps(example), type=wire)
    assert msgspec.structs.asdict(struct).keys() <= {
        f.name for f in msgspec.structs.fields(CLASS_OF_TYPE[event_type])
    }


ENVELOPE = {
    "type": "object",
    "required": ["event_id", "type", "occurred_at", "account_id"],
    "properties": {
        "type": {"type": "string"},
        **{
            name: {"type": "string", "minLength": 1}
            for name in ("event_id", "occurred_at", "account_id", "user_id")
        },
    },
}
PLAIN = b'{"type":"login","event_id":"e","occurred_at":"t","account_id":"a","session_id":"%s"}'


def definition(body_props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "allOf": [
            ENVELOPE,
            {"required": [], "properties": {"type": {"const": "login"}, **body_props}, **extra},
        ]
    }


@pytest.mark.parametrize(
    "unsupported",
    [
        definition({"session_id": {"type": ["string", "null"]}}),
        definition(
            {"session_id": {"type": "string", "maxLength": 3, "format": "email"}}, **{"if": {}}
        ),
        definition({"session_id": {"anyOf": [{"type": "string"}]}}),
        definition({"session_id": {"type": "integer", "minimum": 0}}),  # no maximum
        definition({"session_id": {"type": "integer", "minimum": 0, "maximum": 2**64}}),
        definition({"session_id": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}),
        definition(
            {"session_id": {"type": "integer", "minimum": 0, "maximum": 9, "multipleOf": 2}}
        ),
        definition({"session_id": {"enum": ["a", 1]}}),
        definition({"session_id": {"type": "string", "maxLength": 3}, "x": {"type": "boolean"}}),
        definition({"session_id": {"type": "string"}}, additionalProperties=False),
        {"allOf": [ENVELOPE, {"properties": {"type": {"const": "logout"}}}]},  # another tag
        {"allOf": [ENVELOPE, {"properties": {"type": {"const": "login"}}}], "not": {}},
        {"allOf": [ENVELOPE, {"properties": {"type": {"const": "login"}}}, True]},
    ],
)
def test_constructs_without_an_exact_translation_take_the_long_way(
    unsupported: dict[str, Any],
) -> None:
    assert wire_struct("login", unsupported, CLASS_OF_TYPE["login"]) is None


def test_a_supported_definition_translates() -> None:
    """The counterpart of the refusals above: their plain form does translate."""
    plain = definition({"session_id": {"type": "string", "maxLength": 3, "format": "email"}})
    wire = wire_struct("login", plain, CLASS_OF_TYPE["login"])
    assert wire is not None
    assert msgspec.json.decode(PLAIN % b"abc", type=wire)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(PLAIN % b"abcd", type=wire)


def test_every_source_topic_has_types_in_one_pass() -> None:
    topics = {
        TOPIC_OF_TYPE[t]
        for t in EVENT_TYPES
        if wire_struct(t, type_schema(SCHEMA, t), CLASS_OF_TYPE[t]) is not None
    }
    assert topics == set(SOURCE_TOPICS) - {"pulse.surveys"}
