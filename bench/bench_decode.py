"""Decode speed at the edge: orjson.loads alone vs the full `Decoder.decode`, and what a
one-pass decoder (msgspec) would give.

Messages are the schema's examples with fresh ids and times, mixed by type roughly as
product telemetry arrives (feature use and logins dominate; billing is rare). Prints
events/s for both paths and their ratio; best of several runs on one core.

With `--msgspec` (needs the `bench` extra: `pip install -e '.[bench]'`) it also times
issue 18's candidate, decoding and validating in one pass into typed structs, as a
prototype generated from the schema file (`msgspec_types`): every type's fields with
their JSON type, lengths, pattern, enum/const and integer range as msgspec constraints,
`type` as the tag. The schema's `if`/`then` conditions (the survey score's range per
survey) have no msgspec form and are not checked by the prototype, and its verdicts are
not proven equal to the schema's: it measures the cost, it is not a decoder. Timed:
(1) bytes -> struct, (2) the same plus building the project's `Event` from the struct
with the same conversions as `Decoder` (the step the worker needs), and, per step of
today's decoder, orjson.loads, jsonschema-rs's verdict and building the event.

    python bench/bench_decode.py [--events 200000] [--repeat 5] [--msgspec]
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Union

import orjson

from streams.contract.decoding import (
    Decoder,
    Rejection,
    iter_examples,
    load_schema,
    properties_of_type,
    required_of_type,
)
from streams.contract.model import TOPIC_OF_TYPE

# Share of each type in the mix (sums to 100).
MIX: dict[str, int] = {
    "feature_used": 45,
    "login": 15,
    "logout": 12,
    "ticket_opened": 2,
    "ticket_replied": 3,
    "ticket_resolved": 1,
    "ticket_reopened": 1,
    "ticket_rated": 1,
    "subscription_started": 1,
    "subscription_changed": 1,
    "subscription_canceled": 1,
    "payment_failed": 1,
    "payment_succeeded": 1,
    "survey_response": 2,
    "signup": 5,
    "onboarding_step_completed": 7,
    "onboarding_completed": 1,
}


def make_messages(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    examples = dict(iter_examples())
    types = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    messages = []
    for i, event_type in enumerate(types):
        event = dict(examples[event_type])
        event["event_id"] = f"evt-{i:09d}"
        event["account_id"] = f"acct-{rng.randrange(5000):05d}"
        if "user_id" in event:
            event["user_id"] = f"user-{rng.randrange(100000):06d}"
        day, second = 1 + rng.randrange(28), rng.randrange(86400)
        event["occurred_at"] = (
            f"2026-02-{day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{rng.randrange(1000):03d}Z"
        )
        messages.append(orjson.dumps(event))
    return messages


def best_rate(
    run: Callable[[Sequence[bytes]], object], messages: Sequence[bytes], repeat: int
) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run(messages)
        best = min(best, time.perf_counter() - start)
    return len(messages) / best


def msgspec_types() -> Any:
    """A tagged union of msgspec Structs, one per event type, from the schema file (see
    the module header: a prototype for timing, not a decoder)."""
    import msgspec

    schema = load_schema()
    structs = []
    for event_type in TOPIC_OF_TYPE:
        props = properties_of_type(schema, event_type)
        required = set(required_of_type(schema, event_type))
        fields: list[tuple[Any, ...]] = []
        for name, prop in props.items():
            if name == "type":
                continue
            annotation = _msgspec_annotation(prop)
            if name in required:
                fields.insert(sum(1 for f in fields if len(f) == 2), (name, annotation))
            else:
                fields.append((name, annotation | None, prop.get("default")))
        structs.append(
            msgspec.defstruct(
                f"M_{event_type}", fields, tag=event_type, tag_field="type", frozen=True
            )
        )
    return Union[tuple(structs)]  # noqa: UP007 - a runtime union of generated classes


def _msgspec_annotation(prop: dict[str, Any]) -> Any:
    import msgspec

    meta: dict[str, Any] = {}
    if "enum" in prop:
        return Literal[tuple(prop["enum"])]
    kind = prop.get("type")
    if kind == "string":
        for key, name in (
            ("minLength", "min_length"),
            ("maxLength", "max_length"),
            ("pattern", "pattern"),
        ):
            if key in prop:
                meta[name] = prop[key]
        base: Any = str
    elif kind == "integer":
        base = int
    elif kind == "number":
        base = float  # msgspec takes an integer literal too
    else:
        return Any
    for key, name in (("minimum", "ge"), ("maximum", "le")):
        if key in prop and kind != "string":
            meta[name] = prop[key]
    return Annotated[base, msgspec.Meta(**meta)] if meta else base


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--msgspec", action="store_true", help="also time a one-pass msgspec prototype"
    )
    args = parser.parse_args(argv)

    messages = make_messages(args.events)
    decoder = Decoder()
    rejected = [r for r in map(decoder.decode, messages[:1000]) if isinstance(r, Rejection)]
    if rejected:
        print(f"benchmark input is not valid: {rejected[0]}", file=sys.stderr)
        return 1

    loads = orjson.loads

    def loads_only(batch: Sequence[bytes]) -> None:
        for raw in batch:
            loads(raw)

    def full_decode(batch: Sequence[bytes]) -> None:
        decode = decoder.decode
        for raw in batch:
            decode(raw, None)

    loads_rate = best_rate(loads_only, messages, args.repeat)
    decode_rate = best_rate(full_decode, messages, args.repeat)
    mean_size = sum(map(len, messages)) / len(messages)
    print(
        f"python {platform.python_version()} on {platform.machine()}, orjson {orjson.__version__}"
    )
    print(
        f"{len(messages)} messages, mean {mean_size:.0f} bytes, mix of {len(MIX)} types, best of {args.repeat}"
    )
    print(f"orjson.loads alone     {loads_rate:>12,.0f} events/s")
    print(f"full Decoder.decode    {decode_rate:>12,.0f} events/s")
    print(f"ratio (loads / decode) {loads_rate / decode_rate:>12.1f}x")
    if args.msgspec:
        _time_steps(decoder, messages, args.repeat, decode_rate)
    flag = " --msgspec" if args.msgspec else ""
    print(
        f"reproduce: python bench/bench_decode.py --events {args.events} --repeat {args.repeat}{flag}"
    )
    return 0


def _time_steps(
    decoder: Decoder, messages: Sequence[bytes], repeat: int, decode_rate: float
) -> None:
    """Today's decoder step by step, and the msgspec prototype (see the module header)."""
    import msgspec

    specs = decoder._specs  # the decoder's per-type tables, read only
    objects = [orjson.loads(raw) for raw in messages]
    build = decoder._build
    union = msgspec_types()
    one_pass = msgspec.json.Decoder(union)
    type_of = {cls: cls.__struct_config__.tag for cls in union.__args__}
    structs = one_pass.decode_lines(b"\n".join(messages))
    if len(structs) != len(messages):
        raise SystemExit("the msgspec prototype refused some of the benchmark's events")

    def accepts(batch: Sequence[bytes]) -> None:
        for obj in objects:
            specs[obj["type"]].accepts(obj)

    def builds(batch: Sequence[bytes]) -> None:
        for obj in objects:
            build(obj, specs[obj["type"]])

    def struct_only(batch: Sequence[bytes]) -> None:
        decode = one_pass.decode
        for raw in batch:
            decode(raw)

    def struct_then_event(batch: Sequence[bytes]) -> None:
        # The same conversions as Decoder._build, from the struct's attributes.
        decode = one_pass.decode
        for raw in batch:
            struct = decode(raw)
            event_type = type_of[type(struct)]
            spec = specs[event_type]
            get = struct.__getattribute__
            args = [get(name) if name != "type" else event_type for name, _ in spec.defaults]
            for position, _name, convert in spec.converted:
                if args[position] is not None:
                    args[position] = convert(args[position])
            if spec.effective_at is not None and args[spec.effective_at] is None:
                args[spec.effective_at] = args[2]
            spec.cls(*args)

    rows = [
        (
            "today: orjson.loads",
            best_rate(lambda b: [orjson.loads(r) for r in b], messages, repeat),
        ),
        ("today: jsonschema-rs verdict", best_rate(accepts, messages, repeat)),
        ("today: building the Event", best_rate(builds, messages, repeat)),
        ("today: Decoder.decode, all of it", decode_rate),
        ("msgspec prototype: bytes -> struct", best_rate(struct_only, messages, repeat)),
        (
            "msgspec prototype: bytes -> struct -> Event",
            best_rate(struct_then_event, messages, repeat),
        ),
    ]
    print(f"msgspec {msgspec.__version__}; microseconds per event:")
    for label, rate in rows:
        print(f"  {label:<44} {1e6 / rate:>6.2f} us  ({rate:>10,.0f}/s)")


if __name__ == "__main__":
    sys.exit(main())
