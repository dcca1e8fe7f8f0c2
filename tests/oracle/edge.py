"""The oracle's edge: is a JSONL line a valid event, and if not, why.

Written from the contract, not from the project's decoder: the JSON Schema in `schemas/`
checked with the `jsonschema` package (Draft 2020-12), plus the rules the schema cannot
carry (the message size limit, strict UTF-8 and JSON without NaN/Infinity, a currency the
rate table knows). A line is valid when this returns None; otherwise the result is the
machine-readable reason the pipeline must report for it (`invalid_json`, `not_an_object`,
`missing_field:<name>`, `invalid_field:<name>`, `unknown_type`, `too_large`,
`unknown_currency`).

When a line breaks several rules, the reason follows docs/events.md: size, then JSON, then
object, then `type`, then missing required fields, then invalid fields, then currency;
among several missing (or invalid) fields, the first in the type's definition, whose
envelope comes first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import iso4217
from jsonschema import Draft202012Validator, ValidationError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "event.schema.json"
MAX_BYTES = 65536


class _NotJson(ValueError):
    """NaN, Infinity and -Infinity are not JSON (RFC 8259)."""


_ISO_4217 = frozenset(currency.code for currency in iso4217.Currency)


def _reject_constant(name: str) -> Any:
    raise _NotJson(name)


@cache
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _known_types() -> frozenset[str]:
    return frozenset(_schema()["properties"]["type"]["enum"])


def _resolve(pointer: str) -> Any:
    node: Any = _schema()
    for token in pointer.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _inline_refs(node: Any) -> Any:
    """The same schema with every local `$ref` replaced by what it points to (the schema
    has no cycles). In 2020-12 a `$ref` applies alongside its sibling keywords, which an
    `allOf` expresses exactly; inlining only spares the validator the reference lookups."""
    if isinstance(node, list):
        return [_inline_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    inlined = {key: _inline_refs(value) for key, value in node.items() if key != "$ref"}
    if "$ref" not in node:
        return inlined
    target = _inline_refs(_resolve(node["$ref"]))
    siblings = {
        key: value for key, value in inlined.items() if key not in ("description", "$comment")
    }
    return {"allOf": [target, siblings]} if siblings else target


@cache
def _field_order(event_type: str) -> list[str]:
    """Field names in the order the type's definition mentions them, the envelope first:
    the order in which missing or invalid fields are reported (docs/events.md)."""
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "required":
                names.extend(name for name in value if name not in names)
            elif key == "properties":
                names.extend(name for name in value if name not in names)
                walk(list(value.values()))
            elif key not in ("examples", "const", "enum", "default"):
                walk(value)

    walk(_inline_refs(_resolve(f"#/$defs/{event_type}")))
    return names


@cache
def _validator_for(event_type: str) -> Draft202012Validator:
    """The schema's definition of one event type.

    For a known `type` this is what the root schema applies (an object whose `type` is in
    the enum, then the matching `$defs` entry) without its other branches, which are only
    there to pick the definition; validating against it alone is much faster.
    """
    Draft202012Validator.check_schema(_schema())
    definition = _inline_refs(_resolve(f"#/$defs/{event_type}"))
    return Draft202012Validator(definition, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _field_of(error: ValidationError) -> str | None:
    """The top-level field an error is about (None for the object as a whole)."""
    return str(error.absolute_path[0]) if error.absolute_path else None


def _missing_fields(error: ValidationError) -> list[str]:
    if error.validator == "required" and not error.absolute_path:
        return [name for name in error.validator_value if name not in error.instance]
    return []


def _leaf_errors(errors: list[ValidationError]) -> list[ValidationError]:
    """allOf/if-then wrap the real failures; unwrap them to the keyword that failed."""
    leaves: list[ValidationError] = []
    for error in errors:
        if error.context:
            leaves.extend(_leaf_errors(list(error.context)))
        else:
            leaves.append(error)
    return leaves


def rejection_reason(raw: bytes, rates: Iterable[tuple[int, str, object]]) -> str | None:
    """None if `raw` is a valid event whose currency (if any) has a rate in force at its
    occurred_at in `rates` (rows of valid_from, currency, rate)."""
    first_rate: dict[str, int] = {}
    for start, code, _rate in rates:
        first_rate[code] = min(start, first_rate.get(code, start))
    return _cached_reason(raw, frozenset(first_rate.items()))


_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$")


def _epoch_ms(text: str) -> int:
    """A schema-valid RFC 3339 time as epoch ms (fraction beyond the millisecond dropped)."""
    match = _TIME.match(text)
    if match is None:
        raise ValueError(f"the oracle cannot read the time {text!r}")
    day, clock, fraction, offset = match.groups()
    moment = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if offset in 'Zz' else offset}")
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return int(moment.timestamp()) * 1000 + millis


@lru_cache(maxsize=250_000)
def _cached_reason(raw: bytes, first_rate: frozenset[tuple[str, int]]) -> str | None:
    """Schema validation is the oracle's slowest step; tests feed the same lines again
    (shuffled files, duplicates), so verdicts are remembered by the line's bytes."""
    if len(raw) > MAX_BYTES:
        return "too_large"
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "invalid_json"
    if not isinstance(document, dict):
        return "not_an_object"
    if "type" not in document:
        return "missing_field:type"
    if not isinstance(document["type"], str) or document["type"] not in _known_types():
        return "unknown_type"
    errors = _leaf_errors(list(_validator_for(document["type"]).iter_errors(document)))
    order = _field_order(document["type"])
    missing = {name for error in errors for name in _missing_fields(error)}
    if missing:
        return f"missing_field:{min(missing, key=order.index)}"
    invalid = {field for error in errors if (field := _field_of(error)) is not None}
    if invalid:
        return f"invalid_field:{min(invalid, key=lambda field: (order.index(field) if field in order else len(order), field))}"
    if errors:
        raise ValueError(f"the oracle cannot name a reason for {raw!r}: {errors[0].message}")
    currency = document.get("currency")
    if isinstance(currency, str):
        starts = dict(first_rate)
        code = currency.upper()
        if code not in _ISO_4217 and code not in starts:
            return "unknown_currency"
        if code not in starts or starts[code] > _epoch_ms(document["occurred_at"]):
            return "no_exchange_rate"
    return None
