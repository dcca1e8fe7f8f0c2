"""The edge: one message's bytes -> a typed event (`streams.contract.model`) or a `Rejection`.

Definition (contract v1). `schemas/event.schema.json` is the source of truth and
docs/events.md explains it to producers. Checks run in this order; the first failure
decides the machine-readable reason:

1. `too_large`      len(raw) > max_bytes, before any parsing.
2. `invalid_json`   not one UTF-8 JSON text (orjson: also NaN/Infinity literals, lone
                    surrogates, numbers beyond the double range, nesting deeper than 1024).
3. `not_an_object`  the JSON text is not an object.
4. `missing_field:type` / `unknown_type`   no `type`, or not one of the contract's types.
5. `wrong_topic`    the source topic is known and is not the type's topic.
6. `missing_field:<name>` / `invalid_field:<name>`   the validators of that type, compiled
   from the schema file when the first Decoder is made: the schema is the only arbiter.
   jsonschema-rs answers "valid?" (about 1 us per event, a third of fastjsonschema's
   time); only for an object it refuses does fastjsonschema's validator, whose first
   error is the reason, run too, and it has the last word. Tests prove both agree with
   the `jsonschema` reference.
7. `unknown_currency`   a currency list is configured (the workers use ISO 4217 and the
                       currencies of the rates table) and the code is not in it.
8. `no_exchange_rate`  a rate check is configured (the rates table) and the currency has
                       no rate dated on or before the event's occurred_at.

After the schema accepted an object the conversions cannot fail: times become int epoch
milliseconds UTC (fractions beyond the millisecond truncated), money a `Decimal` of the
number as written (exact up to 15 significant digits, which any double round-trips),
currency upper case; absent optional fields take the schema's `default`, and
`effective_at` defaults to `occurred_at`. `future_timestamp` and `too_late` are decided
later, by `streams.ingest.admission`, and are listed here so that REASONS is the one list.

One pass first. After check 1, msgspec decodes the bytes straight into a wire struct
(`streams.contract.onepass`) whose constraints are the schema's, translated only where
the translation is exact; what it accepts, checks 2 to 6 would accept too, so only the
topic and currency checks remain and the event is built with the same conversions.
Anything it refuses (or a type it has no struct for) runs checks 2 to 8 as above, which
alone give reasons. tests/test_onepass.py proves both ways give the same results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import iso4217
import jsonschema_rs
import msgspec
import orjson

from streams.contract.model import CLASS_OF_TYPE, TOPIC_OF_TYPE, Event
from streams.contract.onepass import ANNOTATIONS, wire_decoder, wire_struct
from streams.contract.rfc3339 import epoch_ms

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "event.schema.json"

# The fixed list of rejection reasons; the two prefix forms end in ":" and are completed
# by a top-level field name of the schema (see field_names()).
REASONS: tuple[str, ...] = (
    "too_large",
    "invalid_json",
    "not_an_object",
    "unknown_type",
    "missing_field:",
    "invalid_field:",
    "unknown_currency",
    "no_exchange_rate",
    "wrong_topic",
    "future_timestamp",
    "too_late",
)

ISO_4217_CODES: frozenset[str] = frozenset(currency.code for currency in iso4217.Currency)
"""Every code of the ISO 4217 list (the `iso4217` package's copy of the published table)."""

_log = logging.getLogger(__name__)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message was not admitted: `reason` from REASONS, `detail` one sentence."""

    reason: str
    detail: str


def reason_code(reason: str) -> str:
    """The REASONS entry a full reason belongs to: 'missing_field:user_id' -> 'missing_field:'."""
    head, colon, _ = reason.partition(":")
    return head + colon


# --------------------------------------------------------------------------- the schema


def load_schema() -> dict[str, Any]:
    """The contract as a JSON object, read from the schema file."""
    schema: dict[str, Any] = orjson.loads(SCHEMA_PATH.read_bytes())
    return schema


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local `#/...` $ref (one hop at a time) to the node it names."""
    while "$ref" in node:
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def properties_of_type(schema: Mapping[str, Any], event_type: str) -> dict[str, Mapping[str, Any]]:
    """Every top-level property a type declares (envelope included), $refs resolved.

    A type's definition is `allOf: [envelope, body, conditions...]`; later parts narrow
    earlier ones, so a property's first declaration is the one with its type and default.
    """
    found: dict[str, Mapping[str, Any]] = {}
    for part in _resolve(schema, schema["$defs"][event_type])["allOf"]:
        for name, prop in _resolve(schema, part).get("properties", {}).items():
            found.setdefault(
                name, {**_resolve(schema, prop)} | {k: v for k, v in prop.items() if k != "$ref"}
            )
    return found


def required_of_type(schema: Mapping[str, Any], event_type: str) -> tuple[str, ...]:
    """The type's required fields, envelope first, in schema order."""
    names: list[str] = []
    for part in _resolve(schema, schema["$defs"][event_type])["allOf"]:
        names.extend(n for n in _resolve(schema, part).get("required", ()) if n not in names)
    return tuple(names)


def _all_field_names(schema: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(name for t in TOPIC_OF_TYPE for name in properties_of_type(schema, t))


_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def inline_refs(schema: Mapping[str, Any], node: Any, depth: int = 0) -> Any:
    """A copy of the subschema `node` with every local `$ref` replaced by its target.

    Same validation, fewer generated function calls: fastjsonschema turns each $ref into
    a call that builds an error-path string even when nothing fails. The contract has no
    recursive references; the depth limit turns one added by mistake into an error.
    """
    if depth > 32:
        raise ValueError("the schema's $refs nest more than 32 deep (a cycle?)")
    if not isinstance(node, dict):
        return node  # a boolean schema
    if "$ref" in node:
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        target = inline_refs(schema, _resolve(schema, {"$ref": node["$ref"]}), depth + 1)
        if siblings.keys() <= ANNOTATIONS:  # $ref + annotations = target + annotations
            return target | siblings
        return {"allOf": [target], **inline_refs(schema, siblings, depth)}
    inlined: dict[str, Any] = {}
    for keyword, value in node.items():
        if keyword in _SCHEMA_MAPS:
            inlined[keyword] = {
                name: inline_refs(schema, sub, depth) for name, sub in value.items()
            }
        elif keyword in _SCHEMA_LISTS:
            inlined[keyword] = [inline_refs(schema, sub, depth) for sub in value]
        elif (
            isinstance(value, dict)
            and keyword not in ANNOTATIONS
            and keyword not in ("const", "enum")
        ):
            inlined[keyword] = inline_refs(schema, value, depth)  # not, if, then, else, items, ...
        else:
            inlined[keyword] = value
    return inlined


def type_schema(schema: Mapping[str, Any], event_type: str) -> dict[str, Any]:
    """One type's definition as a schema of its own (references inlined)."""
    return {"$schema": schema["$schema"], **inline_refs(schema, schema["$defs"][event_type])}


def compile_type_validator(schema: Mapping[str, Any], event_type: str) -> Callable[[Any], Any]:
    """fastjsonschema's validator for one type's definition (raises JsonSchemaValueException).

    Compiled from the schema file itself, so it cannot drift from it. `format` is left as
    an annotation (the 2020-12 default); the schema's `pattern`s carry the rules.
    """
    return fastjsonschema.compile(
        type_schema(schema, event_type), use_formats=False, use_default=False
    )


def compile_type_checker(schema: Mapping[str, Any], event_type: str) -> Callable[[Any], bool]:
    """jsonschema-rs's `is_valid` for one type's definition: the fast yes/no, with the
    same choices as `compile_type_validator` (`format` an annotation)."""
    return jsonschema_rs.validator_for(
        type_schema(schema, event_type), validate_formats=False
    ).is_valid


# --------------------------------------------------------------------------- conversions


def exact_decimal(number: int | float) -> Decimal:
    """The JSON number as written. orjson hands over a double for a number with a
    fraction; its shortest repr gives back the written digits (up to 15 significant)."""
    if type(number) is int:
        return Decimal(number)
    return Decimal(repr(number)) if number else _ZERO  # no negative zero


_OCCURRED_AT = object()  # the default of effective_at: the event's own occurred_at
_MISSING = object()  # an absent field
_OCCURRED_AT_INDEX = [f.name for f in msgspec.structs.fields(Event)].index(
    "occurred_at"
)  # every type's fields start with Event's


def _converter(schema: Mapping[str, Any], prop: Mapping[str, Any]) -> Callable[[Any], Any] | None:
    """How a present value of this schema property becomes the event's value (None: as is)."""
    if prop.get("pattern") == schema["$defs"]["timestamp"]["pattern"]:
        return epoch_ms
    if prop.get("pattern") == schema["$defs"]["currency"]["pattern"]:
        return str.upper
    if prop.get("type") == "number":
        return exact_decimal
    if prop.get("type") == "integer":
        return int  # 2020-12 counts 3.0 as an integer; the event holds 3
    return None


@dataclass(frozen=True, slots=True)
class _TypeSpec:
    """Everything the decoder needs for one type, derived from the schema at start-up."""

    cls: type[Event]
    topic: str
    validate: Callable[[Any], Any]  # raises with the first error (fastjsonschema)
    accepts: Callable[[Any], bool]  # the fast verdict (jsonschema-rs)
    required: tuple[str, ...]  # in schema order, envelope first
    defaults: tuple[tuple[str, Any], ...]  # (field, value when absent), in dataclass order
    converted: tuple[tuple[int, str, Callable[[Any], Any]], ...]  # (position, field, converter)
    currency_at: int | None  # position of `currency`, checked against a configured list
    effective_at: int | None  # position of a field whose default is occurred_at
    wire: type[msgspec.Struct] | None  # the one-pass struct (streams.contract.onepass)
    # One pass: (position, converter) of every field the wire struct holds as JSON
    # (an absent one as the schema's default as written, or None without one).
    fills: tuple[tuple[int, Callable[[Any], Any]], ...]
    plain: bool  # the one conversion is occurred_at's, and no currency, no effective_at
    size: int  # the number of the event's fields


def _type_spec(schema: Mapping[str, Any], event_type: str) -> _TypeSpec:
    cls = CLASS_OF_TYPE[event_type]
    props = properties_of_type(schema, event_type)
    required = required_of_type(schema, event_type)
    defaults: list[tuple[str, Any]] = []
    converted: list[tuple[int, str, Callable[[Any], Any]]] = []
    fills: list[tuple[int, Callable[[Any], Any]]] = []
    for position, field in enumerate(msgspec.structs.fields(cls)):
        prop = props[field.name]  # a test proves every dataclass field is in the schema
        convert = _converter(schema, prop)
        if field.name == "effective_at":
            default: Any = _OCCURRED_AT
        elif "default" in prop:
            default = convert(prop["default"]) if convert else prop["default"]
        else:
            default = None  # optional without a default, or required (never used)
        defaults.append((field.name, default))
        if convert is not None:
            converted.append((position, field.name, convert))
        # msgspec hands over str and int as the event holds them (an integer field
        # never yields a float there): only the other conversions remain.
        if convert is not None and convert is not int:
            fills.append((position, convert))
    names = [name for name, _ in defaults]
    currency_at = names.index("currency") if "currency" in names else None
    effective_at = names.index("effective_at") if "effective_at" in names else None
    return _TypeSpec(
        cls=cls,
        topic=TOPIC_OF_TYPE[event_type],
        validate=compile_type_validator(schema, event_type),
        accepts=compile_type_checker(schema, event_type),
        required=required,
        defaults=tuple(defaults),
        converted=tuple(converted),
        currency_at=currency_at,
        effective_at=effective_at,
        wire=wire_struct(event_type, type_schema(schema, event_type), cls),
        fills=tuple(fills),
        plain=fills == [(_OCCURRED_AT_INDEX, epoch_ms)]
        and currency_at is None
        and effective_at is None,
        size=len(names),
    )


@cache
def _type_specs() -> dict[str, _TypeSpec]:
    schema = load_schema()
    return {t: _type_spec(schema, t) for t in TOPIC_OF_TYPE}


@cache
def _one_pass() -> tuple[msgspec.json.Decoder[Any] | None, dict[type, tuple[str, _TypeSpec]]]:
    """The wire decoder and, per wire struct, its event type and spec."""
    specs = _type_specs()
    wires = {t: spec.wire for t, spec in specs.items() if spec.wire is not None}
    return wire_decoder(wires), {wire: (t, specs[t]) for t, wire in wires.items()}


@cache
def field_names() -> frozenset[str]:
    """Every top-level field name the schema declares: the bounded set that completes
    `missing_field:` and `invalid_field:` reasons."""
    return _all_field_names(load_schema())


# --------------------------------------------------------------------------- the decoder


class Decoder:
    """bytes -> Event | Rejection. Never raises. One instance per worker; thread-safe."""

    def __init__(
        self,
        *,
        max_bytes: int = 65536,
        currencies: Collection[str] | None = None,
        rate_known: Callable[[str, int], bool] | None = None,
        one_pass: bool = True,
    ) -> None:
        """`currencies`: the accepted codes (None: any well-formed code); `rate_known(code,
        occurred_at)`: whether money in `code` at that time can be converted (None: always);
        `one_pass=False`: the long way only (the tests and bench_decode compare the two)."""
        self.max_bytes = max_bytes
        self.currencies = None if currencies is None else frozenset(c.upper() for c in currencies)
        self.rate_known = rate_known
        self._specs = _type_specs()
        self._wire_decoder, self._wire_specs = _one_pass() if one_pass else (None, {})

    def decode(self, raw: bytes, topic: str | None = None) -> Event | Rejection:
        """Decode one message; `topic` is the topic it came from (None: not checked).

        One pass first: the wire structs (streams.contract.onepass) accept only what the
        schema accepts. Anything they refuse takes the long way below, whose checks and
        reasons are the definition of the module header."""
        try:
            if len(raw) > self.max_bytes:
                return Rejection(
                    "too_large",
                    f"The message has {len(raw)} bytes, more than the limit of {self.max_bytes}.",
                )
            if self._wire_decoder is not None:
                try:
                    wire = self._wire_decoder.decode(raw)
                except Exception:  # noqa: BLE001 - any refusal (msgspec's errors, bad UTF-8,
                    pass  # RecursionError on deep nesting): the long way decides, with its reason
                else:
                    wire_type, wire_spec = self._wire_specs[type(wire)]
                    if topic is not None and topic != wire_spec.topic:
                        return _wrong_topic(wire_type, wire_spec, topic)
                    return self._build_wire(wire, wire_type, wire_spec)
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                return Rejection(
                    "invalid_json", f"The message is not one UTF-8 JSON text: {error}."
                )
            if type(obj) is not dict:
                return Rejection(
                    "not_an_object", f"The message is a JSON {_json_kind(obj)}, not an object."
                )
            event_type = obj.get("type", _MISSING)
            spec = self._specs.get(event_type) if type(event_type) is str else None
            if spec is None:
                if event_type is _MISSING:
                    return Rejection("missing_field:type", "The field 'type' is required.")
                return Rejection(
                    "unknown_type",
                    "The field 'type' is not one of the event types of the contract.",
                )
            if topic is not None and topic != spec.topic:
                return _wrong_topic(event_type, spec, topic)
            if not spec.accepts(obj):
                try:
                    spec.validate(obj)
                except fastjsonschema.JsonSchemaValueException as error:
                    return _schema_rejection(error, obj, spec, event_type)
            return self._build(obj, spec)
        except Exception as error:  # a defect in this module, never the producer's fault
            _log.exception("decoder defect")
            return Rejection(
                "invalid_json",
                f"Internal error in the decoder ({type(error).__name__}); the message is kept as a dead letter.",
            )

    def _build(self, obj: dict[str, Any], spec: _TypeSpec) -> Event | Rejection:
        """The event from an object the schema accepted (cannot fail but on the currency checks)."""
        get = obj.get
        args = [get(name, default) for name, default in spec.defaults]
        for position, name, convert in spec.converted:
            if name in obj:
                args[position] = convert(args[position])
        return self._finish(args, spec)

    def _build_wire(
        self, wire: msgspec.Struct, event_type: str, spec: _TypeSpec
    ) -> Event | Rejection:
        """The event from a wire struct: the same values as `_build` gives for the object."""
        values = _astuple(wire)
        if spec.plain:  # most events: only occurred_at to convert
            return spec.cls(values[0], event_type, epoch_ms(values[1]), *values[2 : spec.size - 1])
        args: list[Any] = [values[0], event_type, *values[1 : spec.size - 1]]
        for position, convert in spec.fills:
            value = args[position]
            if value is not None:
                args[position] = convert(value)
            elif position == spec.effective_at:
                args[position] = _OCCURRED_AT
        return self._finish(args, spec)

    def _finish(self, args: list[Any], spec: _TypeSpec) -> Event | Rejection:
        """The configured currency checks, effective_at's default, and the event."""
        if spec.currency_at is not None:
            code = args[spec.currency_at]
            if self.currencies is not None and code not in self.currencies:
                return Rejection(
                    "unknown_currency", f"The currency {code!r} is not in the configured list."
                )
            if self.rate_known is not None and not self.rate_known(code, args[_OCCURRED_AT_INDEX]):
                return Rejection(
                    "no_exchange_rate",
                    f"The rates table has no rate for {code!r} dated on or before the event's occurred_at.",
                )
        if spec.effective_at is not None and args[spec.effective_at] is _OCCURRED_AT:
            args[spec.effective_at] = args[_OCCURRED_AT_INDEX]
        return spec.cls(*args)


_astuple = msgspec.structs.astuple


def _wrong_topic(event_type: str, spec: _TypeSpec, topic: str) -> Rejection:
    return Rejection(
        "wrong_topic",
        f"Events of type {event_type!r} belong on {spec.topic!r}, not on {topic!r}.",
    )


_JSON_KIND = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _json_kind(value: object) -> str:
    return _JSON_KIND.get(type(value), "value")


_RULE_SENTENCE = {
    "type": "has the wrong JSON type",
    "minLength": "is too short",
    "maxLength": "is too long",
    "minimum": "is below the minimum",
    "maximum": "is above the maximum",
    "enum": "is not one of the allowed values",
    "const": "does not match the event type",
    "pattern": "does not have the required format",
}


def _schema_rejection(
    error: fastjsonschema.JsonSchemaValueException,
    obj: dict[str, Any],
    spec: _TypeSpec,
    event_type: str,
) -> Rejection:
    """Turn the validator's first error into a reason naming a top-level field."""
    if error.rule == "required":
        missing = next((n for n in spec.required if n not in obj), None)
        if missing is not None:
            return Rejection(
                f"missing_field:{missing}",
                f"The field {missing!r} is required for type {event_type!r}.",
            )
    name = error.name or ""
    field = name.removeprefix("data.").split(".", 1)[0] if name.startswith("data.") else ""
    if field in field_names():
        what = _RULE_SENTENCE.get(error.rule or "", "is invalid")
        return Rejection(
            f"invalid_field:{field}",
            f"The field {field!r} {what} (see the schema of {event_type!r}).",
        )
    # Unreachable with the shipped schema (every rule sits on a top-level field); kept so
    # that a future schema construct still yields a listed reason.
    return Rejection(
        "not_an_object", f"The object is not a valid {event_type!r} event: {error.message}."
    )


def iter_examples(schema: Mapping[str, Any] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, example) for every example in the schema, in schema order."""
    schema = schema if schema is not None else load_schema()
    for event_type in TOPIC_OF_TYPE:
        for example in schema["$defs"][event_type].get("examples", ()):
            yield event_type, example
