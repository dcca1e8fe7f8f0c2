"""`pulse webhooks`: the HTTP receiver. One path per source, a signature check, and the
accepted body written unchanged to the source's raw topic before the answer.

    POST /webhooks/segment | /webhooks/stripe | /webhooks/zendesk
      200 {"accepted": true, "topic", "partition", "offset"}   the body is in Kafka
      400 {"error": "stale_timestamp" | "malformed_signature" | "invalid_json", "detail"}
      401 {"error": "missing_signature" | "bad_signature", "detail"}
      404 {"error": "source_not_configured"}   no secret was given for that source
      413 {"error": "too_large"}                the body exceeds --max-body-bytes
      503 {"error": "kafka_unavailable"}        not written; the sender retries
    GET /healthz -> 200 {"ok": true}

The producer uses acks=all (every in-sync replica has the record) and idempotence, so a
200 means the event is in Kafka. The message key is the account hint the payload carries
(Segment groupId / context.groupId, Stripe customer, Zendesk organization), so one
account's raw events stay in one partition, in order. Translation happens later, in
`pulse bridge`: the receiver stays thin and never loses a signed body because of a
mapping. Secrets and signatures never reach the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from streams.connectors.raw_topics import RAW_TOPICS
from streams.connectors.signatures import DEFAULT_TOLERANCE_SECONDS, verify_any

DEFAULT_MAX_BODY_BYTES = 512 * 1024
_log = logging.getLogger("pulse.webhooks")


def _reply(status: int, **body: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def partition_key(source: str, payload: Mapping[str, Any]) -> bytes | None:
    """The account hint of a raw payload, used as the raw message key (None: none found)."""
    hint: object = None
    if source == "segment":
        context = payload.get("context")
        hint = payload.get("groupId") or (
            context.get("groupId") if isinstance(context, dict) else None
        )
    elif source == "stripe":
        data = payload.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        customer = obj.get("customer") if isinstance(obj, dict) else None
        hint = customer.get("id") if isinstance(customer, dict) else customer
    elif source == "zendesk":
        detail = payload.get("detail")
        hint = detail.get("organization_id") if isinstance(detail, dict) else None
    if type(hint) is int:
        hint = str(hint)
    return hint.encode() if isinstance(hint, str) and hint else None


def make_app(
    producer: Any,
    secrets: Mapping[str, str],
    *,
    topic_prefix: str = "",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The aiohttp application; `producer` is a started AIOKafkaProducer (acks=all)."""
    app = web.Application(client_max_size=max_body_bytes)

    async def receive(request: web.Request) -> web.Response:
        source = request.match_info["source"]
        secret = secrets.get(source)
        if not secret:
            return _reply(
                404, error="source_not_configured", detail=f"No secret is configured for {source}."
            )
        if request.content_length is not None and request.content_length > max_body_bytes:
            return _too_large(source, max_body_bytes)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(source, max_body_bytes)
        refusal = verify_any(source, request.headers, body, secret, clock(), tolerance)
        if refusal is not None:
            _log.warning(
                "webhook refused: source=%s status=%d error=%s",
                source,
                refusal.status,
                refusal.error,
            )
            return _reply(refusal.status, error=refusal.error, detail=refusal.detail)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            return _reply(400, error="invalid_json", detail="The body is not a JSON object.")
        topic = topic_prefix + RAW_TOPICS[source]
        try:
            metadata = await producer.send_and_wait(
                topic, value=body, key=partition_key(source, payload)
            )
        except Exception as error:  # the broker did not acknowledge: the sender must retry
            _log.error(
                "webhook not written: source=%s topic=%s error=%s",
                source,
                topic,
                type(error).__name__,
            )
            return _reply(
                503,
                error="kafka_unavailable",
                detail="The event could not be written to Kafka; retry later.",
            )
        _log.info(
            "webhook accepted: source=%s topic=%s partition=%d offset=%d bytes=%d",
            source,
            topic,
            metadata.partition,
            metadata.offset,
            len(body),
        )
        return _reply(
            200, accepted=True, topic=topic, partition=metadata.partition, offset=metadata.offset
        )

    async def health(request: web.Request) -> web.Response:
        return _reply(200, ok=True)

    app.router.add_post("/webhooks/{source:segment|stripe|zendesk}", receive)
    app.router.add_get("/healthz", health)
    return app


def _too_large(source: str, limit: int) -> web.Response:
    _log.warning("webhook refused: source=%s status=413 error=too_large", source)
    return _reply(413, error="too_large", detail=f"The body is larger than {limit} bytes.")
