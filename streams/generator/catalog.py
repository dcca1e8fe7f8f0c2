"""The static tables that make generated data look like a B2B SaaS product.

Everything here is data: plans and list prices, features and their popularity, onboarding
steps, ticket and survey distributions, and the regions accounts live in. The simulation
modules read these tables and never hard-code a business number themselves, so a reader
can see (and change) what "realistic" means in one place.

Money is in integer minor units (cents) of the account's currency; the serializer writes
major units with at most two decimals. Only USD, EUR and GBP are used: the engine's default
static rate table has exactly these.
"""

from __future__ import annotations

from typing import Final

# --- plans and prices -------------------------------------------------------------------

PLANS: Final = ("starter", "growth", "enterprise")  # in upgrade order
WEEKLY_PLAN: Final = "flex"  # pay-as-you-go seats, billed weekly (a few accounts)

# Price per seat per month, in cents, by currency (psychological pricing per market).
MONTHLY_SEAT_PRICE_CENTS: Final[dict[str, dict[str, int]]] = {
    "USD": {"starter": 1200, "growth": 2900, "enterprise": 5900},
    "EUR": {"starter": 1100, "growth": 2700, "enterprise": 5500},
    "GBP": {"starter": 1000, "growth": 2400, "enterprise": 4900},
}
WEEKLY_SEAT_PRICE_CENTS: Final[dict[str, int]] = {"USD": 400, "EUR": 375, "GBP": 325}
YEARLY_MONTHS_CHARGED: Final = 10  # a yearly price is 10 monthly prices: "two months free"
QUARTERLY_PRICE_FACTOR: Final = 0.95  # a quarter costs 3 monthly prices less 5 %

CURRENCY_WEIGHTS: Final = (("USD", 0.80), ("EUR", 0.12), ("GBP", 0.08))

# Billing terms offered per plan: (interval, interval_count, weight).
BILLING_TERMS: Final[dict[str, tuple[tuple[str, int, float], ...]]] = {
    "starter": (("month", 1, 0.80), ("year", 1, 0.15), ("week", 1, 0.05)),
    "growth": (("month", 1, 0.55), ("year", 1, 0.35), ("quarter", 1, 0.05), ("month", 3, 0.05)),
    "enterprise": (("year", 1, 0.55), ("quarter", 1, 0.20), ("month", 3, 0.20), ("month", 1, 0.05)),
}

# Recurring discounts: share of accounts with one, and the percentages they get.
DISCOUNT_SHARE: Final[dict[str, float]] = {"starter": 0.10, "growth": 0.25, "enterprise": 0.45}
DISCOUNT_PERCENTS: Final = (10, 15, 20, 25, 12.5, 30, 50)

# Seats are sold in blocks of this size per plan (starter: exactly the users).
SEAT_BLOCK: Final[dict[str, int]] = {"starter": 1, "growth": 5, "enterprise": 10, WEEKLY_PLAN: 1}

# --- subscription life ---------------------------------------------------------------------

TRIAL_SHARE: Final[dict[str, float]] = {"starter": 0.70, "growth": 0.55, "enterprise": 0.10}
TRIAL_DAYS: Final = (14, 14, 14, 30)
TRIAL_CONVERSION: Final = 0.55
# Chance that a subscription ends at the end of one month of service (scaled by period length).
MONTHLY_CHURN: Final[dict[str, float]] = {
    "starter": 0.035,
    "growth": 0.02,
    "enterprise": 0.008,
    WEEKLY_PLAN: 0.05,
}
MONTHLY_EXPANSION: Final = 0.04
MONTHLY_CONTRACTION: Final = 0.02
CANCEL_AT_PERIOD_END_SHARE: Final = 0.7  # the rest cancel immediately
REACTIVATION_SHARE: Final = 0.2
REACTIVATION_DELAY_DAYS: Final = (5, 150)
PAYMENT_FAILURE: Final[dict[str, float]] = {
    "starter": 0.07,
    "growth": 0.05,
    "enterprise": 0.02,
    WEEKLY_PLAN: 0.06,
}
PAYMENT_RETRY_DAYS: Final = 3
PAYMENT_RETRY_SUCCESS: Final = 0.6
PAYMENT_ATTEMPTS: Final = 3  # after this many failures in a row the subscription is canceled

# --- people and usage ----------------------------------------------------------------------

# UTC offsets in hours (kept within -8..+9 so a local working day spans at most three UTC days).
REGIONS: Final = (
    (-8.0, 0.18),
    (-7.0, 0.05),
    (-6.0, 0.10),
    (-5.0, 0.17),
    (0.0, 0.12),
    (1.0, 0.18),
    (2.0, 0.05),
    (5.5, 0.06),
    (8.0, 0.05),
    (9.0, 0.04),
)

# (name, share of users who adopt it, relative use frequency among adopters)
FEATURES: Final = (
    ("dashboard", 0.97, 10.0),
    ("search", 0.85, 6.0),
    ("reports", 0.70, 4.0),
    ("export_csv", 0.55, 2.0),
    ("alerts", 0.45, 2.5),
    ("comments", 0.40, 3.0),
    ("integrations", 0.30, 1.2),
    ("automations", 0.25, 1.5),
    ("sso_settings", 0.12, 0.3),
    ("api_keys", 0.10, 0.8),
    ("custom_fields", 0.18, 0.7),
    ("audit_log", 0.06, 0.4),
)
FEATURE_PROFILES: Final = 64  # users share this many precomputed adoption profiles

# (chance of being active on a workday, share of users in the tier): power, regular, occasional, dormant
ENGAGEMENT_TIERS_BY_RATE: Final = ((0.90, 0.15), (0.55, 0.35), (0.20, 0.35), (0.03, 0.15))
WEEKEND_FACTOR: Final = 0.12
WORKDAY_START_HOURS: Final = (9.5, 1.2)  # mean and spread of the first session's local hour
SESSION_EXTRA: Final = (0.35, 0.12)  # chance of a second, third session that day
LOGOUT_SHARE: Final = 0.8
FEATURES_PER_SESSION_MEAN: Final = 4.0
GAP_SECONDS_MEDIAN: Final = 45.0  # lognormal gap between actions inside a session

ONBOARDING_STEPS: Final = (
    "create_workspace",
    "invite_teammates",
    "connect_data_source",
    "create_first_dashboard",
    "set_up_alerts",
)
ONBOARDING_STEP_CONTINUE: Final = 0.9  # chance to go on to the next step
TEAMMATE_STEPS: Final = ("complete_profile", "join_workspace")
TEAMMATE_JOIN_MEAN_DAYS: Final = 6.0  # teammates of a new account arrive over the first weeks

# --- support and surveys -------------------------------------------------------------------

TICKETS_PER_WORKDAY: Final = 0.02  # times users ** 0.6
TICKET_PRIORITIES: Final = (("low", 0.30), ("normal", 0.50), ("high", 0.15), ("urgent", 0.05))
TICKET_CHANNELS: Final = (
    ("email", 0.40),
    ("chat", 0.30),
    ("web", 0.15),
    ("phone", 0.10),
    ("social", 0.05),
)
FIRST_REPLY_MEDIAN_MINUTES: Final[dict[str, float]] = {
    "urgent": 20,
    "high": 90,
    "normal": 240,
    "low": 600,
}
TICKET_UNANSWERED: Final = 0.04
TICKET_UNRESOLVED: Final = 0.08
TICKET_RATED: Final = 0.35
TICKET_REOPENED: Final = 0.08
RATING_WEIGHTS: Final = (0.05, 0.05, 0.12, 0.30, 0.48)  # 1..5
CSAT_AFTER_RESOLUTION: Final = 0.25
CSAT_WEIGHTS: Final = (0.06, 0.07, 0.15, 0.32, 0.40)  # 1..5
NPS_PER_ACTIVE_DAY: Final = 1 / 80
NPS_WEIGHTS: Final = (0.03, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.15, 0.15, 0.20, 0.20)  # 0..10
CES_AFTER_ONBOARDING_STEP: Final = 0.2
CES_WEIGHTS: Final = (0.04, 0.05, 0.08, 0.13, 0.20, 0.25, 0.25)  # 1..7
SURVEY_COMMENT_SHARE: Final = 0.3
SURVEY_ANONYMOUS_SHARE: Final = 0.1  # responses without user_id
COMMENTS: Final = (
    "Love the dashboards.",
    "Search is slow on big workspaces.",
    "Support answered quickly, thanks!",
    "Please add more export formats.",
    "Pricing is a bit high for small teams.",
    "The alerts saved us during an incident.",
    "Onboarding was smooth.",
    "Hard to find the integration settings.",
    "Great product, would recommend.",
    "Reports take too long to load — any plans to speed them up?",
    "Não encontrei a opção de exportar.",
    "Sehr gutes Tool, aber die API-Dokumentation fehlt.",
)
