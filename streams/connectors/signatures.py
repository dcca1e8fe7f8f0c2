"""Webhook signature checks, one per source (pure: headers, body, secret, clock in; a
verdict out). Each follows the sender's published scheme:

- Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=...]`, v1 = hex
  HMAC-SHA256(secret, "<t>.<body>"); a `t` further than the tolerance (300 s) from the
  clock is refused as a possible replay.
- Zendesk: `X-Zendesk-Webhook-Signature` = base64 HMAC-SHA256(secret, timestamp + body)
  with `X-Zendesk-Webhook-Signature-Timestamp` (RFC 3339); the same tolerance applies.
- Segment-style: Segment's webhook destination sends `X-Signature` = hex HMAC-SHA1(secret,
  body); senders that can only set a header (RudderStack, Jitsu) send
  `Authorization: Bearer <secret>`. There is no timestamp, so no replay window: a replayed
  call carries the same messageId and the worker drops it as a duplicate.

Comparisons are constant-time. A verdict never contains the secret or the signature.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

DEFAULT_TOLERANCE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: HTTP status, a short code and one sentence."""

    status: int
    error: str
    detail: str


def _missing(header: str) -> Refusal:
    return Refusal(401, "missing_signature", f"The request has no {header} header.")


_BAD = Refusal(
    401, "bad_signature", "The signature does not match the body and the configured secret."
)


def _stale(tolerance: int) -> Refusal:
    return Refusal(
        400,
        "stale_timestamp",
        f"The signed timestamp is more than {tolerance} seconds from now: a replayed or delayed request.",
    )


def _digest(secret: str, message: bytes, algorithm: str = "sha256") -> bytes:
    """HMAC(secret, message): the one construction every sender's scheme is built on."""
    return hmac.new(secret.encode(), message, algorithm).digest()


def _stripe_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Stripe's v1: hex HMAC-SHA256 of "<t>.<body>"."""
    return _digest(secret, timestamp.encode() + b"." + body).hex()


def _zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's: base64 HMAC-SHA256 of timestamp + body."""
    return base64.b64encode(_digest(secret, timestamp.encode() + body)).decode("ascii")


def _segment_signature(secret: str, body: bytes) -> str:
    """Segment's X-Signature: hex HMAC-SHA1 of the body."""
    return _digest(secret, body, "sha1").hex()


def _checked(
    expected: str, signatures: list[str], signed_at: float | None, now: float, tolerance: int
) -> Refusal | None:
    """The common end of every check: a constant-time match against any of the request's
    signatures, then (for schemes that sign a time) the replay window around `now`."""
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        return _BAD
    if signed_at is not None and abs(now - signed_at) > tolerance:
        return _stale(tolerance)
    return None


def verify_stripe(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> Refusal | None:
    header = headers.get("Stripe-Signature")
    if not header:
        return _missing("Stripe-Signature")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit() or not signatures:
        return Refusal(
            400,
            "malformed_signature",
            "The Stripe-Signature header has no t=<seconds> and v1=<signature>.",
        )
    expected = _stripe_signature(secret, timestamp, body)
    return _checked(expected, signatures, int(timestamp), now, tolerance)


def verify_zendesk(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> Refusal | None:
    signature = headers.get("X-Zendesk-Webhook-Signature")
    timestamp = headers.get("X-Zendesk-Webhook-Signature-Timestamp")
    if not signature:
        return _missing("X-Zendesk-Webhook-Signature")
    if not timestamp:
        return _missing("X-Zendesk-Webhook-Signature-Timestamp")
    expected = _zendesk_signature(secret, timestamp, body)
    try:
        signed_at: float | None = datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        signed_at = None
    refusal = _checked(expected, [signature], signed_at, now, tolerance)
    if refusal is None and signed_at is None:  # signed as sent, but the time cannot be read
        return Refusal(
            400,
            "malformed_signature",
            "X-Zendesk-Webhook-Signature-Timestamp is not an RFC 3339 time.",
        )
    return refusal


def verify_segment(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> Refusal | None:
    signature = headers.get("X-Signature")
    if signature:
        return _checked(_segment_signature(secret, body), [signature], None, now, tolerance)
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), secret.encode()
        )
        return None if ok else _BAD
    return _missing("X-Signature (or Authorization: Bearer)")


VERIFIERS = {"segment": verify_segment, "stripe": verify_stripe, "zendesk": verify_zendesk}


def verify_any(
    source: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: str,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> Refusal | None:
    """Accept a request signed with any of the comma-separated `secrets` (a Zendesk event
    webhook and a ratings trigger webhook have one secret each; a rolled secret overlaps
    its successor). The refusal is the first that is not a mismatch, else bad_signature."""
    refusal: Refusal | None = Refusal(401, "bad_signature", "No secret is configured.")
    for secret in (part.strip() for part in secrets.split(",")):
        if secret:
            refusal = VERIFIERS[source](headers, body, secret, now, tolerance)
            if refusal is None or refusal.error != "bad_signature":
                return refusal
    return refusal


# --------------------------------------------------------------------------- signing (senders and tests)


def sign_stripe(body: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header value Stripe would send."""
    return f"t={timestamp},v1={_stripe_signature(secret, str(timestamp), body)}"


def sign_zendesk(body: bytes, secret: str, timestamp: str) -> dict[str, str]:
    """The two signature headers Zendesk would send."""
    return {
        "X-Zendesk-Webhook-Signature": _zendesk_signature(secret, timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }


def sign_segment(body: bytes, secret: str) -> str:
    """The X-Signature header value Segment's webhook destination would send."""
    return _segment_signature(secret, body)
