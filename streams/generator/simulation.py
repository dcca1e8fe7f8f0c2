"""The simulation driver: builds the customers and runs days in event-time order.

Order of work for UTC day d (all times in epoch ms):

1. generate local calendar day d+1 of every account (usage, signups, tickets). Regions lie
   within UTC-8..UTC+9 and working hours start after 05:00 local, so nothing of local day
   d+1 falls before UTC day d, which is still open;
2. run the scheduled billing actions due before the end of day d;
3. close day d: its events, sorted by time, get their event_id and occurred_at and go out.

Billing history starts with the earliest acquisition (up to a year, or twice the window,
before `end`); tickets start two weeks before the activity window so the window opens with
a backlog; usage, signups and surveys lie in the window only. One `random.Random(seed)`
drives every decision in a fixed order, so the output depends on the configuration alone.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

from streams.generator.activity import Activity, expand_session_step
from streams.generator.billing import Billing
from streams.generator.clock import DAY_MS, MINUTE_MS, clock_texts, day_prefix
from streams.generator.crm import Crm
from streams.generator.generator_config import GeneratorConfig
from streams.generator.support import Support
from streams.generator.timeline import Event, Timeline
from streams.generator.world import Account, FeatureProfile, build_accounts, feature_profiles

TICKET_BACKLOG_DAYS = 14


def run_tag(config: GeneratorConfig) -> str:
    """Short digest of what defines the dataset; it prefixes event ids so two datasets
    (another seed, size or end) never share an id, while a rerun repeats its own ids."""
    text = f"{config.seed}:{config.accounts}:{config.days}:{config.end}"
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


class Simulation:
    """The world after (or while) generating: `accounts` and the id counter live on for
    the live feed."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.id_prefix = f"evt-{run_tag(config)}-"
        self.events_out = 0
        span_days = max(365, 2 * config.days)
        self.profiles: tuple[FeatureProfile, ...] = feature_profiles(self.rng)
        self.accounts: list[Account] = build_accounts(
            self.rng, config.accounts, config.end, span_days
        )
        self.first_day = (config.end - (span_days + 2) * DAY_MS) // DAY_MS
        self.timeline = Timeline(config.end, self.first_day)
        self.support = Support(self.timeline, self.rng)
        self.billing = Billing(self.timeline, self.rng)
        self.crm = Crm(self.timeline, config.seed)
        self.activity = Activity(
            self.timeline, self.rng, self.support, self.profiles, config.window_start, self.crm
        )
        for account in self.accounts:
            self.crm.plan_account(account)
            buys_at = account.acquired_at + self.rng.randrange(2, 15) * MINUTE_MS
            self.timeline.schedule(buys_at, self.billing.acquire, account)

    def next_event_id(self) -> str:
        self.events_out += 1
        return f"{self.id_prefix}{self.events_out:x}"

    def events(self) -> Iterator[tuple[int, Event]]:
        """Every valid event as (epoch ms, JSON-ready dict), in event-time order."""
        config = self.config
        timeline = self.timeline
        last_day = (config.end - 1) // DAY_MS
        window_first_day = config.window_start // DAY_MS
        ticket_first_day = window_first_day - TICKET_BACKLOG_DAYS
        prefix = self.id_prefix
        faces, fractions = clock_texts()
        for day in range(self.first_day, last_day + 1):
            local_day = day + 1
            if local_day >= ticket_first_day:
                # local day (window_first_day - 1) can still reach into the window in the west
                self.activity.local_day(
                    local_day, self.accounts, with_usage=local_day >= window_first_day - 1
                )
            timeline.run_actions_before((day + 1) * DAY_MS)
            count = self.events_out
            date_text, midnight = day_prefix(day), day * DAY_MS
            for entry in timeline.close_day(day):
                at = entry[0]
                event = entry[1] if len(entry) == 2 else expand_session_step(entry)
                count += 1
                event["event_id"] = f"{prefix}{count:x}"
                seconds, millis = divmod(at - midnight, 1000)
                event["occurred_at"] = (
                    date_text + faces[seconds] + fractions[millis]
                )  # = rfc3339(at)
                yield at, event
            self.events_out = count
