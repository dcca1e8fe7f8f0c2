"""Connectors: translations from public formats (Segment spec, Stripe, Zendesk) into the
event contract of docs/events.md, plus the HTTP receiver and the Kafka bridge around them.

The translators (segment, stripe, zendesk) are pure: a raw JSON payload in, a list of
contract events (plain dicts the project's decoder accepts) or an `Untranslatable` out.
Everything behind them (validation, dead letters, dedup, the engine) is unchanged.
"""
