"""IncrementalSnapshot: `Engine.snapshot` at a rising sequence of times, recounting only
what changed.

A snapshot is a sum of shares: each user's share of activity, sessions and adoption, each
account's share of support, surveys, lifecycle and revenue (the family `tally`
functions). A share at T stays the same at every later T' until either an event changes
the unit it reads, or time moves past the unit's next window edge: the latest activity
leaves the 1-day window, a session closes by inactivity, a ticket's first reply leaves the
7-day window, an MRR step reaches T - 30d, ... Each family says when that is
(`next_change`, next to its `tally`, reading the same state the same way).

So this keeps, per unit (family, account, user), its share as of the last recount and the
time it stays valid until, and the running sums of the shares. A snapshot at T recounts
the units marked by `touch` (an event was applied to them) and those whose validity ended
at or before T (a heap ordered by that time), replaces their shares in the sums, and
builds the samples from the sums with `Engine.samples`, the code the full snapshot uses.
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
from collections.abc import Callable
from dataclasses import fields, is_dataclass
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
Share = dict[tuple[Any, ...], int]
"""One unit's share as flat (field, key...) -> value pairs."""

Counter = Callable[[AccountState, str, int], "tuple[Any, int] | None"]
"""Counts one unit's share at T: (its family totals, valid until), None when it is gone."""
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


_FIELDS: dict[type, tuple[str, ...]] = {}


def _flatten(totals: Any, prefix: tuple[Any, ...], out: Share) -> None:
    """A totals dataclass (fields of int, list of int, dict of int or of list of int) as
    flat pairs. Zeros are left out, except under a dict key: the keys a share holds
    matter (a full snapshot lists a plan or feature once any account has it, even at 0);
    `_share` drops the zeros of the keys every share has anyway."""
    names = _FIELDS.get(type(totals))
    if names is None:
        names = _FIELDS[type(totals)] = tuple(item.name for item in fields(totals))
    for name in names:
        value = getattr(totals, name)
        if type(value) is int:  # the common cases first, without the general walk
            if value:
                out[(*prefix, name)] = value
        elif type(value) is list:
            for index, element in enumerate(value):
                if element:
                    out[(*prefix, name, index)] = element
        else:
            _flatten_value(value, (*prefix, name), out, False)


def _flatten_value(value: Any, path: tuple[Any, ...], out: Share, keyed: bool) -> None:
    if isinstance(value, int):
        if value or keyed:
            out[path] = value
    elif isinstance(value, list):
        for index, element in enumerate(value):
            if element or keyed:
                out[(*path, index)] = element
    elif isinstance(value, dict):
        for key, element in value.items():
            _flatten_value(element, (*path, "key", key), out, True)
    elif is_dataclass(value):
        _flatten(value, path, out)
    else:  # pragma: no cover - a totals field of another type is a programming error
        raise TypeError(f"cannot sum a totals field of type {type(value).__name__} at {path}")


def _share(totals: Any, family: str, defaults: dict[str, frozenset[tuple[Any, ...]]]) -> Share:
    """The flat share of one unit, without the zeros of keys every Totals has by default."""
    share: Share = {}
    _flatten(totals, (family,), share)
    default = defaults.get(family)
    if default is None:
        fresh: Share = {}
        _flatten(type(totals)(), (family,), fresh)
        default = defaults[family] = frozenset(fresh)
    if not default:
        return share
    return {path: value for path, value in share.items() if value or path not in default}


def _unflatten(sums: dict[tuple[Any, ...], int], present: dict[tuple[Any, ...], int]) -> Totals:
    """A Totals holding the sums; dict keys that no current share has are left out, as a
    full snapshot never creates them."""
    totals = Totals()
    for path, value in sums.items():
        target: Any = totals
        steps = list(path)
        while steps:
            step = steps.pop(0)
            if step == "key":
                key = steps.pop(0)
                if not present.get(path, 0):
                    break
                if steps:
                    container = target.setdefault(key, None)
                    if container is None:  # pragma: no cover - dicts of lists are pre-filled
                        raise TypeError(f"no default for {path}")
                    target = container
                    continue
                target[key] = value
            elif isinstance(step, int):
                target[step] = value
            elif steps:
                target = getattr(target, step)
            else:
                setattr(target, step, value)
    return totals


class IncrementalSnapshot:
    """The engine's snapshots at rising times, each share recounted only when it can have
    changed (see the module header)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shares: dict[Key, tuple[Share, int]] = {}
        """Unit -> (its share at the last recount, the time it stays valid until)."""
        self.by_account: dict[str, set[Key]] = {}
        self.sums: dict[tuple[Any, ...], int] = {}
        self.present: dict[tuple[Any, ...], int] = {}
        """Flat key under a dict key -> how many shares hold it (a dict key appears only while
        some share has it)."""
        self.due: list[tuple[int, int, Key]] = []
        """(time, push number, unit): the unit's share is recounted once the time has come,
        if it is still the time its share is kept with (the push number saves comparing
        units at equal times)."""
        self._pushed = 0
        self.dirty: set[Key] = set()
        self.last_as_of: int | None = None
        self._defaults: dict[str, frozenset[tuple[Any, ...]]] = {}
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
        while due and due[0][0] <= as_of:
            until, _, key = heapq.heappop(due)
            kept = shares.get(key)
            if kept is not None and kept[1] == until:
                dirty.add(key)
        for key in dirty:
            self._recount(key, as_of)
        dirty.clear()
        return self.engine.samples(_unflatten(self.sums, self.present), as_of)

    def _recount(self, key: Key, as_of: int) -> None:
        self.recounted += 1
        family, account_id, user_id = key
        old = self.shares.pop(key, None)
        state = self.engine.store.get(account_id)
        counted = None if state is None else self._count[family](state, user_id, as_of)
        if counted is None:
            if old is not None:
                self._add(old[0], -1)
            keys = self.by_account.get(account_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_account[account_id]
            return
        totals, until = counted
        share = _share(totals, TOTALS_FIELD.get(family, family), self._defaults)
        if old is None:
            self._add(share, 1)
        elif old[0] != share:  # (a recount at a window edge often finds the same share)
            self._add(old[0], -1)
            self._add(share, 1)
        self.shares[key] = (share, until)
        keys = self.by_account.get(account_id)
        if keys is None:
            keys = self.by_account[account_id] = set()
        keys.add(key)
        # A share kept with the same time still has its entry in `due` (an entry is only
        # taken out once its time has come, and `until` is always after T).
        if until < NEVER and (old is None or old[1] != until):
            self._pushed += 1
            heapq.heappush(self.due, (until, self._pushed, key))

    def _add(self, share: Share, sign: int) -> None:
        sums, present = self.sums, self.present
        for path, value in share.items():
            sums[path] = sums.get(path, 0) + sign * value
            if len(path) > 2 and path[2] == "key":  # (family, field, "key", key[, index])
                present[path] = present.get(path, 0) + sign


def _user_family(factory: Callable[[], Any], tally: Callable[[User, int, Any], int]) -> Counter:
    """`tally(user, T, totals)` adds the user's share at T to totals and returns the time
    it stays valid until (the family's `next_change`)."""

    def count(state: AccountState, user_id: str, as_of: int) -> tuple[Any, int] | None:
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
    def count(state: AccountState, _user_id: str, as_of: int) -> tuple[Any, int] | None:
        held = getattr(state, attribute)
        if not held:
            return None
        totals = factory()
        tally(held, as_of, totals)
        return totals, next_change(held, as_of)

    return count


def _revenue_family(config: RevenueConfig) -> Counter:
    def count(state: AccountState, _user_id: str, as_of: int) -> tuple[Any, int] | None:
        if state.revenue is None:
            return None
        totals = revenue.RevenueTotals()
        revenue.tally(state.revenue, as_of, config, totals)
        return totals, revenue.next_change(state.revenue, as_of, config)

    return count
