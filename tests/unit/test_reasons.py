"""Alert reasons: unusual values in words, ordered by how much the model relies on them."""

from __future__ import annotations

from fraudguard.stream.reasons import top_reasons, unusual_inputs


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


def test_an_imported_datasets_reasons_name_its_unusual_inputs_the_model_relies_on_first():
    usual = {"V14": (0.0, 1.0), "V4": (0.0, 2.0), "Amount": (88.0, 250.0), "V1": (0.0, 0.0)}
    row = {"V14": -7.25, "V4": 9.0, "Amount": 120.0, "V1": 5.0, "score": 0.97}
    assert unusual_inputs(row, usual, {}) == [
        "V14 = -7.25, 7.2 standard deviations below its usual value (0)",
        "V4 = 9, 4.5 standard deviations above its usual value (0)",
    ]  # Amount is 0.1 sd away; V1 has no spread to compare with
    assert unusual_inputs(row, usual, {"V4": 0.6, "V14": 0.1})[0].startswith("V4 = 9")
    assert unusual_inputs({**row, "V14": None, "V4": float("nan")}, usual, {}) == [
        "score 0.97: the combination of inputs, none more than 3 standard deviations from its usual value"
    ]


def test_the_isolation_forests_score_is_a_reason_when_the_model_relies_on_it():
    row = {"anomaly_score": 0.71, "amount": 20.0, "currency": "EUR", "score": 0.8}
    assert top_reasons(row, {"anomaly_score": 0.4}) == [
        "unlike the other payments as a whole: anomaly score 0.71 (isolation forest; about 0.5 is ordinary)"
    ]
    assert "anomaly" not in top_reasons({**row, "anomaly_score": 0.45}, {"anomaly_score": 0.4})[0]
