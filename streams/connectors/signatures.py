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
import hashlib
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
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        return _BAD
    if abs(now - int(timestamp)) > tolerance:
        return _stale(tolerance)
    return None


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
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode("ascii"), signature):
        return _BAD
    try:
        signed_at = datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return Refusal(
            400,
            "malformed_signature",
            "X-Zendesk-Webhook-Signature-Timestamp is not an RFC 3339 time.",
        )
    if abs(now - signed_at) > tolerance:
        return _stale(tolerance)
    return None


def verify_segment(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> Refusal | None:
    signature = headers.get("X-Signature")
    if signature:
        expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        return None if hmac.compare_digest(expected, signature) else _BAD
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
    refusal = Refusal(401, "bad_signature", "No secret is configured.")
    for secret in (part.strip() for part in secrets.split(",")):
        if secret:
            refusal = VERIFIERS[source](headers, body, secret, now, tolerance)
            if refusal is None or refusal.error != "bad_signature":
                return refusal
    return refusal


# --------------------------------------------------------------------------- signing (senders and tests)


def sign_stripe(body: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header value Stripe would send."""
    signature = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={signature}"


def sign_zendesk(body: bytes, secret: str, timestamp: str) -> dict[str, str]:
    """The two signature headers Zendesk would send."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode("ascii"),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }


def sign_segment(body: bytes, secret: str) -> str:
    """The X-Signature header value Segment's webhook destination would send."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
