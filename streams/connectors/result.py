"""The one result type of every translator, and the dispatch from a source name to it.

A translation is either the contract events a raw payload stands for (in order, each a
dict with `event_id`, `type`, `occurred_at`, `account_id`, ...) or an `Untranslatable`
whose reason is `untranslatable:<why>` (`why` a short fixed code), which the bridge turns
into a dead letter. Translators never raise on bad input: `translate` parses the bytes and
turns any payload it cannot read into an `Untranslatable` too.

Event ids derive from the source's own id (Segment messageId, Stripe event id, Zendesk
event id) with a source prefix, so a redelivered webhook gives the same ids and the
worker drops the copy as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streams.contract.decoding import Rejection
from streams.contract.rfc3339 import rfc3339_ms

UNTRANSLATABLE = "untranslatable:"
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Untranslatable:
    """Why a raw payload gives no contract event: `why` is a short code, `detail` a sentence."""

    why: str
    detail: str

    @property
    def reason(self) -> str:
        return UNTRANSLATABLE + self.why

    def rejection(self) -> Rejection:
        """As the decoder's Rejection, for the dead-letter record."""
        return Rejection(self.reason, self.detail)


Translation = list[dict[str, Any]]
Result = Translation | Untranslatable


def iso_ms(text: object) -> str | None:
    """An ISO 8601 time with an offset as the contract's RFC 3339 UTC with milliseconds,
    or None when it is not one (no offset, not a string, not a date)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    epoch = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return rfc3339_ms(epoch // _MS)


def epoch_seconds_ms(seconds: object) -> str | None:
    """Unix seconds (Stripe's times) as RFC 3339 UTC with milliseconds, or None."""
    if type(seconds) is not int or seconds < 0:
        return None
    return rfc3339_ms(seconds * 1000)


def nonempty_str(value: object) -> str | None:
    """A non-empty string, an integer id as its digits, else None."""
    if type(value) is int:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def translate(source: str, raw: bytes, config: Any) -> Result:
    """Translate one raw payload of `source` with the connectors configuration `config`
    (streams.connectors.connectors_config.ConnectorsConfig)."""
    translator = _translators()[source]
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Untranslatable("invalid_json", f"The {source} payload is not one UTF-8 JSON text.")
    if not isinstance(payload, dict):
        return Untranslatable("not_an_object", f"The {source} payload is not a JSON object.")
    return translator(payload, getattr(config, source))


def _translators() -> Mapping[str, Callable[[dict[str, Any], Any], Result]]:
    from streams.connectors import segment, stripe, zendesk

    return {"segment": segment.translate, "stripe": stripe.translate, "zendesk": zendesk.translate}
