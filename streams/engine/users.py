"""The per-user record an account keeps: one compact object per (account_id, user_id).

Each field belongs to one metric family, which alone reads and writes it:

- `seen`     activity: presence set of the times of events that count as activity
             (`[engine] activity_types`, `core_features`), exact for windows >= 20 hours
- `logins`   activity: sorted login times (login counts)
- `login_seen` activity: presence set of login times (exact for 30 days; logged in but idle)
- `trail`    sessions: sorted login/feature_used/logout entries, `time * 2 + is_logout`
- `trail_head` sessions: start of the session that `trail[0]` continues, or NO_TIME
- `tagged`   sessions: session_id -> sorted login/logout entries that carry that id
- `features` adoption: feature name -> presence set of its use times (exact for 30 days)
- `sessions_view` sessions: the sessions walked from `trail` and `tagged`, kept for
             history's steps (not stored; sessions.py alone builds, extends, trims and
             drops it)
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

import orjson

from streams.engine.timeline import NO_TIME

if TYPE_CHECKING:
    from streams.engine.sessions import SessionView


class User:
    __slots__ = (
        "encoded",
        "features",
        "login_seen",
        "logins",
        "seen",
        "sessions_view",
        "tagged",
        "trail",
        "trail_head",
    )

    def __init__(self) -> None:
        self.seen: array[int] = array("q")
        self.logins: array[int] = array("q")
        self.login_seen: array[int] = array("q")
        self.trail: array[int] = array("q")
        self.trail_head = NO_TIME
        self.tagged: dict[str, array[int]] = {}
        self.features: dict[str, array[int]] = {}
        self.sessions_view: SessionView | None = None
        self.encoded: orjson.Fragment | None = None
        """`to_obj` as JSON, kept while the user is unchanged; whoever changes the user
        resets it (AccountState, the only writer)."""

    def fragment(self) -> orjson.Fragment:
        """The user's JSON for AccountState.to_bytes, encoded once per change: an account
        row is written after every batch that touches the account, which mostly leaves
        most of its users as they were."""
        if self.encoded is None:
            self.encoded = orjson.Fragment(orjson.dumps(self.to_obj()))
        return self.encoded

    def is_empty(self) -> bool:
        return not (
            self.seen
            or self.logins
            or self.login_seen
            or self.trail
            or self.tagged
            or self.features
        )

    def to_obj(self) -> list[Any]:
        obj: list[Any] = [
            self.seen.tolist(),
            self.logins.tolist(),
            self.trail.tolist(),
            self.trail_head,
            {name: times.tolist() for name, times in self.features.items()},
            self.login_seen.tolist(),
        ]
        if self.tagged:  # rows of users without session ids keep their earlier form
            obj.append({session_id: trail.tolist() for session_id, trail in self.tagged.items()})
        return obj

    @classmethod
    def from_obj(cls, obj: list[Any]) -> User:
        user = cls()
        seen, logins, trail, user.trail_head, features = obj[:5]
        user.seen.fromlist(seen)
        user.logins.fromlist(logins)
        # rows written before `login_seen` existed: their login times are all there is
        user.login_seen.fromlist(obj[5] if len(obj) > 5 else logins)
        user.trail.fromlist(trail)
        user.features = {name: array("q", times) for name, times in features.items()}
        if len(obj) > 6:
            user.tagged = {
                session_id: array("q", entries) for session_id, entries in obj[6].items()
            }
        return user
