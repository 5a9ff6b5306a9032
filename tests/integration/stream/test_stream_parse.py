"""Spark-side validation of input messages: the reasons a message becomes a dead letter."""

from __future__ import annotations

import json

import pytest

from fraudguard.schemas import TRANSACTION, USER
from fraudguard.stream.parse import PROBLEM, parse_inputs

pytestmark = pytest.mark.integration

GOOD = {"transaction_id": "t1", "user_id": "u1", "merchant_id": "m1", "timestamp": "2026-01-01T10:00:00.000Z",
        "amount": 12.5, "currency": "EUR", "channel": "in_store", "device_ip": "10.0.0.1", "is_fraud": False,
        "fraud_scenario": None}  # fmt: skip


def variant(**changes) -> bytes:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


CASES = [  # (topic, message, expected problem: None or a fragment of it)
    ("tx", variant(), None),
    ("tx", variant(amount=7, timestamp="2026-01-01T11:00:00+01:00"), None),
    ("tx", variant(is_fraud=..., fraud_scenario=...), None),  # a transaction carries no label
    ("tx", variant(extra_field="x", other=1), "transaction.v2: unknown fields: extra_field, other"),
    ("tx", b"{not json", "transaction.v2: not valid JSON"),
    ("tx", b"", "not valid JSON"),
    ("tx", b'{"user_id": "\xff\xfe"}', "not valid UTF-8"),
    ("tx", b"[1, 2]", "expected a JSON object"),
    ("tx", variant(user_id=...), "user_id: missing"),
    ("tx", variant(user_id=None), "user_id: missing"),
    ("tx", variant(user_id=7), "user_id: expected string, got 7"),
    ("tx", variant(user_id="u\x001"), "user_id: contains a NUL character"),
    ("tx", variant(amount="12.5"), 'amount: expected a finite number, got "12.5"'),
    ("tx", b'{"amount": 1e400}', "amount: expected a finite number"),
    (
        "tx",
        variant(timestamp="yesterday"),
        'timestamp: expected an ISO-8601 time with a zone, got "yesterday"',
    ),
    ("tx", variant(timestamp="2026-01-01T10:00:00"), "timestamp: expected an ISO-8601 time with a zone"),
    ("tx", variant(is_fraud="no"), "is_fraud: expected bool"),
    ("users", variant(), "user.v1: age: missing"),
    ("users", json.dumps({"age": 1.5}).encode(), "age: expected an integer, got 1.5"),
]


def test_each_malformed_message_gets_a_reason_and_valid_ones_none(spark):
    raw = spark.createDataFrame(
        [(topic, 0, offset, None, None, value, []) for offset, (topic, value, _) in enumerate(CASES)],
        "topic string, partition int, offset long, timestamp timestamp, key binary, value binary, "
        "headers array<struct<key: string, value: binary>>",
    )
    sources = [
        (raw.where(raw.topic == topic), schema) for topic, schema in (("tx", TRANSACTION), ("users", USER))
    ]
    parsed = parse_inputs(sources).orderBy("offset").collect()
    for row, (topic, value, expected) in zip(parsed, CASES, strict=True):
        if expected is None:
            assert row[PROBLEM] is None, (value, row[PROBLEM])
            assert row["user_id"] == "u1" and row["amount"] > 0 and row["value"] is None
        else:
            assert expected in row[PROBLEM], (value, row[PROBLEM])
            assert row["user_id"] is None and bytes(row["value"]) == value, topic
