"""Alert reasons: unusual values in words, ordered by how much the model relies on them."""

from __future__ import annotations

import numpy as np

from fraudguard.stream.reasons import anomaly_reasons, top_reasons, unusual_inputs


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


def test_a_merchant_whose_recent_payments_are_already_charged_back_is_named():
    row = {"score": 0.8, "user_known": True, "merchant_known": True, "merchant_fraud_rate_7d": 0.0,
           "merchant_fraud_rate_early": 0.125}  # fmt: skip
    importances = {"merchant_fraud_rate_7d": 0.3, "merchant_fraud_rate_early": 0.2}
    assert top_reasons(row, importances) == [
        "12% of this merchant's recent payments (two days old or more) were already reported as fraud"
    ]
    assert "reported as fraud" not in top_reasons({**row, "merchant_fraud_rate_early": 0.01}, importances)[0]


def test_a_missing_record_comes_first_and_a_plain_alert_still_has_a_reason():
    row = {"score": 0.71, "user_known": False, "merchant_known": True, "amount": 20.0, "is_night": 0.0}
    assert top_reasons(row, {"amount": 0.2}) == ["the user's record had not arrived yet (scored without it)"]
    plain = {"score": 0.71, "user_known": True, "merchant_known": True, "amount": 20.0}
    assert top_reasons(plain, {"amount": 0.2}) == [
        "score 0.71: the combination of features, no single one stands out"
    ]


def test_a_jump_from_an_earlier_store_is_named_only_when_the_previous_one_does_not_say_it():
    row = {"score": 0.9, "user_known": True, "merchant_known": True, "km_from_previous_store": 12.0,
           "hours_since_previous_store": 0.5, "implied_speed_kmh": 24.0,
           "fastest_recent_store_speed_kmh": 2_400.0}  # fmt: skip
    importances = {"fastest_recent_store_speed_kmh": 0.4, "implied_speed_kmh": 0.3}
    assert top_reasons(row, importances) == ["2400 km/h from one of the user's last 3 in-store payments"]
    far = {**row, "km_from_previous_store": 1_200.0, "implied_speed_kmh": 2_400.0}
    assert top_reasons(far, importances) == [
        "1200 km from the previous in-store payment 0.5 h earlier (2400 km/h)"
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


def test_an_anomaly_alert_names_the_inputs_rarest_in_the_population_in_the_rules_words():
    """The population: tx_count_10m mostly 0-2; amount_vs_user_median around 1; hour_of_day uniform."""
    rng = np.random.default_rng(1)
    grid = np.linspace(0, 1, 1001)
    population = {
        "tx_count_10m": tuple(np.quantile(rng.poisson(0.3, 50_000), grid)),
        "amount_vs_user_median": tuple(np.quantile(rng.lognormal(0, 0.3, 50_000), grid)),
        "hour_of_day": tuple(np.quantile(rng.integers(0, 24, 50_000), grid)),
        "seconds_since_previous": tuple(np.quantile(rng.exponential(20_000, 50_000), grid)),
    }
    row = {"tx_count_10m": 9.0, "amount_vs_user_median": 2.5, "hour_of_day": 3.0, "amount": 80.0,
           "currency": "EUR", "seconds_since_previous": 9e3, "device_new": 1.0, "tx_count_30d": 12.0,
           "device_ip": "10.0.0.9", "user_known": True, "merchant_known": True,
           "score": 0.74}  # fmt: skip
    reasons = anomaly_reasons(row, population)
    assert reasons[0] == (
        "9 payments by this user in the last 10 minutes; higher than any payment the model learned from "
        f"(highest {population['tx_count_10m'][-1]:g})"
    )
    assert (
        reasons[1].startswith("amount_vs_user_median = 2.5 (usually 1.0")
        and "; higher than 99." in reasons[1]
    )
    # nothing else is rare: the third is a rule about this user
    assert reasons[2] == "paid from a device/IP this user never used before (10.0.0.9)"
    assert len(reasons) == 3

    ordinary = {**row, "tx_count_10m": 1.0, "amount_vs_user_median": 1.1, "device_new": 0.0}
    assert anomaly_reasons(ordinary, population) == [
        "score 0.74: the combination of inputs, none of them rarer than 99% of payments on its own"
    ]
    low = anomaly_reasons({**ordinary, "amount_vs_user_median": 0.4}, population, rules=())
    assert len(low) == 1 and low[0].startswith("amount_vs_user_median = 0.4 (usually 1.0")
    assert low[0].endswith(" of payments") and "; lower than 99." in low[0]


def test_an_anomaly_alert_says_one_fact_once_in_the_rules_words_first():
    """A user's first payment: its amount, its averages over every window and its ratio to the user's
    usual amount are the same number; the reviewer reads it once, worded by the rule."""
    grid = np.linspace(0, 1, 1001)
    rng = np.random.default_rng(2)
    amounts = tuple(np.quantile(rng.lognormal(3.5, 0.8, 50_000), grid))
    ratios = tuple(np.quantile(rng.lognormal(0, 0.3, 50_000), grid))
    population = {"amount": amounts, "amount_avg_10m": amounts, "amount_avg_1h": amounts,
                  "amount_vs_user_avg": ratios, "amount_vs_user_median": ratios}  # fmt: skip
    row = {"amount_avg_10m": 5_000.0, "amount_avg_1h": 5_000.0,
           "amount_vs_user_avg": 40.0, "amount_vs_user_median": 40.0, "amount": 5_000.0,
           "currency": "EUR", "score": 0.7}  # fmt: skip
    reasons = anomaly_reasons(row, population)
    assert len(reasons) == 2
    assert reasons[0].startswith("large amount: 5000.00 EUR; higher than any payment")
    assert reasons[1].startswith("amount 5000.00 EUR is 40.0x the user's usual (median) amount; higher than")
