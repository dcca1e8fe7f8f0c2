"""The connector translators (pure): Segment spec, Stripe and Zendesk payloads in the
public formats (tests/connector_fixtures.py says where each shape comes from) ->
contract events that the project's own decoder accepts, or `untranslatable:<why>`."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from click.testing import CliRunner

from streams.connectors.connectors_config import ConnectorsConfig
from streams.connectors.result import Untranslatable, translate
from streams.contract.decoding import Decoder, Rejection
from streams.contract.model import TOPIC_OF_TYPE
from streams.errors import ConfigError
from streams.pulse_config import PulseConfig
from tests.connector_fixtures import (
    segment_group,
    segment_track,
    stripe_event,
    stripe_invoice,
    stripe_resource,
    stripe_subscription,
    zendesk_comment,
    zendesk_event,
)

CONFIG = ConnectorsConfig.from_mapping(
    {
        "segment": {
            "track": {
                "Report Exported": {"type": "feature_used", "feature": "reports"},
                "Onboarding Step Completed": {
                    "type": "onboarding_step_completed",
                    "step_property": "step",
                },
            }
        },
        "zendesk": {"organizations": {"6607619104125": "acme"}},
    }
)
DECODER = Decoder()
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def run(source: str, payload: dict, config: ConnectorsConfig = CONFIG):
    result = translate(source, orjson.dumps(payload), config)
    if not isinstance(result, Untranslatable):
        for event in result:  # every translated event passes the contract's own decoder
            decoded = DECODER.decode(orjson.dumps(event), TOPIC_OF_TYPE[event["type"]])
            assert not isinstance(decoded, Rejection), (event, decoded)
    return result


# --------------------------------------------------------------------------- Segment


def test_segment_track_maps_to_feature_used_by_the_configured_name():
    payload = segment_track(
        "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
        "Report Exported",
        user_id="AiUGstSDIg",
        group_id="acme",
        timestamp="2015-12-12T19:11:01.249Z",
    )
    assert run("segment", payload) == [
        {
            "event_id": "segment:ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
            "type": "feature_used",
            "occurred_at": "2015-12-12T19:11:01.249Z",
            "account_id": "acme",
            "user_id": "AiUGstSDIg",
            "feature": "reports",
        }
    ]


def test_segment_default_names_and_onboarding_step_from_a_property():
    login = run(
        "segment",
        segment_track(
            "m1", "Signed In", user_id="u1", group_id="acme", timestamp="2026-03-01T10:15:00+01:00"
        ),
    )
    assert login[0]["type"] == "login" and login[0]["occurred_at"] == "2026-03-01T09:15:00.000Z"
    step = run(
        "segment",
        segment_track(
            "m2",
            "Onboarding Step Completed",
            user_id="u1",
            group_id="acme",
            timestamp="2026-03-01T10:00:00Z",
            properties={"step": "invite_teammates"},
        ),
    )
    assert step[0]["type"] == "onboarding_step_completed" and step[0]["step"] == "invite_teammates"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda p: p["context"].pop("groupId"), "no_group"),
        (lambda p: p.pop("userId"), "no_user_id"),
        (lambda p: p.update(event="Something Else"), "unmapped_track"),
        (lambda p: p.pop("messageId"), "no_message_id"),
        (
            lambda p: [p.pop(k) for k in ("timestamp", "originalTimestamp", "receivedAt")],
            "no_timestamp",
        ),
        (lambda p: p.update(type="identify"), "identify_not_translated"),
        (lambda p: p.update(type="page"), "page_not_configured"),
    ],
)
def test_segment_calls_that_cannot_be_translated_say_why(change, why):
    payload = segment_track(
        "m3", "Report Exported", user_id="u1", group_id="acme", timestamp="2026-03-01T10:00:00Z"
    )
    change(payload)
    result = run("segment", payload)
    assert isinstance(result, Untranslatable) and result.reason == "untranslatable:" + why


def test_segment_anonymous_users_and_pages_when_configured():
    config = ConnectorsConfig.from_mapping(
        {"segment": {"anonymous_users": True, "page_feature": "pages"}}
    )
    payload = segment_track(
        "m4", "Signed In", user_id=None, group_id="acme", timestamp="2026-03-01T10:00:00Z"
    )
    assert run("segment", payload, config)[0]["user_id"] == "23adfd82-aa0f-45a7-a756-24f2a7a4c895"
    payload.update(type="page")
    assert run("segment", payload, config)[0]["feature"] == "pages"


def test_segment_group_is_account_updated_from_traits():
    payload = segment_group(
        "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
        "0e8c78ea9d97a7b8185e8632",
        timestamp="2015-02-23T22:28:55.111Z",
        traits={
            "name": "Initech",
            "industry": "Technology",
            "employees": 329,
            "plan": "enterprise",
            "owner": "csm-ana",
            "total billed": 830,
        },
    )
    assert run("segment", payload) == [
        {
            "event_id": "segment:022bb90c-bbac-11e4-8dfc-aa07a5b093db",
            "type": "account_updated",
            "occurred_at": "2015-02-23T22:28:55.111Z",
            "account_id": "0e8c78ea9d97a7b8185e8632",
            "name": "Initech",
            "segment": "enterprise",
            "owner": "csm-ana",
            "user_id": "97980cfea0067",
        }
    ]
    del payload["traits"]["owner"]
    assert run("segment", payload).reason == "untranslatable:missing_trait:owner"


# --------------------------------------------------------------------------- Stripe


def test_stripe_multi_item_subscription_with_trial_quantity_and_forever_coupon():
    sub = stripe_subscription(
        "sub_1", [("si_a", 4999, "month", 1, 5), ("si_b", 120000, "year", 1, 1)], account="acme"
    )
    sub.update(status="trialing", trial_end=T0 + 14 * 86400)
    discount = stripe_resource("discount")
    discount["source"]["coupon"] = stripe_resource("coupon")  # 25.5 % off, forever
    sub["discounts"] = [discount]
    events = run("stripe", stripe_event("evt_1", "customer.subscription.created", sub, T0))
    assert [e["event_id"] for e in events] == ["stripe:evt_1:si_a", "stripe:evt_1:si_b"]
    first, second = events
    assert first == {
        "event_id": "stripe:evt_1:si_a",
        "type": "subscription_started",
        "occurred_at": "2026-01-01T00:00:00.000Z",
        "account_id": "acme",
        "subscription_id": "sub_1/si_a",
        "plan": "prod_seed",
        "amount": 49.99,
        "currency": "USD",
        "interval": "month",
        "quantity": 5,
        "trial_ends_at": "2026-01-15T00:00:00.000Z",
        "discount_percent": 25.5,
    }
    assert second["amount"] == 1200 and second["interval"] == "year" and "quantity" not in second


@pytest.mark.parametrize(
    ("coupon", "end", "percent"),
    [
        ({"duration": "repeating", "duration_in_months": 3}, T0 + 90 * 86400, 25.5),  # in force
        (
            {"duration": "repeating", "duration_in_months": 3},
            T0 - 86400,
            None,
        ),  # ended before the event
        ({"duration": "once"}, None, None),  # one invoice, not recurring
        (
            {"percent_off": None, "amount_off": 5000, "currency": "usd"},
            None,
            16.666667,
        ),  # $50 of $300 per invoice
        (
            {"percent_off": None, "amount_off": 5000, "currency": "eur"},
            None,
            None,
        ),  # another currency: not comparable
        (
            {"percent_off": None, "amount_off": 99999, "currency": "usd"},
            None,
            100,
        ),  # more than the invoice: 100 %
    ],
)
def test_stripe_recurring_coupons_become_a_discount_percent(coupon, end, percent):
    sub = stripe_subscription("sub_c", [("si_a", 10000, "month", 1, 3)], account="acme")
    discount = stripe_resource("discount")
    discount["source"]["coupon"] = {**stripe_resource("coupon"), **coupon}
    if end is not None:
        discount["end"] = end
    sub["discounts"] = [discount]
    event = run("stripe", stripe_event("evt_c", "customer.subscription.created", sub, T0))[0]
    assert event.get("discount_percent") == percent


def test_stripe_zero_decimal_currency_and_plan_mapping():
    config = ConnectorsConfig.from_mapping({"stripe": {"plans": {"price_si_a": "pro"}}})
    sub = stripe_subscription(
        "sub_2", [("si_a", 5000, "month", 1, 1)], account="acme", currency="jpy"
    )
    event = run("stripe", stripe_event("evt_2", "customer.subscription.created", sub, T0), config)[
        0
    ]
    assert (event["amount"], event["currency"], event["plan"]) == (5000, "JPY", "pro")


def test_stripe_update_adds_removes_items_and_schedules_the_period_end_cancel():
    sub = stripe_subscription(
        "sub_3", [("si_a", 2000, "month", 1, 3), ("si_c", 1000, "month", 1, 1)], account="acme"
    )
    sub["cancel_at_period_end"] = True
    previous = {"items": {"data": [{"id": "si_a"}, {"id": "si_b"}], "object": "list"}}
    events = run(
        "stripe", stripe_event("evt_3", "customer.subscription.updated", sub, T0 + 86400, previous)
    )
    assert [(e["type"], e["subscription_id"]) for e in events] == [
        ("subscription_changed", "sub_3/si_a"),
        ("subscription_started", "sub_3/si_c"),
        ("subscription_canceled", "sub_3/si_b"),
        ("subscription_canceled", "sub_3/si_a"),
        ("subscription_canceled", "sub_3/si_c"),
    ]
    assert events[2]["effective_at"] == "2026-01-02T00:00:00.000Z"  # removed now
    assert events[3]["effective_at"] == "2026-01-31T00:00:00.000Z"  # at the item's period end
    assert len({e["event_id"] for e in events}) == len(events)


def test_stripe_deleted_cancels_every_item_when_it_ended():
    sub = stripe_subscription(
        "sub_4", [("si_a", 2000, "month", 1, 1)], account="acme", status="canceled"
    )
    sub.update(ended_at=T0 + 3600, canceled_at=T0)
    events = run("stripe", stripe_event("evt_4", "customer.subscription.deleted", sub, T0 + 7200))
    assert events == [
        {
            "event_id": "stripe:evt_4:si_a",
            "type": "subscription_canceled",
            "occurred_at": "2026-01-01T02:00:00.000Z",
            "account_id": "acme",
            "subscription_id": "sub_4/si_a",
            "effective_at": "2026-01-01T01:00:00.000Z",
        }
    ]


@pytest.mark.parametrize("status", ["paused", "incomplete_expired", "canceled"])
def test_stripe_update_into_a_status_that_bills_nothing_cancels(status):
    sub = stripe_subscription(
        "sub_7", [("si_a", 2000, "month", 1, 1)], account="acme", status=status
    )
    events = run("stripe", stripe_event("evt_11", "customer.subscription.updated", sub, T0))
    assert [(e["type"], e["effective_at"]) for e in events] == [
        ("subscription_canceled", "2026-01-01T00:00:00.000Z")
    ]


def test_stripe_invoices_become_payments():
    paid = run(
        "stripe",
        stripe_event(
            "evt_5",
            "invoice.paid",
            stripe_invoice("in_1", "sub_4", account="acme", amount_paid=1999, amount_due=1999),
            T0,
        ),
    )
    assert paid == [
        {
            "event_id": "stripe:evt_5",
            "type": "payment_succeeded",
            "occurred_at": "2026-01-01T00:00:00.000Z",
            "account_id": "acme",
            "subscription_id": "sub_4",
            "amount": 19.99,
            "currency": "USD",
        }
    ]
    failed = run(
        "stripe",
        stripe_event(
            "evt_6",
            "invoice.payment_failed",
            stripe_invoice("in_2", "sub_4", account="acme", amount_paid=0, amount_due=4999),
            T0,
        ),
    )
    assert failed[0]["type"] == "payment_failed" and failed[0]["amount"] == 49.99
    one_off = stripe_resource(
        "invoice"
    )  # the fixture's invoice belongs to a quote, not a subscription
    assert (
        run("stripe", stripe_event("evt_7", "invoice.paid", one_off, T0)).reason
        == "untranslatable:no_subscription"
    )


def test_stripe_customer_to_account_mapping():
    sub = stripe_subscription(
        "sub_5", [("si_a", 2000, "month", 1, 1)], account=None, customer="cus_9"
    )
    event = stripe_event("evt_8", "customer.subscription.created", sub, T0)
    assert run("stripe", event).reason == "untranslatable:unknown_customer"
    mapped = ConnectorsConfig.from_mapping({"stripe": {"customers": {"cus_9": "globex"}}})
    assert run("stripe", event, mapped)[0]["account_id"] == "globex"
    by_id = ConnectorsConfig.from_mapping({"stripe": {"unmapped_customers": "customer_id"}})
    assert run("stripe", event, by_id)[0]["account_id"] == "cus_9"
    other_key = ConnectorsConfig.from_mapping({"stripe": {"account_metadata_key": "pulse_account"}})
    sub["metadata"] = {"pulse_account": "initech"}
    assert (
        run("stripe", stripe_event("evt_9", "customer.subscription.created", sub, T0), other_key)[
            0
        ]["account_id"]
        == "initech"
    )


def test_stripe_other_events_and_bad_payloads_are_untranslatable():
    assert (
        run("stripe", stripe_resource("event")).reason == "untranslatable:unsupported_event_type"
    )  # plan.created
    assert translate("stripe", b"[1]", CONFIG).reason == "untranslatable:not_an_object"
    assert translate("stripe", b"{", CONFIG).reason == "untranslatable:invalid_json"
    assert run("stripe", stripe_resource("subscription")).reason == "untranslatable:not_an_event"


def test_redelivery_gives_the_same_event_ids():
    sub = stripe_subscription("sub_6", [("si_a", 2000, "month", 1, 1)], account="acme")
    raw = orjson.dumps(stripe_event("evt_10", "customer.subscription.created", sub, T0))
    assert translate("stripe", raw, CONFIG) == translate("stripe", raw, CONFIG)


# --------------------------------------------------------------------------- Zendesk


def ticket_35436(event_id: str, kind: str, time: str, event: dict) -> dict:
    """A Zendesk event on ticket 35436 of organization 6607619104125 (account acme)."""
    return zendesk_event(
        event_id, kind, ticket_id="35436", organization_id="6607619104125", time=time, event=event
    )


def test_zendesk_ticket_opened():
    opened = run(
        "zendesk",
        ticket_35436(
            "e1",
            "ticket.created",
            "2026-03-02T14:00:00Z",
            {"meta": {"sequence": {"id": "s1", "position": 1}}},
        ),
    )
    assert opened == [
        {
            "event_id": "zendesk:e1",
            "occurred_at": "2026-03-02T14:00:00.000Z",
            "account_id": "acme",
            "ticket_id": "35436",
            "type": "ticket_opened",
            "priority": "high",
            "channel": "web",
            "user_id": "8447388090494",
        }
    ]


@pytest.mark.parametrize(
    ("event_id", "kind", "time", "event", "expected"),
    [
        (
            "e2",
            "ticket.comment_added",
            "2026-03-02T14:25:00Z",
            zendesk_comment(True),
            {"type": "ticket_replied", "author": "agent"},
        ),
        (
            "e3",
            "ticket.comment_added",
            "2026-03-02T14:30:00Z",
            zendesk_comment(False),
            {"author": "customer"},
        ),
        (
            "e4",
            "ticket.comment_added",
            "2026-03-02T14:31:00Z",
            zendesk_comment(True, public=False),
            "untranslatable:private_comment",
        ),
        (
            "e5",
            "ticket.status_changed",
            "2026-03-02T16:40:00Z",
            {"current": "SOLVED", "previous": "OPEN"},
            {"type": "ticket_resolved"},
        ),
        (
            "e6",
            "ticket.status_changed",
            "2026-03-03T08:05:00Z",
            {"current": "OPEN", "previous": "SOLVED"},
            {"type": "ticket_reopened"},
        ),
        (
            "e7",
            "ticket.status_changed",
            "2026-03-03T08:06:00Z",
            {"current": "PENDING", "previous": "OPEN"},
            "untranslatable:status_not_tracked",
        ),
        (
            "e8",
            "ticket.satisfaction_rated",
            "2026-03-03T09:00:00Z",
            {"score": "good"},
            {"type": "ticket_rated", "rating": 5},
        ),
        (
            "e10",
            "ticket.satisfaction_rated",
            "2026-03-03T09:01:00Z",
            {"score": "Bad, I'm unsatisfied"},
            {"rating": 1},
        ),
        (
            "e11",
            "ticket.satisfaction_rated",
            "2026-03-03T09:02:00Z",
            {"score": "Offered"},
            "untranslatable:unrated",
        ),
    ],
    ids=[
        "agent-reply",
        "customer-reply",
        "private-comment",
        "solved",
        "reopened",
        "pending",
        "rated-good",
        "rated-bad-rendered",
        "offered-unrated",
    ],
)
def test_zendesk_ticket_lifecycle(
    event_id: str, kind: str, time: str, event: dict, expected: dict | str
) -> None:
    """Each later step of ticket 35436's life: what it becomes, or why it is not translated
    (a reason, for a string)."""
    result = run("zendesk", ticket_35436(event_id, kind, time, event))
    if isinstance(expected, str):
        assert isinstance(result, Untranslatable) and result.reason == expected, result
    else:
        assert not isinstance(result, Untranslatable), result
        assert {key: result[0][key] for key in expected} == expected, result


def test_zendesk_organization_to_account():
    event = zendesk_event(
        "e9", "ticket.created", ticket_id="1", organization_id="42", time="2026-03-02T14:00:00Z"
    )
    assert run("zendesk", event).reason == "untranslatable:unknown_organization"
    by_id = ConnectorsConfig.from_mapping(
        {"zendesk": {"unmapped_organizations": "organization_id"}}
    )
    assert run("zendesk", event, by_id)[0]["account_id"] == "42"
    event["detail"]["organization_id"] = None
    assert run("zendesk", event, by_id).reason == "untranslatable:no_organization"
    event["type"] = "zen:event-type:ticket.tags_changed"
    assert run("zendesk", event, by_id).reason == "untranslatable:unsupported_event_type"


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"segment": {"track": {"X": {"type": "purchase"}}}}, "needs type = one of"),
        ({"segment": {"track": {"X": {"type": "feature_used"}}}}, "feature must be a string"),
        ({"stripe": {"unmapped_customers": "guess"}}, "must be one of 'reject', 'customer_id'"),
        ({"zendesk": {"satisfaction": {"good": 9}}}, "must be a whole number 1..5"),
        ({"hubspot": {}}, "Unknown key 'hubspot' in [connectors]"),
    ],
)
def test_bad_connector_configuration_is_one_sentence(document, words):
    with pytest.raises(ConfigError, match=None) as caught:
        PulseConfig.from_mapping({"connectors": document})
    assert words in str(caught.value)


# --------------------------------------------------------------------------- seed 000 through replay


def test_seed_000_mrr_example_as_stripe_subscriptions_replays_to_616_67(tmp_path):
    """Seed 000, example X1: 1000 a year, 300 a month, 200 a quarter, 500 every 3 months
    (Stripe has no "quarter": both are month x 3) -> 83.33 + 300 + 66.67 + 166.67 = 616.67."""
    plans = [
        ("sub_c1", 100000, "year", 1),
        ("sub_c2", 30000, "month", 1),
        ("sub_c3", 20000, "month", 3),
        ("sub_c4", 50000, "month", 3),
    ]
    lines = []
    for number, (sub_id, amount, interval, count) in enumerate(plans, start=1):
        sub = stripe_subscription(
            sub_id, [(f"si_c{number}", amount, interval, count, 1)], account=f"customer-{number}"
        )
        lines += [
            orjson.dumps(e)
            for e in run(
                "stripe", stripe_event(f"evt_c{number}", "customer.subscription.created", sub, T0)
            )
        ]
    # a one-off invoice is not a subscription and adds nothing to MRR
    assert (
        run("stripe", stripe_event("evt_c5", "invoice.paid", stripe_resource("invoice"), T0)).reason
        == "untranslatable:no_subscription"
    )
    events = tmp_path / "stripe.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    from streams.cli.replay import replay

    result = CliRunner().invoke(replay, [str(events), "--as-of", "2026-02-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    mrr = [
        line
        for line in result.output.splitlines()
        if line.startswith("pulse_mrr ") or line.startswith("pulse_mrr{")
    ]
    assert sum(Decimal(line.rsplit(" ", 1)[1]) for line in mrr) == Decimal("616.67"), mrr


# --------------------------------------------------------------------------- the commands' user errors


def test_commands_refuse_bad_setups_in_one_sentence(tmp_path, monkeypatch):
    from streams.cli.connectors import bridge, webhooks

    for name in (
        "PULSE_SEGMENT_WEBHOOK_SECRET",
        "PULSE_STRIPE_WEBHOOK_SECRET",
        "PULSE_ZENDESK_WEBHOOK_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(webhooks, [])
    assert (
        result.exit_code == 1
        and "no webhook secret is set: export PULSE_STRIPE_WEBHOOK_SECRET" in result.output
    )
    assert "Traceback" not in result.output
    config = tmp_path / "pulse.toml"
    config.write_text('[connectors.stripe]\nunmapped_customers = "guess"\n')
    result = CliRunner().invoke(bridge, ["--config", str(config)])
    assert (
        result.exit_code == 1
        and "unmapped_customers must be one of 'reject', 'customer_id'" in result.output
    )
