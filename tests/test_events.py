"""The decoder (bytes -> typed event or a reason) and the dead-letter record."""

from __future__ import annotations

import base64
import calendar
import hashlib
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.contract.deadletter import (
    MAX_RECORD_BYTES,
    dead_letter_record,
    reason_labels,
    rejected_reason_label,
)
from streams.contract.decoding import (
    REASONS,
    Decoder,
    Rejection,
    exact_decimal,
    field_names,
    iter_examples,
    reason_code,
)
from streams.contract.model import (
    SOURCE_TOPICS,
    TOPIC_OF_TYPE,
    FeatureUsed,
    Login,
    OnboardingCompleted,
    SubscriptionCanceled,
    SubscriptionSet,
    SurveyResponse,
    TicketOpened,
)
from streams.contract.rfc3339 import epoch_ms, rfc3339_ms
from streams.ingest.admission import Admission, PolicyConfig

EXAMPLE = dict(iter_examples())
DECODER = Decoder()


def message(event_type: str, **changes: Any) -> bytes:
    event = dict(EXAMPLE[event_type])
    for name, value in changes.items():
        if value is None:
            event.pop(name, None)
        else:
            event[name] = value
    return orjson.dumps(event)


def reason(result: object) -> str:
    assert isinstance(result, Rejection), result
    return result.reason


# --------------------------------------------------------------------------- every reason


def _future() -> object:
    event = DECODER.decode(message("login"))
    return Admission(PolicyConfig(), clock=lambda: 0).admit(event)  # type: ignore[arg-type]


def _too_late() -> object:
    admission = Admission(PolicyConfig())
    admission.admit(
        DECODER.decode(message("login", event_id="new", occurred_at="2026-06-01T00:00:00Z"))
    )  # type: ignore[arg-type]
    return admission.admit(
        DECODER.decode(message("login", event_id="old", occurred_at="2026-01-01T00:00:00Z"))
    )  # type: ignore[arg-type]


REASON_CASES: dict[str, Callable[[], object]] = {
    "too_large": lambda: Decoder(max_bytes=10).decode(message("login")),
    "invalid_json": lambda: DECODER.decode(b'{"type": "login",'),
    "not_an_object": lambda: DECODER.decode(b"[1, 2]"),
    "unknown_type": lambda: DECODER.decode(message("login", type="page_view")),
    "missing_field:": lambda: DECODER.decode(message("login", user_id=None)),
    "invalid_field:": lambda: DECODER.decode(message("feature_used", count=0)),
    "unknown_currency": lambda: Decoder(currencies={"EUR"}).decode(message("payment_failed")),
    "no_exchange_rate": lambda: Decoder(rate_known=lambda code, at: False).decode(
        message("payment_failed")
    ),
    "wrong_topic": lambda: DECODER.decode(message("login"), "pulse.billing"),
    "future_timestamp": _future,
    "too_late": _too_late,
}


def test_every_reason_has_a_case() -> None:
    assert set(REASON_CASES) == set(REASONS)


@pytest.mark.parametrize("code", REASONS)
def test_reason_case(code: str) -> None:
    result = REASON_CASES[code]()
    assert isinstance(result, Rejection)
    assert reason_code(result.reason) == code
    assert result.detail.endswith(".") and "\n" not in result.detail


def test_reason_code() -> None:
    assert reason_code("missing_field:user_id") == "missing_field:"
    assert reason_code("too_large") == "too_large"


# --------------------------------------------------------------------------- each check


def test_too_large_is_strictly_more_than_the_limit_and_checked_before_parsing() -> None:
    raw = message("login")
    assert isinstance(Decoder(max_bytes=len(raw)).decode(raw), Login)
    assert reason(Decoder(max_bytes=len(raw) - 1).decode(raw)) == "too_large"
    assert reason(Decoder(max_bytes=4).decode(b"not json at all")) == "too_large"


def test_default_limit_is_64_kib() -> None:
    padded = orjson.loads(message("login"))
    base = len(orjson.dumps(padded | {"pad": ""}))
    at_limit = orjson.dumps(padded | {"pad": "x" * (65536 - base)})
    assert len(at_limit) == 65536
    assert isinstance(DECODER.decode(at_limit), Login)
    assert reason(DECODER.decode(at_limit[:-1] + b" }")) == "too_large"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"\xff\xfe",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',
        b'"\\ud800"',
        b"{} {}",
        b"{'a': 1}",
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_invalid_json(raw: bytes) -> None:
    assert reason(DECODER.decode(raw)) == "invalid_json"


@pytest.mark.parametrize(
    "raw", [b"[]", b'"login"', b"1", b"null", b"true", b"[" * 100 + b"]" * 100]
)
def test_not_an_object(raw: bytes) -> None:
    assert reason(DECODER.decode(raw)) == "not_an_object"


@pytest.mark.parametrize("value", ["page_view", "LOGIN", "", 3, None, ["login"], {"a": 1}])
def test_unknown_type(value: Any) -> None:
    event = dict(EXAMPLE["login"], type=value)
    assert reason(DECODER.decode(orjson.dumps(event))) == "unknown_type"


def test_missing_type() -> None:
    assert reason(DECODER.decode(message("login", type=None))) == "missing_field:type"


def test_envelope_fields_are_reported_before_type_fields() -> None:
    raw = message("login", occurred_at=None, user_id=None)
    assert reason(DECODER.decode(raw)) == "missing_field:occurred_at"


@pytest.mark.parametrize(("event_type", "example"), list(iter_examples()))
def test_topic_is_checked_only_when_known(event_type: str, example: dict[str, Any]) -> None:
    raw = orjson.dumps(example)
    assert not isinstance(DECODER.decode(raw, TOPIC_OF_TYPE[event_type]), Rejection)
    assert not isinstance(DECODER.decode(raw, None), Rejection)
    for topic in set(SOURCE_TOPICS) - {TOPIC_OF_TYPE[event_type]}:
        assert reason(DECODER.decode(raw, topic)) == "wrong_topic"
    assert reason(DECODER.decode(raw, "pulse.dead-letter")) == "wrong_topic"


def test_currency_is_upper_cased_and_checked_against_the_list() -> None:
    decoder = Decoder(currencies=["usd", "EUR"])
    payment = decoder.decode(message("payment_succeeded", currency="usd"))
    assert not isinstance(payment, Rejection) and payment.currency == "USD"  # type: ignore[union-attr]
    assert (
        reason(decoder.decode(message("payment_succeeded", currency="JPY"))) == "unknown_currency"
    )
    assert (
        reason(decoder.decode(message("subscription_started", currency="gbp")))
        == "unknown_currency"
    )
    assert (
        isinstance(DECODER.decode(message("payment_succeeded", currency="JPY")), Rejection) is False
    )


def test_invalid_field_detail_names_the_field_not_the_value() -> None:
    rejection = DECODER.decode(message("survey_response", comment="secret " * 400))
    assert reason(rejection) == "invalid_field:comment"
    assert "comment" in rejection.detail and "secret" not in rejection.detail  # type: ignore[union-attr]


# --------------------------------------------------------------------------- conversions


RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))"
)


def oracle_epoch_ms(text: str) -> int:
    """Independent arithmetic: calendar.timegm of the fields, minus the offset, plus the ms."""
    match = RFC3339.fullmatch(text)
    assert match
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, sign, offset_hours, offset_minutes = match.groups()[6:]
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if sign:
        seconds -= (1 if sign == "+" else -1) * (
            int(offset_hours) * 3600 + int(offset_minutes) * 60
        )
    return seconds * 1000 + (int((fraction or "").ljust(3, "0")[:3]))


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T09:15:00Z",
        "2026-03-01t09:15:00z",
        "2026-03-01T09:15:00.5Z",
        "2026-03-01T09:15:00.123456789+05:30",
        "2026-03-01T00:15:00-08:00",
        "2026-03-01T09:15:00-00:00",
        "1969-12-31T23:59:59.9999Z",
        "1900-01-01T00:00:00.001Z",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59.999-23:59",
        "2028-02-29T12:00:00Z",
    ],
)
def test_epoch_ms_agrees_with_calendar_arithmetic(text: str) -> None:
    assert epoch_ms(text) == oracle_epoch_ms(text)


def test_naive_time_is_rejected() -> None:
    assert (
        reason(DECODER.decode(message("login", occurred_at="2026-03-01T09:15:00")))
        == "invalid_field:occurred_at"
    )


def test_time_fields_are_epoch_ms() -> None:
    event = DECODER.decode(message("subscription_started"))
    assert isinstance(event, SubscriptionSet)
    assert event.occurred_at == epoch_ms(EXAMPLE["subscription_started"]["occurred_at"])
    assert event.trial_ends_at == epoch_ms(EXAMPLE["subscription_started"]["trial_ends_at"])


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (b"49.99", "49.99"),
        (b"0.1", "0.1"),
        (b"1234567.891", "1234567.891"),
        (b"10", "10"),
        (b"1e-7", "1E-7"),
        (b"999999999999.99", "999999999999.99"),
        (b"0", "0"),
        (b"-0.0", "0"),
        (b"12.50", "12.5"),
        (b"2.5e3", "2500.0"),
    ],
)
def test_money_is_the_decimal_as_written(written: bytes, expected: str) -> None:
    raw = message("payment_succeeded").replace(b'"amount":499', b'"amount":' + written)
    event = DECODER.decode(raw)
    assert not isinstance(event, Rejection), event
    assert event.amount == Decimal(expected) and not str(event.amount).startswith("-")  # type: ignore[union-attr]


def test_exact_decimal_of_ints_and_floats() -> None:
    assert exact_decimal(19) == Decimal(19)
    assert exact_decimal(0.3) == Decimal("0.3")
    assert exact_decimal(2**64 - 1) == Decimal(2**64 - 1)


def test_defaults_are_applied() -> None:
    feature = DECODER.decode(message("feature_used", count=None))
    assert isinstance(feature, FeatureUsed) and feature.count == 1
    subscription = DECODER.decode(
        message("subscription_started", quantity=None, discount_percent=None, trial_ends_at=None)
    )
    assert isinstance(subscription, SubscriptionSet)
    assert (
        subscription.quantity,
        subscription.interval_count,
        subscription.discount_percent,
        subscription.trial_ends_at,
    ) == (1, 1, Decimal(0), None)
    assert isinstance(subscription.discount_percent, Decimal)
    canceled = DECODER.decode(message("subscription_canceled", effective_at=None))
    assert (
        isinstance(canceled, SubscriptionCanceled) and canceled.effective_at == canceled.occurred_at
    )
    opened = DECODER.decode(message("ticket_opened", priority=None, channel=None, user_id=None))
    assert isinstance(opened, TicketOpened) and (
        opened.priority,
        opened.channel,
        opened.user_id,
    ) == (None, None, None)
    survey = DECODER.decode(message("survey_response", comment=None, user_id=None))
    assert isinstance(survey, SurveyResponse) and (survey.comment, survey.user_id) == (None, None)
    done = DECODER.decode(message("onboarding_completed"))
    assert isinstance(done, OnboardingCompleted) and done.user_id is None


def test_given_values_override_defaults() -> None:
    canceled = DECODER.decode(message("subscription_canceled"))
    assert isinstance(canceled, SubscriptionCanceled)
    assert (
        canceled.effective_at
        == epoch_ms(EXAMPLE["subscription_canceled"]["effective_at"])
        != canceled.occurred_at
    )
    subscription = DECODER.decode(message("subscription_started"))
    assert (
        isinstance(subscription, SubscriptionSet)
        and subscription.discount_percent == Decimal(10)
        and subscription.quantity == 5
    )


def test_integral_float_becomes_int() -> None:
    feature = DECODER.decode(message("feature_used", count=3.0))
    assert isinstance(feature, FeatureUsed) and feature.count == 3 and type(feature.count) is int


def test_unknown_extra_fields_are_ignored() -> None:
    event = DECODER.decode(
        message("login", app_version="4.2", nested={"deep": [1, 2, {"x": None}]})
    )
    assert event == DECODER.decode(message("login"))


def test_accepts_bytearray_and_memoryview() -> None:
    raw = message("login")
    assert DECODER.decode(bytearray(raw)) == DECODER.decode(memoryview(raw)) == DECODER.decode(raw)


def test_every_example_type_round_trips_to_its_class() -> None:
    for event_type, example in iter_examples():
        event = DECODER.decode(orjson.dumps(example))
        assert not isinstance(event, Rejection) and event.type == event_type
        assert (event.event_id, event.account_id, event.user_id) == (
            example["event_id"],
            example["account_id"],
            example.get("user_id"),
        )


# --------------------------------------------------------------------------- dead letters


def test_dead_letter_record_for_text() -> None:
    raw = message("login", user_id=None)
    rejection = DECODER.decode(raw)
    assert isinstance(rejection, Rejection)
    record = orjson.loads(
        dead_letter_record(
            raw, rejection, topic="pulse.logins", partition=3, offset=1234, at_ms=1772356500123
        )
    )
    assert record["reason"] == "missing_field:user_id" and record["detail"] == rejection.detail
    assert (record["topic"], record["partition"], record["offset"]) == ("pulse.logins", 3, 1234)
    assert record["rejected_at"] == "2026-03-01T09:15:00.123Z"
    assert epoch_ms(record["rejected_at"]) == 1772356500123
    assert (
        record["raw_text"] == raw.decode() and "raw_base64" not in record
    )  # the bytes once, not twice
    assert record["raw_size"] == len(raw) and "raw_truncated" not in record
    assert record["raw_sha256"] == hashlib.sha256(raw).hexdigest()


def test_dead_letter_record_for_binary_and_unknown_source() -> None:
    raw = b"\xff\x00\xed\xa0\x80garbage"
    rejection = DECODER.decode(raw)
    assert isinstance(rejection, Rejection)
    record = orjson.loads(
        dead_letter_record(raw, rejection, topic=None, partition=None, offset=None, at_ms=0)
    )
    assert base64.b64decode(record["raw_base64"]) == raw and "raw_text" not in record
    assert (record["topic"], record["partition"], record["offset"], record["rejected_at"]) == (
        None,
        None,
        None,
        "1970-01-01T00:00:00.000Z",
    )


def _too_large(raw: bytes) -> Rejection:
    rejection = Decoder().decode(raw)
    assert isinstance(rejection, Rejection) and rejection.reason == "too_large"
    return rejection


def test_dead_letter_record_is_capped_with_the_size_and_hash_of_the_whole() -> None:
    """A 400 KB message full of characters JSON escapes: its record used to carry it twice
    (about 1.1 MB, past the dead-letter topic's 1 MiB); now about the longest prefix that
    keeps the record within MAX_RECORD_BYTES, with the size and hash of the whole."""
    raw = b'{"type":"login","tags":[' + b'"x",' * 100_000 + b'"x"]}'
    record_bytes = dead_letter_record(
        raw, _too_large(raw), topic="t", partition=0, offset=0, at_ms=0
    )
    assert (
        0.98 * MAX_RECORD_BYTES < len(record_bytes) <= MAX_RECORD_BYTES
    )  # about the longest copy that fits
    record = orjson.loads(record_bytes)
    assert record["raw_size"] == len(raw) and record["raw_truncated"] is True
    assert record["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert raw.startswith(record["raw_text"].encode()) and "raw_base64" not in record


def test_dead_letter_record_cut_keeps_text_whole_characters_and_binary_as_base64() -> None:
    text = ("é" * 50_000).encode()  # 2 bytes a character: a cut can fall inside one
    for cap in (1_000, 1_001, 1_002):
        record = orjson.loads(
            dead_letter_record(
                text,
                _too_large(text * 2),
                topic="t",
                partition=0,
                offset=0,
                at_ms=0,
                max_record_bytes=cap,
            )
        )
        assert set(record["raw_text"]) == {"é"} and record["raw_truncated"] is True
        assert len(orjson.dumps(record)) <= cap
    binary = bytes(range(256)) * 1000
    record_bytes = dead_letter_record(
        binary,
        _too_large(binary),
        topic="t",
        partition=0,
        offset=0,
        at_ms=0,
        max_record_bytes=4_000,
    )
    record = orjson.loads(record_bytes)
    assert len(record_bytes) <= 4_000 and binary.startswith(base64.b64decode(record["raw_base64"]))
    assert record["raw_size"] == len(binary) and record["raw_truncated"] is True


def test_dead_letter_record_of_uneven_text_still_fits() -> None:
    """Escapes only in the second half: the proportional guess is too long at first."""
    raw = b"x" * 200_000 + b"\x01" * 200_000
    for cap in (4_000, 100_000, 300_000):
        record_bytes = dead_letter_record(
            raw, _too_large(raw), topic="t", partition=0, offset=0, at_ms=0, max_record_bytes=cap
        )
        record = orjson.loads(record_bytes)
        assert len(record_bytes) <= cap and raw.startswith(record["raw_text"].encode())


def test_dead_letter_record_under_the_cap_is_whole() -> None:
    raw = b"x" * 100_000
    record = orjson.loads(
        dead_letter_record(raw, _too_large(raw), topic="t", partition=0, offset=0, at_ms=0)
    )
    assert record["raw_text"] == raw.decode() and "raw_truncated" not in record


def test_rfc3339_ms() -> None:
    assert rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z"


def test_reason_labels_are_bounded_and_cover_the_decoder() -> None:
    labels = reason_labels()
    assert len(labels) == 9 + 1 + 2 * len(
        field_names()
    )  # 9 plain reasons, "other", the field forms
    for code in REASONS:
        result = REASON_CASES[code]()
        assert (
            isinstance(result, Rejection) and rejected_reason_label(result.reason) == result.reason
        )
    assert rejected_reason_label("missing_field:no_such_field") == "other"
    assert rejected_reason_label("made_up") == "other"


DOCS = (Path(__file__).resolve().parent.parent / "docs" / "events.md").read_text("utf-8")


def test_docs_explain_every_reason() -> None:
    for code in REASONS:
        assert f"`{code}" in DOCS, code


def test_docs_dead_letter_sample_is_what_the_code_writes() -> None:
    sample_text = next(
        b
        for b in re.findall(r"```json\n(.*?)\n```", DOCS, flags=re.DOTALL)
        if b.startswith('{"reason"')
    )
    sample = orjson.loads(sample_text)
    raw = sample["raw_text"].encode()
    rejection = DECODER.decode(raw, sample["topic"])
    assert isinstance(rejection, Rejection)
    written = dead_letter_record(
        raw,
        rejection,
        topic=sample["topic"],
        partition=sample["partition"],
        offset=sample["offset"],
        at_ms=epoch_ms(sample["rejected_at"]),
    )
    assert written == sample_text.encode()
