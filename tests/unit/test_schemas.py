"""One schema definition: Arrow, Spark and JSON views agree, and bad records are explained."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from fraudguard.schemas import MERCHANT, TRANSACTION, USER, format_timestamp
from fraudguard.spark import spark_schema

GOOD = {
    "transaction_id": "t1",
    "user_id": "u0000001",
    "merchant_id": "m000001",
    "timestamp": "2026-01-01T08:15:30.123Z",
    "amount": 12.5,
    "currency": "EUR",
    "channel": "in_store",
    "device_ip": "81.2.69.160",
    "session_id": None,
    "is_fraud": False,
    "fraud_scenario": None,
}


def test_a_valid_transaction_decodes_with_its_timestamp_as_utc():
    record = TRANSACTION.decode(json.dumps(GOOD).encode())
    assert record["timestamp"].isoformat() == "2026-01-01T08:15:30.123000+00:00"


def test_a_producer_that_does_not_know_sessions_yet_is_understood():
    without = {name: value for name, value in GOOD.items() if name != "session_id"}
    assert TRANSACTION.decode(json.dumps(without).encode())["session_id"] is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON: Expecting property name enclosed in double quotes"),
        (b"[1, 2]", "transaction.v2: expected a JSON object, got list"),
        (
            json.dumps({**GOOD, "amount": "12.5"}).encode(),
            "transaction.v2: amount: expected double, got '12.5'",
        ),
        (json.dumps({**GOOD, "user_id": None}).encode(), "transaction.v2: user_id: missing"),
        (json.dumps({**GOOD, "timestamp": "2026-01-01 08:15"}).encode(), "timestamp: expected timestamp"),
        (json.dumps({**GOOD, "is_fraud": 0}).encode(), "is_fraud: expected bool, got 0"),
        (json.dumps({**GOOD, "extra": 1}).encode(), "transaction.v2: unknown fields: extra"),
    ],
)
def test_a_bad_record_is_rejected_with_its_reason(payload, reason):
    with pytest.raises(ValueError) as caught:
        TRANSACTION.decode(payload)
    assert reason in str(caught.value)


def test_encode_then_decode_round_trips_every_field():
    table = pa.Table.from_pylist([TRANSACTION.decode(json.dumps(GOOD).encode())], schema=TRANSACTION.arrow())
    keys, values = TRANSACTION.encode(table)
    assert keys == ["u0000001"]
    assert json.loads(values[0]) == GOOD


def test_format_timestamp_writes_what_encode_writes():
    record = TRANSACTION.decode(json.dumps(GOOD).encode())
    _, values = TRANSACTION.encode(pa.Table.from_pylist([record], schema=TRANSACTION.arrow()))
    assert format_timestamp(record["timestamp"]) == json.loads(values[0])["timestamp"]


def test_arrow_and_spark_views_list_the_same_fields():
    for schema in (USER, MERCHANT, TRANSACTION):
        assert schema.arrow().names == schema.names == [f.name for f in spark_schema(schema).fields]
        assert schema.arrow().metadata[b"schema"] == schema.tag.encode()
