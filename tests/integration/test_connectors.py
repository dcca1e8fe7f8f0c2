"""Connectors on the real broker: the webhook receiver writes signed bodies to the raw
topics (and refuses the rest with a JSON reason), the bridge translates raw topics into
contract topics and dead letters, and end to end (signed webhooks -> pulse webhooks ->
pulse bridge -> pulse worker) the metrics equal `pulse replay` of the translated JSONL."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.connectors.bridge import BridgeStats, run_bridge
from streams.connectors.raw_topics import RAW_TOPICS
from streams.connectors.result import translate
from streams.connectors.signatures import sign_segment, sign_stripe, sign_zendesk
from streams.connectors.webhooks import make_app
from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS
from streams.pulse_config import load_config
from tests.connector_fixtures import (
    segment_group,
    segment_track,
    stripe_event,
    stripe_invoice,
    stripe_subscription,
    zendesk_comment,
    zendesk_event,
)
from tests.integration.helpers import (
    REPO,
    WorkerProcess,
    create_topics,
    free_port,
    http_get,
    produce,
    unique,
    wait_until,
)
from tests.integration.worker_harness import (
    WorkerRun,
    parse_exposition,
    wait_until_equal,
)

pytestmark = pytest.mark.kafka
SECRETS = {"segment": "seg-secret-1", "stripe": "whsec_test_secret_2", "zendesk": "zd-secret-3"}
CONNECTORS_TOML = """
[connectors.segment.track]
"Report Exported" = { type = "feature_used", feature = "reports" }
[connectors.zendesk]
unmapped_organizations = "organization_id"
"""


def _topics(bootstrap: str) -> str:
    prefix = unique("c") + "."
    create_topics(
        bootstrap, [prefix + t for t in (*SOURCE_TOPICS, DEAD_LETTER_TOPIC, *RAW_TOPICS.values())]
    )
    return prefix


def _read(bootstrap: str, topics: list[str], expected: int, group_id: str | None = None) -> list:
    async def read() -> list:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=group_id,
        )
        await consumer.start()
        records: list = []
        try:
            for _ in range(120):
                batch = await consumer.getmany(timeout_ms=500)
                records += [m for messages in batch.values() for m in messages]
                if len(records) >= expected and not batch:
                    break
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())


def _signed(source: str, body: bytes, now: int | None = None) -> dict[str, str]:
    now = int(time.time()) if now is None else now
    if source == "stripe":
        return {"Stripe-Signature": sign_stripe(body, SECRETS["stripe"], now)}
    if source == "zendesk":
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return sign_zendesk(body, SECRETS["zendesk"], stamp)
    return {"X-Signature": sign_segment(body, SECRETS["segment"])}


# --------------------------------------------------------------------------- the receiver


def test_webhooks_write_signed_bodies_with_acks_and_refuse_the_rest(kafka_bootstrap, caplog):
    prefix = _topics(kafka_bootstrap)
    sub = stripe_subscription("sub_w1", [("si_w1", 2000, "month", 1, 1)], account="acme")
    bodies = {
        "stripe": orjson.dumps(
            stripe_event("evt_w1", "customer.subscription.created", sub, 1_767_225_600)
        ),
        "zendesk": orjson.dumps(
            zendesk_event(
                "w2",
                "ticket.created",
                ticket_id="7",
                organization_id="42",
                time="2026-01-01T00:00:00Z",
            )
        ),
        "segment": orjson.dumps(
            segment_track(
                "w3", "Signed In", user_id="u1", group_id="acme", timestamp="2026-01-01T00:00:00Z"
            )
        ),
    }

    async def scenario() -> dict:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        app = make_app(producer, SECRETS, topic_prefix=prefix, max_body_bytes=16384)
        answers = {}
        try:
            async with TestClient(TestServer(app)) as client:
                for source, body in bodies.items():
                    response = await client.post(
                        f"/webhooks/{source}", data=body, headers=_signed(source, body)
                    )
                    answers[source] = (response.status, await response.json())
                stale = _signed("stripe", bodies["stripe"], now=int(time.time()) - 3600)
                response = await client.post(
                    "/webhooks/stripe", data=bodies["stripe"], headers=stale
                )
                answers["stale"] = (response.status, await response.json())
                forged = {
                    "Stripe-Signature": sign_stripe(
                        bodies["stripe"], "whsec_wrong", int(time.time())
                    )
                }
                response = await client.post(
                    "/webhooks/stripe", data=bodies["stripe"], headers=forged
                )
                answers["forged"] = (response.status, await response.json())
                big = b'{"x":"' + b"a" * 20000 + b'"}'
                response = await client.post(
                    "/webhooks/segment", data=big, headers=_signed("segment", big)
                )
                answers["big"] = (response.status, await response.json())
                text = b"not json"
                response = await client.post(
                    "/webhooks/segment", data=text, headers=_signed("segment", text)
                )
                answers["text"] = (response.status, await response.json())
        finally:
            await producer.stop()
        return answers

    with caplog.at_level(logging.INFO):
        answers = asyncio.run(scenario())
    for source in ("stripe", "zendesk", "segment"):
        status, body = answers[source]
        assert (
            status == 200 and body["accepted"] and body["topic"] == prefix + RAW_TOPICS[source]
        ), answers[source]
    assert answers["stale"] == (
        400,
        {"error": "stale_timestamp", "detail": answers["stale"][1]["detail"]},
    )
    assert answers["forged"][0] == 401 and answers["forged"][1]["error"] == "bad_signature"
    assert answers["big"][0] == 413 and answers["big"][1]["error"] == "too_large"
    assert answers["text"][0] == 400 and answers["text"][1]["error"] == "invalid_json"
    # exactly the accepted bodies are in the raw topics, unchanged, keyed by the account hint
    records = _read(kafka_bootstrap, [prefix + t for t in RAW_TOPICS.values()], 3)
    by_topic = {r.topic: r for r in records}
    assert len(records) == 3
    assert by_topic[prefix + "pulse.raw.stripe"].value == bodies["stripe"]
    assert by_topic[prefix + "pulse.raw.stripe"].key == b"cus_QXg1o8vcGmoR32"
    assert by_topic[prefix + "pulse.raw.zendesk"].key == b"42"
    assert by_topic[prefix + "pulse.raw.segment"].key == b"acme"
    assert not any(secret in caplog.text for secret in SECRETS.values())


# --------------------------------------------------------------------------- the bridge


def test_bridge_translates_dead_letters_and_commits_after_acks(kafka_bootstrap):
    prefix = _topics(kafka_bootstrap)
    config = load_config(None).connectors
    sub = stripe_subscription("sub_b1", [("si_b1", 2000, "month", 1, 2)], account="acme")
    raw = [
        (
            prefix + "pulse.raw.stripe",
            b"cus",
            orjson.dumps(
                stripe_event("evt_b1", "customer.subscription.created", sub, 1_767_225_600)
            ),
        ),
        (
            prefix + "pulse.raw.segment",
            b"acme",
            orjson.dumps(
                segment_track(
                    "b2",
                    "Signed In",
                    user_id="u1",
                    group_id="acme",
                    timestamp="2026-01-02T00:00:00Z",
                )
            ),
        ),
        (
            prefix + "pulse.raw.segment",
            None,
            orjson.dumps(
                segment_track(
                    "b3", "Signed In", user_id="u1", group_id=None, timestamp="2026-01-02T00:00:00Z"
                )
            ),
        ),
        (prefix + "pulse.raw.zendesk", None, b"{not json"),
    ]
    produce(kafka_bootstrap, raw)
    group_id = unique("bridge")

    async def bridge() -> BridgeStats:
        stop, stats = asyncio.Event(), BridgeStats()
        task = asyncio.create_task(
            run_bridge(
                kafka_bootstrap,
                config,
                topic_prefix=prefix,
                group_id=group_id,
                stop=stop,
                stats=stats,
            )
        )
        for _ in range(240):
            if stats.raw >= len(raw) or task.done():
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(1)  # let the batch's commit finish
        stop.set()
        await task
        return stats

    stats = asyncio.run(bridge())
    assert (stats.raw, stats.produced) == (4, 2)
    assert stats.dead_letters == {"untranslatable:no_group": 1, "untranslatable:invalid_json": 1}
    billing = _read(kafka_bootstrap, [prefix + "pulse.billing"], 1)
    assert [(r.key, orjson.loads(r.value)["event_id"]) for r in billing] == [
        (b"acme", "stripe:evt_b1:si_b1")
    ]
    logins = _read(kafka_bootstrap, [prefix + "pulse.logins"], 1)
    assert orjson.loads(logins[0].value)["type"] == "login" and logins[0].key == b"acme"
    dead = sorted(
        (orjson.loads(r.value) for r in _read(kafka_bootstrap, [prefix + DEAD_LETTER_TOPIC], 2)),
        key=lambda d: d["reason"],
    )
    assert [d["reason"] for d in dead] == ["untranslatable:invalid_json", "untranslatable:no_group"]
    assert (
        dead[0]["raw_text"] == "{not json"
        and dead[0]["topic"] == prefix + "pulse.raw.zendesk"
        and dead[0]["offset"] == 0
    )
    # the offsets were committed: the same group reads nothing more from the raw topics
    assert (
        _read(kafka_bootstrap, [prefix + t for t in RAW_TOPICS.values()], 0, group_id=group_id)
        == []
    )


# --------------------------------------------------------------------------- end to end


def _payloads() -> list[tuple[str, dict]]:
    """A month of three accounts as their tools would send it (times in January 2026)."""
    day = 86400
    t0 = 1_767_225_600
    out: list[tuple[str, dict]] = []
    plans = {
        "acme": [("si_a1", 4999, "month", 1, 5)],
        "globex": [("si_g1", 120000, "year", 1, 1), ("si_g2", 1500, "month", 1, 10)],
        "initech": [("si_i1", 20000, "month", 3, 1)],
    }
    for n, (account, items) in enumerate(plans.items()):
        sub_id = f"sub_{account}"
        out.append(
            (
                "segment",
                segment_group(
                    f"g-{account}",
                    account,
                    timestamp="2026-01-01T00:00:00Z",
                    traits={"name": account.title(), "plan": "mid_market", "owner": "csm-ana"},
                ),
            )
        )
        sub = stripe_subscription(sub_id, items, account=account, customer=f"cus_{account}")
        out.append(
            (
                "stripe",
                stripe_event(
                    f"evt_{account}_c", "customer.subscription.created", sub, t0 + n * 3600
                ),
            )
        )
        out.append(
            (
                "stripe",
                stripe_event(
                    f"evt_{account}_p",
                    "invoice.paid",
                    stripe_invoice(
                        f"in_{account}", sub_id, account=account, amount_paid=4999, amount_due=4999
                    ),
                    t0 + n * 3600 + 60,
                ),
            )
        )
        for d in range(1, 25, 3):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + d * day + n * 60))
            out.append(
                (
                    "segment",
                    segment_track(
                        f"l-{account}-{d}",
                        "Signed In",
                        user_id=f"u-{account}-{d % 2}",
                        group_id=account,
                        timestamp=stamp,
                    ),
                )
            )
            out.append(
                (
                    "segment",
                    segment_track(
                        f"r-{account}-{d}",
                        "Report Exported",
                        user_id=f"u-{account}-{d % 2}",
                        group_id=account,
                        timestamp=stamp,
                    ),
                )
            )
        org = f"{900 + n}"
        opened = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 5 * day + n * 60))
        replied = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 5 * day + 1800 + n * 60))
        solved = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 6 * day + n * 60))
        out.append(
            (
                "zendesk",
                zendesk_event(
                    f"z-{account}-1",
                    "ticket.created",
                    ticket_id=f"{100 + n}",
                    organization_id=org,
                    time=opened,
                ),
            )
        )
        out.append(
            (
                "zendesk",
                zendesk_event(
                    f"z-{account}-2",
                    "ticket.comment_added",
                    ticket_id=f"{100 + n}",
                    organization_id=org,
                    time=replied,
                    event=zendesk_comment(True),
                ),
            )
        )
        out.append(
            (
                "zendesk",
                zendesk_event(
                    f"z-{account}-3",
                    "ticket.status_changed",
                    ticket_id=f"{100 + n}",
                    organization_id=org,
                    time=solved,
                    event={"current": "SOLVED", "previous": "OPEN"},
                ),
            )
        )
    # acme drops to 2 seats on the 20th
    sub = stripe_subscription(
        "sub_acme", [("si_a1", 4999, "month", 1, 2)], account="acme", customer="cus_acme"
    )
    out.append(
        (
            "stripe",
            stripe_event(
                "evt_acme_u",
                "customer.subscription.updated",
                sub,
                t0 + 19 * day,
                {"items": {"data": [{"id": "si_a1"}]}},
            ),
        )
    )
    out.append(
        (
            "segment",
            segment_track(
                "x-unmapped",
                "Dashboard Viewed",
                user_id="u1",
                group_id="acme",
                timestamp="2026-01-10T00:00:00Z",
            ),
        )
    )
    return out


def _post(port: int, source: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/{source}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def test_signed_webhooks_through_bridge_and_worker_equal_replay_of_the_translation(
    kafka_bootstrap, tmp_path
):
    prefix = _topics(kafka_bootstrap)
    config_path = tmp_path / "pulse.toml"
    config_path.write_text(CONNECTORS_TOML)
    connectors = load_config(config_path).connectors
    as_of = "2026-02-01T00:00:00.000Z"
    payloads = _payloads()
    deliveries = [*payloads, payloads[1], payloads[5], payloads[-4]]  # three webhooks redelivered

    # what a replay of the translation says
    lines = []
    for source, payload in deliveries:
        result = translate(source, orjson.dumps(payload), connectors)
        lines += [orjson.dumps(e) for e in result] if isinstance(result, list) else []
    jsonl = tmp_path / "translated.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    import subprocess
    import sys

    replayed = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "replay",
            str(jsonl),
            "--as-of",
            as_of,
            "--config",
            str(config_path),
            "--no-ratios",
        ],
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    assert replayed.returncode == 0, replayed.stderr.decode()
    expected = parse_exposition(replayed.stdout.decode())
    assert expected[("pulse_events_duplicate_total", ())] >= 3

    port = free_port()
    env = {
        "PULSE_SEGMENT_WEBHOOK_SECRET": SECRETS["segment"],
        "PULSE_STRIPE_WEBHOOK_SECRET": SECRETS["stripe"],
        "PULSE_ZENDESK_WEBHOOK_SECRET": SECRETS["zendesk"],
    }
    receiver = WorkerProcess(
        [
            "-m",
            "streams.cli",
            "webhooks",
            "--bootstrap",
            kafka_bootstrap,
            "--topic-prefix",
            prefix,
            "--port",
            str(port),
        ],
        env,
        tmp_path / "webhooks.log",
    )
    bridge = WorkerProcess(
        [
            "-m",
            "streams.cli",
            "bridge",
            "--bootstrap",
            kafka_bootstrap,
            "--topic-prefix",
            prefix,
            "--group-id",
            unique("bridge"),
            "--config",
            str(config_path),
        ],
        {},
        tmp_path / "bridge.log",
    )
    worker = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=unique("conn"),
        prefix=prefix,
        as_of=as_of,
        name="w",
        extra=["--config", str(config_path)],
    )
    try:
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200,
            60,
            receiver,
            "the receiver",
        )
        for source, payload in deliveries:
            body = orjson.dumps(payload)
            status, answer = _post(port, source, body, _signed(source, body))
            assert status == 200, answer
        forged = orjson.dumps(payloads[0])
        assert _post(port, "segment", forged, {"X-Signature": "0" * 40})[0] == 401
        wait_until_equal(
            worker.metrics,
            expected,
            worker.process,
            "the worker to match the replay of the translation",
            also=bridge.log_tail,
        )
        dead = [
            orjson.loads(r.value) for r in _read(kafka_bootstrap, [prefix + DEAD_LETTER_TOPIC], 1)
        ]
        assert [d["reason"] for d in dead] == ["untranslatable:unmapped_track"]
        assert not any(
            secret in (tmp_path / "webhooks.log").read_text() for secret in SECRETS.values()
        )
    finally:
        for process in (receiver, bridge, worker.process):
            process.stop()
