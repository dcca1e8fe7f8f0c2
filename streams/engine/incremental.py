"""IncrementalSnapshot: `Engine.snapshot` at a rising sequence of times, recounting only
what changed.

A snapshot is a sum of shares: each user's share of activity, login counts, sessions and
adoption, each account's share of support, surveys, lifecycle and revenue (the family
`tally` functions; the login counts are apart from the rest of the activity because they
change at other times, at each login's window edges). A share at T stays the same at every later T' until either an event changes
the unit it reads, or time moves past the unit's next window edge: the latest activity
leaves the 1-day window, a session closes by inactivity, a ticket's first reply leaves the
7-day window, an MRR step reaches T - 30d, ... Each family says when that is
(`next_change`, next to its `tally`, reading the same state the same way).

So this keeps, per unit (family, account, user), its share as of the last recount (the
family's totals dataclass) and the time it stays valid until, and the running sums of the
shares (one `Totals`, added to and taken from field by field). A snapshot at T recounts
the units marked by `touch` (an event of a type the family reads was applied to them) and
those whose validity ended at or before T (a heap ordered by that time), replaces their
shares in the sums, and builds the samples from a copy of the sums with `Engine.samples`,
the code the full snapshot uses.
Cost per snapshot: the units that changed or crossed a window edge since the previous one,
plus the samples; not every account and user.

Rules for the caller: every event applied to the engine is passed to `touch` (or its
account to `touch_account` after the account was rebuilt); snapshot times do not go back
(if they do, everything is recounted). Pruning between snapshots needs no touch: it only
forgets what no snapshot at or after the account's clocks can read (engine.prune), and
every T here is at or after them. Sums are exact integers, so the result equals a full
`Engine.snapshot(T)` (tests/test_incremental.py checks that at every step).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

from streams.contract.model import Event
from streams.engine import activity, adoption, lifecycle, sessions, support, surveys
from streams.engine.account import USER_ACTIVITY_TYPES, AccountState
from streams.engine.engine import Engine, Totals
from streams.engine.revenue import RevenueConfig
from streams.engine.revenue import metrics as revenue
from streams.engine.samples import Sample
from streams.engine.timeline import NEVER
from streams.engine.users import User

Key = tuple[str, str, str]
"""(family, account_id, user_id), user_id "" for the account-level families."""
Share = tuple[Any, int]
"""(totals, until): a unit's share of its family's totals (a totals dataclass) and the time
it stays valid until (the family's `next_change`; NEVER: for good). Plain tuples, unpacked
by name where read: history recounts shares millions of times, and a NamedTuple's
construction cost about a tenth of its CPU time (measured)."""
DueRecount = tuple[int, int, Key]
"""(time, push number, unit): an entry of the recount heap (ordered as a tuple)."""
Counter = Callable[[AccountState, str, int], "Share | None"]
"""Counts one unit's share at T; None when the unit is gone."""
USER_FAMILIES = ("activity", "logins", "sessions", "adoption")
USER_FAMILIES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "login": ("activity", "logins", "sessions"),
    "logout": ("sessions",),
    "feature_used": ("activity", "sessions", "adoption"),
}
"""The user families whose share an event of the type can change (what
`AccountState._apply_activity` records for it and each family's tally reads)."""
if set(USER_FAMILIES_BY_TYPE) != USER_ACTIVITY_TYPES:  # pragma: no cover - checked at import
    raise RuntimeError("USER_FAMILIES_BY_TYPE must list every user activity type")
TOTALS_FIELD = {"logins": "activity"}
"""The `Totals` field a family's share adds to, when not the family's name: the login
counts are a unit of their own (they change at each login's window edges, the rest of
the activity at other times), summed into the activity totals."""
ACCOUNT_FAMILIES = ("support", "surveys", "lifecycle", "revenue")


_INT, _LIST, _DICT = 0, 1, 2
_SPECS: dict[type, tuple[tuple[str, int, frozenset[Any]], ...]] = {}


def _spec(cls: type) -> tuple[tuple[str, int, frozenset[Any]], ...]:
    """A totals dataclass's fields as (name, kind, the keys a fresh dict field has)."""
    spec = _SPECS.get(cls)
    if spec is None:
        fresh = cls()
        built: list[tuple[str, int, frozenset[Any]]] = []
        for item in fields(cls):
            value = getattr(fresh, item.name)
            if isinstance(value, int):
                built.append((item.name, _INT, frozenset()))
            elif isinstance(value, list):
                built.append((item.name, _LIST, frozenset()))
            elif isinstance(value, dict):
                built.append((item.name, _DICT, frozenset(value)))
            else:  # pragma: no cover - a totals field of another type is a programming error
                raise TypeError(f"cannot sum {cls.__name__}.{item.name} ({type(value).__name__})")
        spec = _SPECS[cls] = tuple(built)
    return spec


def _accumulate(into: Any, share: Any, sign: int, holders: dict[tuple[Any, ...], int]) -> None:
    """Add (sign 1) or take back (sign -1) one unit's share (a totals dataclass: fields of
    int, list of int, dict of int or of list of int) to the running sums `into`, of the
    same type. A dict key a fresh totals has not is in the sums while some share holds it
    (`holders`), even at 0, as a full snapshot lists a plan or a feature once any account
    has it; it goes when the last share holding it does."""
    for name, kind, defaults in _spec(type(share)):
        value = getattr(share, name)
        if kind == _INT:
            if value:
                setattr(into, name, getattr(into, name) + sign * value)
        elif kind == _LIST:
            target = getattr(into, name)
            for index, element in enumerate(value):
                if element:
                    target[index] += sign * element
        elif value:
            target = getattr(into, name)
            for key, element in value.items():
                if isinstance(element, list):
                    held = target.get(key)
                    if held is None:
                        held = target[key] = [0] * len(element)
                    for index, part in enumerate(element):
                        held[index] += sign * part
                else:
                    target[key] = target.get(key, 0) + sign * element
                if key not in defaults:
                    path = (type(share), name, key)
                    count = holders[path] = holders.get(path, 0) + sign
                    if not count:
                        del holders[path], target[key]


def _copy(totals: Any) -> Any:
    """A copy of running sums that the caller may keep or change."""
    copied = {}
    for name, kind, _ in _spec(type(totals)):
        value = getattr(totals, name)
        if kind == _LIST:
            value = list(value)
        elif kind == _DICT:
            value = {key: list(v) if isinstance(v, list) else v for key, v in value.items()}
        copied[name] = value
    return type(totals)(**copied)


def sum_totals(parts: Iterable[Totals]) -> Totals:
    """The totals of a union of disjoint sets of accounts, from each set's totals
    (`Engine.tally_steps`): field by field, as the running sums add a share. Every field is
    an integer sum and a dict key is kept when any part has it, as a full snapshot keeps it
    when any account has it, so the result equals the union's own totals."""
    summed = Totals()
    holders: dict[tuple[Any, ...], int] = {}
    for part in parts:
        for item in fields(Totals):
            _accumulate(getattr(summed, item.name), getattr(part, item.name), 1, holders)
    return summed


class IncrementalSnapshot:
    """The engine's snapshots at rising times, each share recounted only when it can have
    changed (see the module header)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shares: dict[Key, Share] = {}
        """Unit -> its share at the last recount."""
        self.by_account: dict[str, set[Key]] = {}
        self.sums = Totals()
        """The running sums of the shares, family by family."""
        self.holders: dict[tuple[Any, ...], int] = {}
        """(totals type, field, dict key) -> how many shares hold that key (`_accumulate`)."""
        self.due: list[DueRecount] = []
        """The recount heap: a unit's share is recounted once the time has come, if it is
        still the time its share is kept with (the push number saves comparing units at
        equal times)."""
        self._pushed = 0
        self.dirty: set[Key] = set()
        self.last_as_of: int | None = None
        self.recounted = 0
        """Shares recounted so far (for the benchmark)."""
        config = engine.config
        listed = frozenset(config.features) if config.features else None
        gap = config.session_gap_ms
        revenue_config = engine.revenue_config

        def count_activity(user: User, as_of: int, into: activity.ActivityTotals) -> int:
            days = activity.calendar_bounds(as_of, config)  # (cached by T)
            activity.tally_activity(user, as_of, days, config, into)
            return activity.activity_change(user, as_of, config)

        def count_logins(user: User, as_of: int, into: activity.ActivityTotals) -> int:
            activity.tally_logins(user, as_of, into)
            return activity.logins_change(user, as_of)

        def count_sessions(user: User, as_of: int, into: sessions.SessionTotals) -> int:
            return sessions.tally_and_next_change(user, as_of, gap, into)

        def count_adoption(user: User, as_of: int, into: adoption.AdoptionTotals) -> int:
            adoption.tally(user, as_of, into, listed)
            return adoption.next_change(user, as_of)

        self._count: dict[str, Counter] = {
            "activity": _user_family(activity.ActivityTotals, count_activity),
            "logins": _user_family(activity.ActivityTotals, count_logins),
            "sessions": _user_family(sessions.SessionTotals, count_sessions),
            "adoption": _user_family(adoption.AdoptionTotals, count_adoption),
            "support": _account_family(
                "tickets", support.SupportTotals, support.tally, support.next_change
            ),
            "surveys": _account_family(
                "responses", surveys.SurveyTotals, surveys.tally, surveys.next_change
            ),
            "lifecycle": _account_family(
                "milestones", lifecycle.LifecycleTotals, lifecycle.tally, lifecycle.next_change
            ),
            "revenue": _revenue_family(revenue_config),
        }

    # ------------------------------------------------------------------ marking

    def touch(self, event: Event) -> None:
        """An event was applied: its user's shares (activity) or its account's shares
        (every other type) are recounted at the next snapshot."""
        account_id = event.account_id
        if event.type in USER_ACTIVITY_TYPES:
            if event.user_id is not None:
                user_id = event.user_id
                self.dirty.update(
                    (family, account_id, user_id) for family in USER_FAMILIES_BY_TYPE[event.type]
                )
        else:
            self.dirty.update((family, account_id, "") for family in ACCOUNT_FAMILIES)

    def touch_account(self, account_id: str) -> None:
        """The account's state was replaced: recount every share it has or had."""
        self.dirty.update(self.by_account.get(account_id, ()))
        self.dirty.update((family, account_id, "") for family in ACCOUNT_FAMILIES)
        state = self.engine.store.get(account_id)
        if state is not None:
            for user_id in state.users:
                self.dirty.update((family, account_id, user_id) for family in USER_FAMILIES)

    # ------------------------------------------------------------------ snapshots

    def snapshot(self, as_of: int) -> list[Sample]:
        """Every metric as of `as_of`, equal to `Engine.snapshot(as_of)`."""
        if self.last_as_of is not None and as_of < self.last_as_of:
            self.dirty.update(self.shares)  # time went back: validity is forward only
        self.last_as_of = as_of
        due, dirty, shares = self.due, self.dirty, self.shares
        while due:
            until, _, key = due[0]
            if until > as_of:
                break
            heapq.heappop(due)
            kept = shares.get(key)
            if kept is not None:
                _, kept_until = kept
                if kept_until == until:
                    dirty.add(key)
        for key in dirty:
            self._recount(key, as_of)
        dirty.clear()
        sums = self.sums
        totals = Totals(**{item.name: _copy(getattr(sums, item.name)) for item in fields(Totals)})
        return self.engine.samples(totals, as_of)

    def _recount(self, key: Key, as_of: int) -> None:
        self.recounted += 1
        family, account_id, user_id = key
        old = self.shares.pop(key, None)
        state = self.engine.store.get(account_id)
        counted = None if state is None else self._count[family](state, user_id, as_of)
        into = getattr(self.sums, TOTALS_FIELD.get(family, family))
        old_share, old_until = old if old is not None else (None, None)
        if counted is None:
            if old is not None:
                _accumulate(into, old_share, -1, self.holders)
            keys = self.by_account.get(account_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_account[account_id]
            return
        share, until = counted
        if old is None:
            _accumulate(into, share, 1, self.holders)
        elif old_share != share:  # (a recount at a window edge often finds the same share)
            _accumulate(into, old_share, -1, self.holders)
            _accumulate(into, share, 1, self.holders)
        self.shares[key] = counted
        keys = self.by_account.get(account_id)
        if keys is None:
            keys = self.by_account[account_id] = set()
        keys.add(key)
        # A share kept with the same time still has its entry in `due` (an entry is only
        # taken out once its time has come, and `until` is always after T).
        if until < NEVER and (old is None or old_until != until):
            self._pushed += 1
            heapq.heappush(self.due, (until, self._pushed, key))


def _user_family(factory: Callable[[], Any], tally: Callable[[User, int, Any], int]) -> Counter:
    """`tally(user, T, totals)` adds the user's share at T to totals and returns the time
    it stays valid until (the family's `next_change`)."""

    def count(state: AccountState, user_id: str, as_of: int) -> Share | None:
        user = state.users.get(user_id)
        if user is None:
            return None
        totals = factory()
        return totals, tally(user, as_of, totals)

    return count


def _account_family(
    attribute: str,
    factory: Callable[[], Any],
    tally: Callable[[Any, int, Any], None],
    next_change: Callable[[Any, int], int],
) -> Counter:
    def count(state: AccountState, _user_id: str, as_of: int) -> Share | None:
        held = getattr(state, attribute)
        if not held:
            return None
        totals = factory()
        tally(held, as_of, totals)
        return totals, next_change(held, as_of)

    return count


def _revenue_family(config: RevenueConfig) -> Counter:
    def count(state: AccountState, _user_id: str, as_of: int) -> Share | None:
        if state.revenue is None:
            return None
        totals = revenue.RevenueTotals()
        revenue.tally(state.revenue, as_of, config, totals)
        return totals, revenue.next_change(state.revenue, as_of, config)

    return count
