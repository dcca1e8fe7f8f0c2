"""CRM facts and onboarding pace: `account_updated` events and how fast new accounts onboard.

- Every account gets an `account_updated` at acquisition: a name, a segment by size
  (1-3 users `smb`, 4-25 `mid_market`, more `enterprise`), an owner (CSM) from a small
  pool (enterprise accounts from a smaller pool of their own), a renewal date one year
  after acquisition (80 % of accounts) and the seats purchased (70 %, at or above the
  seats the account first pays for). About one account in five is updated once more,
  weeks later (a new owner, or more seats), so "the latest record at T" matters.
- Onboarding journeys of new accounts come in three paces, so every onboarding outcome
  occurs: `fast` (steps minutes apart, as before), `steady` (steps half a day to four
  days apart: completion takes days, the time-to-value spread seeds 000 describes) and
  `stalled` (steps days apart, and the journey stops after one to three steps: the
  accounts stuck in onboarding).

These draws use a random generator of their own (seeded from the dataset's seed), so the
rest of the dataset draws exactly the numbers it drew before this module existed.
"""

from __future__ import annotations

import random
from typing import Any

from streams.generator.clock import DAY_MS, HOUR_MS, rfc3339
from streams.generator.timeline import Timeline
from streams.generator.world import Account, choose

OWNERS: tuple[str, ...] = ("csm-ana", "csm-ben", "csm-chloe", "csm-dev", "csm-eva", "csm-farid")
ENTERPRISE_OWNERS: tuple[str, ...] = ("csm-gus", "csm-hana")
NAMES: tuple[str, ...] = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Pied Piper",
    "Dunder",
    "Aperture",
)
PACES: tuple[tuple[str, float], ...] = (("fast", 0.45), ("steady", 0.35), ("stalled", 0.20))
RENEWAL_SHARE = 0.8
SEATS_SHARE = 0.7
SECOND_UPDATE_SHARE = 0.2


def segment_for(users: int) -> str:
    return "smb" if users <= 3 else "mid_market" if users <= 25 else "enterprise"


class Crm:
    def __init__(self, timeline: Timeline, seed: int) -> None:
        self.timeline = timeline
        self.rng = random.Random(f"crm:{seed}")
        self.pace: dict[str, str] = {}

    def plan_account(self, account: Account) -> None:
        """Schedule the account's CRM records and choose its onboarding pace (called once
        per account, in account order, at build time)."""
        rng = self.rng
        segment = segment_for(len(account.users))
        owners = ENTERPRISE_OWNERS if segment == "enterprise" else OWNERS
        record: dict[str, Any] = {
            "name": f"{rng.choice(NAMES)} {account.account_id[5:]}",
            "segment": segment,
            "owner": rng.choice(owners),
        }
        if rng.random() < RENEWAL_SHARE:
            record["renewal_at"] = account.acquired_at + 365 * DAY_MS
        seats = None
        if rng.random() < SEATS_SHARE:
            seats = max(1, int(len(account.users) * (1.0 + rng.random())))
            record["seats_purchased"] = seats
        self._emit(account.acquired_at + HOUR_MS // 60, account, record)
        if rng.random() < SECOND_UPDATE_SHARE:
            later = dict(record)
            if rng.random() < 0.5:
                later["owner"] = rng.choice(owners)
            elif seats is not None:
                later["seats_purchased"] = seats + rng.randrange(1, 10)
            self._emit(account.acquired_at + rng.randrange(10, 200) * DAY_MS, account, later)
        self.pace[account.account_id] = choose(rng, PACES)

    def step_delay(self, account: Account) -> int:
        """Extra time before the account's next onboarding step (0 for a fast journey)."""
        pace = self.pace.get(account.account_id, "fast")
        if pace == "fast":
            return 0
        low, high = (12, 96) if pace == "steady" else (48, 240)
        return int(self.rng.uniform(low, high) * HOUR_MS)

    def stops_after(self, account: Account, step_number: int) -> bool:
        """Does a stalled journey stop after its `step_number`-th step (1-based)?"""
        return (
            self.pace.get(account.account_id) == "stalled" and step_number >= 1 + account.index % 3
        )

    def _emit(self, at: int, account: Account, record: dict[str, Any]) -> None:
        event = {
            "event_id": None,
            "type": "account_updated",
            "occurred_at": None,
            "account_id": account.account_id,
        }
        event.update(record)
        if "renewal_at" in record:
            renewal = record["renewal_at"]
            while renewal <= at:
                renewal += 365 * DAY_MS
            event["renewal_at"] = rfc3339(renewal)
        self.timeline.emit(at, event)
