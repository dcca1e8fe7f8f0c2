"""The schema file is valid JSON Schema 2020-12, its examples hold, it matches the typed
model and the docs, and the decoder's compiled validator agrees with `jsonschema` on
every example and on generated cases."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from streams.contract.decoding import (
    Decoder,
    Rejection,
    _type_specs,
    iter_examples,
    load_schema,
    properties_of_type,
    required_of_type,
)
from streams.contract.model import CLASS_OF_TYPE, EVENT_TYPES, TOPIC_OF_TYPE, Event
from tests.support.strategies import json_values

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = load_schema()
EXAMPLES_DIR = ROOT / "schemas" / "examples"
REFERENCE = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
COMPILED_WHOLE = fastjsonschema.compile(SCHEMA, use_formats=False, use_default=False)
DECODER = Decoder()
TYPE_SPECS = _type_specs()


def jsonl(name: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in (EXAMPLES_DIR / name).read_text("utf-8").splitlines()
        if line.strip()
    ]


def compiled_accepts(obj: Any) -> bool:
    try:
        COMPILED_WHOLE(obj)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def _raises(validate: Any, obj: Any) -> bool:
    try:
        validate(obj)
    except fastjsonschema.JsonSchemaValueException:
        return True
    return False


def decoder_accepts(obj: Any) -> bool:
    return isinstance(DECODER.decode(orjson.dumps(obj)), Event)


# --------------------------------------------------------------------------- the file itself


def test_schema_is_valid_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_type_has_a_definition_topic_and_example() -> None:
    assert SCHEMA["properties"]["type"]["enum"] == list(EVENT_TYPES)
    for event_type in EVENT_TYPES:
        definition = SCHEMA["$defs"][event_type]
        assert definition["x-topic"] == TOPIC_OF_TYPE[event_type]
        assert definition["examples"], event_type
        assert {
            "if": {"required": ["type"], "properties": {"type": {"const": event_type}}},
            "then": {"$ref": f"#/$defs/{event_type}"},
        } in SCHEMA["allOf"]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_schema_fields_are_the_model_fields(event_type: str) -> None:
    declared = set(properties_of_type(SCHEMA, event_type))
    assert declared == {f.name for f in msgspec.structs.fields(CLASS_OF_TYPE[event_type])}


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_schema_defaults_are_the_model_defaults(event_type: str) -> None:
    props = properties_of_type(SCHEMA, event_type)
    with_default = [
        f for f in msgspec.structs.fields(CLASS_OF_TYPE[event_type]) if "default" in props[f.name]
    ]
    for f in with_default:
        assert f.default is not msgspec.NODEFAULT
        assert f.default == props[f.name]["default"] and type(f.default) is (
            Decimal if props[f.name]["type"] == "number" else int
        )


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize(("event_type", "example"), list(iter_examples()))
def test_schema_examples_validate_and_decode(event_type: str, example: dict[str, Any]) -> None:
    assert REFERENCE.is_valid(example), list(REFERENCE.iter_errors(example))
    assert compiled_accepts(example)
    event = DECODER.decode(orjson.dumps(example), TOPIC_OF_TYPE[event_type])
    assert isinstance(event, CLASS_OF_TYPE[event_type]) and event.type == event_type


def test_valid_jsonl_holds_every_schema_example() -> None:
    valid = jsonl("valid.jsonl")
    for _, example in iter_examples():
        assert example in valid


@pytest.mark.parametrize("line", jsonl("valid.jsonl"), ids=lambda d: d["event_id"])
def test_valid_jsonl_validates_and_decodes(line: dict[str, Any]) -> None:
    assert REFERENCE.is_valid(line), list(REFERENCE.iter_errors(line))
    assert compiled_accepts(line)
    assert isinstance(DECODER.decode(orjson.dumps(line)), CLASS_OF_TYPE[line["type"]])


@pytest.mark.parametrize("line", jsonl("invalid.jsonl"), ids=lambda d: d["_expect"])
def test_invalid_jsonl_is_rejected_with_its_reason(line: dict[str, Any]) -> None:
    assert not REFERENCE.is_valid(line)
    assert not compiled_accepts(line)
    rejection = DECODER.decode(orjson.dumps(line))
    assert isinstance(rejection, Rejection) and rejection.reason == line["_expect"], rejection


def test_invalid_jsonl_covers_every_field_of_every_type() -> None:
    """Each field a type declares is broken (or dropped) by at least one invalid line."""
    broken = {
        reason.split(":", 1)[1]
        for reason in (d["_expect"] for d in jsonl("invalid.jsonl"))
        if ":" in reason
    }
    declared = {name for t in EVENT_TYPES for name in properties_of_type(SCHEMA, t)} - {"type"}
    assert declared <= broken, declared - broken


def docs_examples() -> list[dict[str, Any]]:
    text = (ROOT / "docs" / "events.md").read_text("utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    return [
        obj
        for obj in map(json.loads, blocks)
        if isinstance(obj, dict) and obj.get("type") in TOPIC_OF_TYPE
    ]


def test_docs_show_exactly_the_schema_examples() -> None:
    shown = docs_examples()
    schema_examples = [example for _, example in iter_examples()]

    def canonical(obj: dict[str, Any]) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)

    assert sorted(map(canonical, shown)) == sorted(map(canonical, schema_examples))
    assert all(REFERENCE.is_valid(example) for example in shown)


# --------------------------------------------------------------------------- agreement on generated cases

TIMESTAMP_NEAR_MISSES = [
    "2026-03-01T09:15:00Z",
    "2026-03-01T09:15:00Z\n",
    "2026-03-01T09:15:00",
    "2026-03-01 09:15:00Z",
    "2026-02-29T00:00:00Z",
    "2028-02-29T00:00:00Z",
    "2100-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-03-01T09:15:60Z",
    "2026-03-01T24:00:00Z",
    "2026-03-01T09:15:00+0100",
    "2026-03-01T09:15:00+24:00",
    "2026-03-01T09:15:00.Z",
    "2026-03-01T09:15:00.1234567891Z",
    "\u0662\u0660\u0662\u0666-03-01T09:15:00Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "2026-3-01T09:15:00Z",
    "2026-03-01T09:15Z",
    "2026-03-01T09:15:00z\n",
]
CURRENCY_NEAR_MISSES = [
    "usd",
    "USD",
    "US",
    "USDX",
    "USD\n",
    "U5D",
    "\u00dcSD",
    "eur",
    " EUR",
    "",
    "JPY",
]
SCALAR_NEAR_MISSES = [
    0,
    1,
    -1,
    2.0,
    1.5,
    -0.0,
    0.5,
    4,
    5,
    6,
    7,
    8,
    10,
    11,
    64,
    65,
    100,
    100.5,
    128,
    129,
    1000,
    1001,
    10**6,
    10**6 + 1,
    10**12,
    10**12 + 1,
    10**12 + 0.5,
    2**63 - 1,
    True,
    False,
    None,
    [],
    {},
    "",
    "a" * 64,
    "a" * 65,
    "a" * 128,
    "a" * 129,
    "c" * 2000,
    "c" * 2001,
    "5",
]


def per_property(
    build: Callable[[dict[str, Any]], st.SearchStrategy[Any]],
) -> Callable[[dict[str, Any]], st.SearchStrategy[Any]]:
    """`build` made once per distinct property: a strategy made anew in every draw is
    validated anew by hypothesis, which was most of the agreement test's time. The values
    drawn are the same."""
    made: dict[str, st.SearchStrategy[Any]] = {}

    def cached(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
        key = json.dumps(prop, sort_keys=True)
        if key not in made:
            made[key] = build(prop)
        return made[key]

    return cached


@per_property
def near_misses(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values at and just beyond one property's rules (its edges and its look-alikes)."""
    if prop.get("pattern") == SCHEMA["$defs"]["timestamp"]["pattern"]:
        return st.sampled_from(TIMESTAMP_NEAR_MISSES)
    if prop.get("pattern") == SCHEMA["$defs"]["currency"]["pattern"]:
        return st.sampled_from(CURRENCY_NEAR_MISSES)
    if "enum" in prop or "const" in prop:
        allowed = list(prop.get("enum", [prop.get("const")]))
        return st.sampled_from(
            allowed
            + [a.upper() for a in allowed]
            + [a + " " for a in allowed]
            + list(EVENT_TYPES)
            + [None, 1]
        )
    edges: list[Any] = []
    for bound in ("minimum", "maximum"):
        if bound in prop:
            edges += [
                prop[bound] - 1,
                prop[bound],
                prop[bound] + 1,
                prop[bound] + 0.5,
                prop[bound] - 0.5,
                float(prop[bound]),
            ]
    for bound in ("minLength", "maxLength"):
        if bound in prop:
            edges += ["x" * max(prop[bound] - 1, 0), "x" * prop[bound], "x" * (prop[bound] + 1)]
    return st.sampled_from(edges + SCALAR_NEAR_MISSES)


JSON_VALUES = json_values(max_int=2**63 - 1, text_size=40, children=3, key_size=8, max_leaves=8)


MOMENTS = st.datetimes()
FRACTIONS = st.text("0123456789", min_size=1, max_size=9).map(lambda d: "." + d) | st.just("")
OFFSETS = st.sampled_from("Zz") | st.builds(
    lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
    st.sampled_from("+-"),
    st.integers(0, 23),
    st.integers(0, 59),
)
SEPARATORS = st.sampled_from("Tt")


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """Strings the contract's date-time rule accepts, in all their allowed spellings."""
    moment = draw(MOMENTS)
    fraction = draw(FRACTIONS)
    offset = draw(OFFSETS)
    return f"{moment:%Y-%m-%d}{draw(SEPARATORS)}{moment:%H:%M:%S}{fraction}{offset}"


@per_property
def value_for(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that satisfy one property's own rules (conditions across fields aside)."""
    if "const" in prop:
        return st.just(prop["const"])
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    if prop.get("pattern") == SCHEMA["$defs"]["timestamp"]["pattern"]:
        return timestamps()
    if prop.get("pattern") == SCHEMA["$defs"]["currency"]["pattern"]:
        return st.from_regex(r"[A-Za-z]{3}", fullmatch=True)
    if prop.get("type") == "string":
        return st.text(
            min_size=prop.get("minLength", 0), max_size=min(prop.get("maxLength", 200), 200)
        )
    low, high = prop.get("minimum"), prop.get("maximum")
    integers = st.integers(low, high)
    if prop.get("type") == "integer":
        return integers | integers.map(float)
    return integers | st.floats(low, high, allow_nan=False, allow_infinity=False)


EXTRA_FIELDS = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=2)
MUTATIONS = st.sampled_from(["none", "drop", "near_miss", "near_miss", "any_value", "other_type"])


@st.composite
def candidate_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid-looking event of a random type, then possibly one mutation."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    required = required_of_type(SCHEMA, event_type)
    obj: dict[str, Any] = {}
    for name, prop in properties_of_type(SCHEMA, event_type).items():
        if name in required or draw(st.booleans()):
            obj[name] = event_type if name == "type" else draw(value_for(dict(prop)))
    if draw(st.booleans()):
        obj.update(draw(EXTRA_FIELDS))
    mutation = draw(MUTATIONS)
    props = properties_of_type(SCHEMA, event_type)
    if mutation != "none":
        name = draw(st.sampled_from(sorted(obj)))
        if mutation == "drop":
            del obj[name]
        elif mutation == "near_miss":
            obj[name] = draw(near_misses(dict(props[name])) if name in props else JSON_VALUES)
        elif mutation == "any_value":
            obj[name] = draw(JSON_VALUES)
        else:
            obj["type"] = draw(st.sampled_from(EVENT_TYPES))
    return obj


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidate_events())
def test_compiled_validator_and_decoder_agree_with_jsonschema(obj: dict[str, Any]) -> None:
    verdict = REFERENCE.is_valid(obj)
    note(f"jsonschema says {verdict}; decoder says {DECODER.decode(orjson.dumps(obj))}")
    assert compiled_accepts(obj) == verdict
    assert decoder_accepts(obj) == verdict
    spec = TYPE_SPECS.get(obj.get("type")) if isinstance(obj.get("type"), str) else None
    if spec is not None:  # the type's two validators, on their own
        assert spec.accepts(obj) == verdict == (not _raises(spec.validate, obj))


def test_generated_cases_are_not_trivial() -> None:
    """The agreement test sees both verdicts in quantity (else it proves little)."""
    seen: list[bool] = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(candidate_events())
    def collect(obj: dict[str, Any]) -> None:
        seen.append(REFERENCE.is_valid(obj))

    collect()
    assert seen.count(True) >= 30 and seen.count(False) >= 30
