"""The raw topics the webhook receiver writes and the bridge reads: one per source.
Kept apart (no imports) so that `pulse dev topics` can create them cheaply."""

SOURCES: tuple[str, ...] = ("segment", "stripe", "zendesk")
RAW_TOPICS: dict[str, str] = {source: f"pulse.raw.{source}" for source in SOURCES}
