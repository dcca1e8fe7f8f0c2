"""The per-user record an account keeps: one compact object per (account_id, user_id).

Each field belongs to one metric family, which alone reads and writes it:

- `activity_times` activity: in one array (activity.py alone reads the layout), the
             presence set of the times of events that count as activity (`[engine]
             activity_types`, `core_features`; exact for windows >= 20 hours), the sorted
             login times (login counts) and the presence set of login times (exact for 30
             days; logged in but idle)
- `trail`    sessions: sorted login/feature_used/logout entries, `time * 2 + is_logout`
- `trail_head` sessions: start of the session that `trail[0]` continues, or NO_TIME
- `tagged`   sessions: sorted login/logout entries that carry a session_id, of every session
- `tagged_ids` sessions: the session_id of each entry of `tagged`, at its position, in
             one bytes object (UTF-8, each ended by 0xff; sessions.py alone reads it)
- `feature_names` adoption: the features the user used, in first-use order (interned names)
- `feature_times` adoption: the presence set of each feature's use times (exact for 30
             days), in that order, in one array (adoption.py alone reads the layout)
- `sessions_view` sessions: the sessions walked from `trail` and `tagged`, kept for
             history's steps (not stored; sessions.py alone builds, extends, trims and
             drops it)
- `version`  checkpoints: a token of the user's state, a new one after every change (not
             stored; state_codec.user_version makes it, AccountState drops it)
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from streams.engine.timeline import NO_TIME

if TYPE_CHECKING:
    from streams.engine.sessions import SessionView


class User:
    __slots__ = (
        "activity_times",
        "feature_names",
        "feature_times",
        "sessions_view",
        "tagged",
        "tagged_ids",
        "trail",
        "trail_head",
        "version",
    )

    def __init__(self) -> None:
        self.activity_times: array[int] = array("q", (0, 0))  # three empty sections (activity.py)
        self.trail: array[int] = array("q")
        self.trail_head = NO_TIME
        self.tagged: array[int] = array("q")
        self.tagged_ids = b""
        self.feature_names: tuple[str, ...] = ()
        self.feature_times: array[int] = array("q")
        self.sessions_view: SessionView | None = None
        self.version: object | None = None
        """A token of the user's state as it is (state_codec.user_version): the same object
        until the user changes; whoever changes the user resets it (AccountState, the only
        writer)."""

    def is_empty(self) -> bool:
        return not (
            len(self.activity_times) > 2  # more than the two section lengths (activity.py)
            or self.trail
            or self.tagged
            or self.feature_names
        )
