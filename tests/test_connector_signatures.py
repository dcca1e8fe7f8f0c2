"""Webhook signature checks (pure): each source's published scheme, replay windows, and
refusals that never echo a secret."""

from __future__ import annotations

import base64
import hashlib
import hmac

from streams.connectors.signatures import (
    sign_segment,
    sign_stripe,
    sign_zendesk,
    verify_any,
    verify_segment,
    verify_stripe,
    verify_zendesk,
)

BODY = b'{"id":"evt_1","object":"event"}'
NOW = 1_767_225_600


def test_stripe_signature_scheme_and_tolerance():
    header = sign_stripe(BODY, "whsec_test", NOW)
    # the scheme written out: v1 = hex HMAC-SHA256(secret, "<t>.<body>")
    assert (
        header
        == f"t={NOW},v1="
        + hmac.new(b"whsec_test", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    )
    assert verify_stripe({"Stripe-Signature": header}, BODY, "whsec_test", NOW + 300) is None
    stale = verify_stripe({"Stripe-Signature": header}, BODY, "whsec_test", NOW + 301)
    assert (stale.status, stale.error) == (400, "stale_timestamp")
    bad = verify_stripe({"Stripe-Signature": header}, BODY + b" ", "whsec_test", NOW)
    assert (bad.status, bad.error) == (401, "bad_signature")
    assert verify_stripe({}, BODY, "whsec_test", NOW).error == "missing_signature"
    assert (
        verify_stripe({"Stripe-Signature": "v1=abc"}, BODY, "whsec_test", NOW).error
        == "malformed_signature"
    )
    # Stripe sends one v1 per active secret while a secret is rolled: any one may match
    rolled = f"t={NOW},v1=00,{header.split(',')[1]}"
    assert verify_stripe({"Stripe-Signature": rolled}, BODY, "whsec_test", NOW) is None


def test_zendesk_signature_is_base64_hmac_of_timestamp_plus_body():
    headers = sign_zendesk(BODY, "zd-secret", "2026-01-01T00:00:00Z")
    digest = hmac.new(b"zd-secret", b"2026-01-01T00:00:00Z" + BODY, hashlib.sha256).digest()
    assert headers["X-Zendesk-Webhook-Signature"] == base64.b64encode(digest).decode()
    assert verify_zendesk(headers, BODY, "zd-secret", NOW + 10) is None
    assert verify_zendesk(headers, BODY, "other", NOW).error == "bad_signature"
    assert verify_zendesk(headers, BODY, "zd-secret", NOW + 3600).error == "stale_timestamp"
    assert (
        verify_zendesk({"X-Zendesk-Webhook-Signature": "x"}, BODY, "zd-secret", NOW).error
        == "missing_signature"
    )


def test_segment_shared_secret_by_hmac_or_bearer():
    assert verify_segment({"X-Signature": sign_segment(BODY, "seg")}, BODY, "seg", NOW) is None
    assert (
        verify_segment({"X-Signature": sign_segment(BODY, "seg")}, BODY + b"x", "seg", NOW).error
        == "bad_signature"
    )
    assert verify_segment({"Authorization": "Bearer seg"}, BODY, "seg", NOW) is None
    assert (
        verify_segment({"Authorization": "Bearer nope"}, BODY, "seg", NOW).error == "bad_signature"
    )
    assert verify_segment({}, BODY, "seg", NOW).status == 401


def test_refusals_never_carry_the_secret():
    for refusal in (
        verify_stripe({"Stripe-Signature": f"t={NOW},v1=00"}, BODY, "whsec_SECRET", NOW),
        verify_zendesk(
            {"X-Zendesk-Webhook-Signature": "x", "X-Zendesk-Webhook-Signature-Timestamp": "t"},
            BODY,
            "SECRET",
            NOW,
        ),
        verify_segment({"Authorization": "Bearer x"}, BODY, "SECRET", NOW),
    ):
        assert "SECRET" not in refusal.detail and "SECRET" not in refusal.error


def test_any_of_several_comma_separated_secrets_is_accepted():
    events_hook = sign_zendesk(BODY, "secret-events", "2026-01-01T00:00:00Z")
    ratings_hook = sign_zendesk(BODY, "secret-ratings", "2026-01-01T00:00:00Z")
    for headers in (events_hook, ratings_hook):
        assert verify_any("zendesk", headers, BODY, "secret-events, secret-ratings", NOW) is None
    assert verify_any("zendesk", events_hook, BODY, "secret-ratings", NOW).error == "bad_signature"
    assert (
        verify_any("zendesk", events_hook, BODY, "secret-events,secret-ratings", NOW + 3600).error
        == "stale_timestamp"
    )
