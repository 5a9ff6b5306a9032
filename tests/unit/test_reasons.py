"""Alert reasons: unusual values in words, ordered by how much the model relies on them."""

from __future__ import annotations

from fraudguard.stream.reasons import top_reasons


def test_reasons_name_unusual_values_ordered_by_the_models_reliance():
    row = {"amount": 950.0, "currency": "EUR", "amount_vs_user_median": 8.2, "tx_count_10m": 6.0,
           "device_new": 1.0, "tx_count_30d": 40.0, "device_ip": "10.0.0.9", "score": 0.93,
           "is_night": 0.0, "user_known": True, "merchant_known": True}  # fmt: skip
    importances = {"tx_count_10m": 0.5, "amount_vs_user_median": 0.3, "device_new": 0.1}
    reasons = top_reasons(row, importances)
    assert reasons[0] == "6 payments by this user in the last 10 minutes"
    assert reasons[1].startswith("amount 950.00 EUR is 8.2x")
    assert "never used before (10.0.0.9)" in reasons[2]
    assert top_reasons(row, {"tx_count_10m": 0.5}) == ["6 payments by this user in the last 10 minutes"]


def test_a_missing_record_comes_first_and_a_plain_alert_still_has_a_reason():
    row = {"score": 0.71, "user_known": False, "merchant_known": True, "amount": 20.0, "is_night": 0.0}
    assert top_reasons(row, {"amount": 0.2}) == ["the user's record had not arrived yet (scored without it)"]
    plain = {"score": 0.71, "user_known": True, "merchant_known": True, "amount": 20.0}
    assert top_reasons(plain, {"amount": 0.2}) == [
        "score 0.71: the combination of features, no single one stands out"
    ]
