"""MRR movements: each change of an account's MRR step function is one movement.

Definition: at every time t where account MRR changes from `before` to `after`:
- `new`: 0 -> > 0 and the account never had MRR > 0 earlier;
- `reactivation`: 0 -> > 0 after an earlier period with MRR > 0 (with
  `reactivation_window_days = N`: only if its last churn was at most N days before t,
  otherwise `new`);
- `expansion`: up, staying > 0; `contraction`: down, staying > 0;
- `churn`: > 0 -> 0; involuntary when it happens because a dunning window ended unpaid.
With `free_subscriptions = "active"` (the default) an account with a free subscription in
force (out of trial) is still a customer at MRR 0: > 0 -> 0 while it stays a customer is a
`contraction`, and 0 -> > 0 while it was a customer just before is an `expansion` (unless
it never had MRR > 0: then `new`). `classify`'s `free_customers` tells when it is one.
The amount is |after - before| in reporting cents. Changes of several subscriptions at the
same instant net into one movement. A movement exists at T if t <= T and every record that
causes it has occurred_at <= T (the step function is built from those records only).

A window of width W at T holds the movements with t in (T - W, T]. Their signed sum is
MRR(T) - MRR(T - W). With `same_window_new_and_churn = "ignore"`, a paid spell that starts
with `new` and ends with `churn` inside the window is left out entirely (its movements from
the `new` through the `churn`); that spell nets to 0, so the identity still holds.
"""

from __future__ import annotations

from bisect import bisect_right
from operator import attrgetter
from typing import NamedTuple

from streams.engine.revenue.steps import Steps

NEW = "new"
REACTIVATION = "reactivation"
EXPANSION = "expansion"
CONTRACTION = "contraction"
CHURN = "churn"
KINDS: tuple[str, ...] = (NEW, EXPANSION, CONTRACTION, CHURN, REACTIVATION)
GAINS = frozenset({NEW, EXPANSION, REACTIVATION})


class Movement(NamedTuple):
    time: int
    kind: str
    cents: int
    involuntary: bool = False
    """A churn caused by a dunning window that ended unpaid (not by a cancellation)."""


class History(NamedTuple):
    """What an account's compacted past (before its floor) says about movements after it."""

    paid: bool
    """It had MRR > 0 at some time before the floor."""
    last_churn: int | None
    """The time of its last churn at or before the floor."""


NO_HISTORY = History(False, None)
_time = attrgetter("time")


def classify(
    steps: Steps,
    floor: int | None,
    history: History,
    window_ms: int | None,
    free_customers: Steps | None = None,
    delinquent_from: frozenset[int] = frozenset(),
) -> list[Movement]:
    """The movements of an account's MRR steps after `floor` (all of them if floor is None).

    Steps at or before the floor only give the MRR at the floor; `history` says whether the
    account had paid, and when it last churned, before it. `free_customers`, when given, is
    the number of subscriptions in force out of trial (priced or not): while it is > 0 the
    account is a customer even at MRR 0. A churn at a time in `delinquent_from` (the end of
    an unpaid dunning window) is involuntary.
    """
    start = 0 if floor is None else bisect_right(steps.times, floor)
    previous = steps.values[start - 1] if start > 0 else 0
    paid = history.paid or previous > 0
    last_churn = history.last_churn
    movements: list[Movement] = []
    for time, current in zip(steps.times[start:], steps.values[start:], strict=True):
        if previous == 0:
            recent = window_ms is None or last_churn is None or time - last_churn <= window_ms
            if paid and free_customers is not None and free_customers.at(time - 1) > 0:
                movements.append(Movement(time, EXPANSION, current))  # from a free plan
            else:
                movements.append(Movement(time, REACTIVATION if paid and recent else NEW, current))
        elif current == 0:
            if free_customers is not None and free_customers.at(time) > 0:
                movements.append(Movement(time, CONTRACTION, previous))  # to a free plan
            else:
                movements.append(Movement(time, CHURN, previous, time in delinquent_from))
                last_churn = time
        elif current > previous:
            movements.append(Movement(time, EXPANSION, current - previous))
        else:
            movements.append(Movement(time, CONTRACTION, previous - current))
        paid = paid or current > 0
        previous = current
    return movements


def in_window(
    movements: list[Movement], low_exclusive: int, high_inclusive: int, drop_new_churn_spells: bool
) -> list[Movement]:
    """The movements with time in (low_exclusive, high_inclusive], optionally without the
    paid spells that start with `new` and end with `churn` inside that window."""
    window = movements[
        bisect_right(movements, low_exclusive, key=_time) : bisect_right(
            movements, high_inclusive, key=_time
        )
    ]
    if not drop_new_churn_spells:
        return window
    kept: list[Movement] = []
    spell: list[Movement] = []
    for movement in window:
        if movement.kind == NEW:
            kept.extend(spell)
            spell = [movement]
        elif spell:
            spell.append(movement)
            if movement.kind == CHURN:
                spell = []  # a whole new-to-churn spell inside the window: left out
        else:
            kept.append(movement)
    kept.extend(spell)
    return kept
