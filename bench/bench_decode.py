"""Decode speed at the edge: orjson.loads alone vs the full `Decoder.decode`, and the
decoder's two ways step by step.

Messages are the schema's examples with fresh ids and times, mixed by type roughly as
product telemetry arrives (feature use and logins dominate; billing is rare). Prints
events per CPU second of this process (best of several runs, `time.process_time`, so
that other work on a shared machine counts less) for both paths and their ratio, then
per step: the long way (orjson.loads, jsonschema-rs's verdict, building the event from
the dict: what every message took before the one pass, and what a refused one still
takes) and the one pass (bytes -> wire struct -> event, streams/contract/onepass.py).

    python bench/bench_decode.py [--events 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence

import orjson

from streams.contract.decoding import Decoder, Rejection, iter_examples

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
    """Events per CPU second of this process, best of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(messages)
        best = min(best, time.process_time() - start)
    return len(messages) / max(best, 1e-9)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
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
    print(f"orjson.loads alone     {loads_rate:>12,.0f} events per CPU second")
    print(f"full Decoder.decode    {decode_rate:>12,.0f} events per CPU second")
    print(f"ratio (loads / decode) {loads_rate / decode_rate:>12.1f}x")
    _time_steps(messages, args.repeat)
    print(f"reproduce: python bench/bench_decode.py --events {args.events} --repeat {args.repeat}")
    return 0


def _time_steps(messages: Sequence[bytes], repeat: int) -> None:
    """Both ways of the decoder, step by step, alternating so that load hits both alike."""
    import msgspec

    one_pass, long_way = Decoder(), Decoder(one_pass=False)
    specs = long_way._specs  # the decoder's per-type tables, read only
    wire_decoder = one_pass._wire_decoder
    objects = [orjson.loads(raw) for raw in messages]
    build = long_way._build

    def accepts(batch: Sequence[bytes]) -> None:
        for obj in objects:
            specs[obj["type"]].accepts(obj)

    def builds(batch: Sequence[bytes]) -> None:
        for obj in objects:
            build(obj, specs[obj["type"]])

    def wire_only(batch: Sequence[bytes]) -> None:
        assert wire_decoder is not None
        decode = wire_decoder.decode
        for raw in batch:
            try:
                decode(raw)
            except msgspec.ValidationError:
                pass  # survey_response: the long way

    def decode_all(decoder: Decoder) -> Callable[[Sequence[bytes]], None]:
        def run(batch: Sequence[bytes]) -> None:
            decode = decoder.decode
            for raw in batch:
                decode(raw, None)

        return run

    rows = [
        ("long way: orjson.loads", lambda b: [orjson.loads(r) for r in b]),
        ("long way: jsonschema-rs's verdict", accepts),
        ("long way: building the event from the dict", builds),
        ("long way: Decoder.decode, all of it", decode_all(long_way)),
        ("one pass: bytes -> wire struct", wire_only),
        ("one pass: Decoder.decode, all of it", decode_all(one_pass)),
    ]
    rates = {label: best_rate(run, messages, repeat) for label, run in rows}
    print(f"msgspec {msgspec.__version__}; microseconds of CPU per event:")
    for label, rate in rates.items():
        print(f"  {label:<44} {1e6 / rate:>6.2f} us  ({rate:>10,.0f}/s)")
    ratio = (
        rates["one pass: Decoder.decode, all of it"] / rates["long way: Decoder.decode, all of it"]
    )
    print(f"  one pass / long way, events per CPU second    {ratio:>6.2f}x")


if __name__ == "__main__":
    sys.exit(main())
