"""Decode speed at the edge: orjson.loads alone vs the full `Decoder.decode`.

Messages are the schema's examples with fresh ids and times, mixed by type roughly as
product telemetry arrives (feature use and logins dominate; billing is rare). Prints
events/s for both paths and their ratio; best of several runs on one core.

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

from streams.events import Decoder, Rejection, iter_examples

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
        event["occurred_at"] = f"2026-02-{day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{rng.randrange(1000):03d}Z"
        messages.append(orjson.dumps(event))
    return messages


def best_rate(run: Callable[[Sequence[bytes]], object], messages: Sequence[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run(messages)
        best = min(best, time.perf_counter() - start)
    return len(messages) / best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    print(f"python {platform.python_version()} on {platform.machine()}, orjson {orjson.__version__}")
    print(f"{len(messages)} messages, mean {mean_size:.0f} bytes, mix of {len(MIX)} types, best of {args.repeat}")
    print(f"orjson.loads alone     {loads_rate:>12,.0f} events/s")
    print(f"full Decoder.decode    {decode_rate:>12,.0f} events/s")
    print(f"ratio (loads / decode) {loads_rate / decode_rate:>12.1f}x")
    print(f"reproduce: python bench/bench_decode.py --events {args.events} --repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
