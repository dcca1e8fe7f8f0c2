"""The decoder's one pass: msgspec "wire" structs generated from the schema file.

`Decoder.decode` first tries to decode a message's bytes straight into a tagged union
of msgspec Structs, one per event type, whose field constraints are a translation of
that type's schema definition. Whatever msgspec refuses goes the long way (orjson, the
schema validators, their reasons), so the verdicts and reasons stay the schema's. What
msgspec accepts must therefore be something the schema accepts; this module makes that
true by construction:

- a type's definition is translated only if every keyword in it is one this module
  reproduces exactly: `type` string/integer/number, `minLength`/`maxLength` (code
  points in both), `pattern` (Python's `re.search`, like fastjsonschema), `minimum`/
  `maximum` (bounds within 2**53, where a double and an integer agree), `enum`/`const`
  of strings, `required`, `properties`, and annotations (`format` included: the
  decoder treats it as one). Anything else (`if`/`then`, `anyOf`, `exclusiveMinimum`,
  a nullable type, ...) and the type has no wire struct: all its messages take the
  long way. Today that is `survey_response` (its score range depends on the survey);
- unknown fields are forbidden: the schema allows and ignores them, but msgspec would
  skip their text without the checks orjson makes (big numbers, surrogates), so a
  message with an extra field takes the long way;
- no field accepts `null`; an absent optional field reads as the schema's `default`
  as written in the schema (msgspec never checks a default), or None where it has none,
  so None means "absent without a default".

msgspec also refuses things the schema accepts (`3.0` for an integer, a duplicated
`type`); those take the long way too and end as they always did. tests/test_onepass.py
compares the two paths on generated messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

import msgspec

from streams.contract.model import Event

# Keywords that only annotate (the decoder's $ref inlining reads this set too).
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
# For this translation, also `format` (the decoder's validators are compiled with
# formats off, and the `pattern` carries the rule), `$schema` and `x-topic`.
_ANNOTATIONS = ANNOTATIONS | {"$schema", "format", "x-topic"}
_VALUE_KEYWORDS = frozenset(
    {"type", "minLength", "maxLength", "pattern", "minimum", "maximum", "enum", "const"}
)
_EXACT_LIMIT = 2**53  # integers up to this magnitude are exact as doubles


class _Unsupported(Exception):
    """The definition uses a construct this module does not reproduce exactly."""


def wire_struct(
    event_type: str, definition: Mapping[str, Any], model: type[Event]
) -> type[msgspec.Struct] | None:
    """The wire struct of one type, or None when its definition cannot be translated.

    `definition` is the type's definition with its `$ref`s inlined
    (`decoding.type_schema`). The struct's fields are the model's (without `type`, the
    tag) in the model's order, then any other property the schema declares (checked,
    then dropped): `msgspec.structs.astuple` of a decoded struct lists the model's
    values in order from position 1 on.
    """
    try:
        return _wire_struct(event_type, definition, model)
    except _Unsupported:
        return None


def _wire_struct(
    event_type: str, definition: Mapping[str, Any], model: type[Event]
) -> type[msgspec.Struct]:
    _only(definition, {"allOf"})
    merged: dict[str, dict[str, Any]] = {}
    defaults: dict[str, Any] = {}
    required: set[str] = set()
    for part in definition.get("allOf", ()):
        if not isinstance(part, dict):
            raise _Unsupported("a boolean subschema")
        _only(part, {"type", "required", "properties"})
        if part.get("type", "object") != "object":
            raise _Unsupported("a part that is not an object schema")
        required.update(part.get("required", ()))
        for name, prop in part.get("properties", {}).items():
            if not isinstance(prop, dict):
                raise _Unsupported("a boolean property schema")
            _only(prop, _VALUE_KEYWORDS)
            into = merged.setdefault(name, {})
            for keyword, value in prop.items():
                if keyword == "default":
                    if defaults.setdefault(name, value) != value:
                        raise _Unsupported(f"{name}: two different defaults")
                    continue
                if keyword in _ANNOTATIONS:
                    continue
                if keyword in into and into[keyword] != value:
                    raise _Unsupported(f"{name}: two different {keyword}s")
                into[keyword] = value
    if not required <= merged.keys():
        raise _Unsupported("a required field without a declaration")
    tag = merged.pop("type", {})
    if _choices(tag) != (event_type,):
        raise _Unsupported("`type` is not pinned to the type's name")
    names = [f.name for f in msgspec.structs.fields(model) if f.name != "type"]
    if not set(names) <= merged.keys():
        raise _Unsupported("a model field the schema does not declare")
    names += [name for name in merged if name not in names]
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name in names:
        annotation = _annotation(merged[name])
        if name in required:
            fields.append((name, annotation))
        else:
            fields.append((name, annotation, _default(defaults.get(name))))
    return msgspec.defstruct(
        f"Wire_{event_type}",
        fields,
        tag=event_type,
        tag_field="type",
        forbid_unknown_fields=True,
        kw_only=True,
        frozen=True,
        gc=False,
    )


def _default(value: Any) -> Any:
    """An immutable JSON scalar, or None (msgspec would share a mutable default)."""
    if value is not None and type(value) not in (str, int, float):
        raise _Unsupported("a default that is not a string or a number")
    return value


def _only(node: Mapping[str, Any], allowed: set[str] | frozenset[str]) -> None:
    extra = node.keys() - allowed - _ANNOTATIONS
    if extra:
        raise _Unsupported(f"keywords {sorted(extra)}")


def _choices(prop: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The allowed strings of an enum/const property (None: not an enum)."""
    if "const" in prop and "enum" in prop:
        raise _Unsupported("both const and enum")
    values = [prop["const"]] if "const" in prop else prop.get("enum")
    if values is None:
        return None
    if not values or not all(type(v) is str for v in values):
        raise _Unsupported("an enum of other values than strings")
    if prop.keys() - {"const", "enum"} - ({"type"} if prop.get("type") == "string" else set()):
        raise _Unsupported("an enum with other constraints")
    return tuple(values)


def _bound(prop: Mapping[str, Any], keyword: str) -> int | float:
    value = prop.get(keyword)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _Unsupported(f"{keyword} missing")
    if not abs(value) <= _EXACT_LIMIT:
        raise _Unsupported(f"{keyword} beyond 2**53")
    return value


def _annotation(prop: Mapping[str, Any]) -> Any:
    """The msgspec type that accepts exactly what the property's keywords accept."""
    choices = _choices(prop)
    if choices is not None:
        return Literal[choices]
    kind = prop.get("type")
    if kind == "string":
        if prop.keys() - {"type", "minLength", "maxLength", "pattern"}:
            raise _Unsupported("a string with other keywords")
        meta = {
            name: prop[key]
            for key, name in (
                ("minLength", "min_length"),
                ("maxLength", "max_length"),
                ("pattern", "pattern"),
            )
            if key in prop
        }
        return Annotated[str, msgspec.Meta(**meta)] if meta else str
    if kind in ("integer", "number"):
        if prop.keys() - {"type", "minimum", "maximum"}:
            raise _Unsupported("a number with other keywords")
        bounds = msgspec.Meta(ge=_bound(prop, "minimum"), le=_bound(prop, "maximum"))
        if kind == "integer":
            # 2020-12 counts 3.0 as an integer; msgspec refuses it: the long way decides.
            return Annotated[int, bounds]
        # An integer literal stays an int, a fraction a double: what orjson gives.
        return Union[Annotated[int, bounds], Annotated[float, bounds]]  # noqa: UP007
    raise _Unsupported(f"type {kind!r}")


def wire_decoder(structs: Mapping[str, type[msgspec.Struct]]) -> msgspec.json.Decoder[Any] | None:
    """One decoder for the tagged union of the wire structs (None: there are none)."""
    if not structs:
        return None
    union: Any = Union[tuple(structs.values())]  # noqa: UP007 - a runtime union
    return msgspec.json.Decoder(union)
