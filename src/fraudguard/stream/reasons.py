"""Why an alert fired, in words a reviewer understands.

Each rule looks at one feature and says something when its value is unusual; the rules that fire are
ordered by how much the model relies on their feature (its feature importances), and the first few
become the alert's reasons. They explain the alert, they do not recompute the score.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fraudguard.features.batch import EARLY_RATE
from fraudguard.features.user_history import RECENT_STORES

Row = Mapping[str, Any]
MAX_REASONS = 3
UNKNOWN_MARKERS = ("user_known", "merchant_known")
IMPOSSIBLE_SPEED_KMH = 500  # faster than an airliner door to door
UNUSUAL_SD = 3.0
RARE_SHARE = 0.99  # an anomaly alert names an input rarer than this share of the training population


@dataclass(frozen=True)
class Rule:
    feature: str
    fires: Callable[[Row], bool]
    says: Callable[[Row], str]


def _value(row: Row, name: str) -> float:
    value = row.get(name)
    return float("nan") if value is None else float(value)


RULES = (
    Rule(
        "amount_vs_user_median",
        lambda r: _value(r, "amount_vs_user_median") >= 3,
        lambda r: (
            f"amount {r['amount']:.2f} {r['currency']} is {r['amount_vs_user_median']:.1f}x "
            "the user's usual (median) amount"
        ),
    ),
    Rule(
        "tx_count_10m",
        lambda r: _value(r, "tx_count_10m") >= 4,
        lambda r: f"{r['tx_count_10m']:.0f} payments by this user in the last 10 minutes",
    ),
    Rule(
        "tx_count_1h",
        lambda r: _value(r, "tx_count_1h") >= 8,
        lambda r: f"{r['tx_count_1h']:.0f} payments by this user in the last hour",
    ),
    Rule(
        "device_new",
        lambda r: _value(r, "device_new") == 1 and _value(r, "tx_count_30d") > 1,
        lambda r: f"paid from a device/IP this user never used before ({r['device_ip']})",
    ),
    Rule(
        "implied_speed_kmh",
        lambda r: _value(r, "implied_speed_kmh") >= IMPOSSIBLE_SPEED_KMH,
        lambda r: (
            f"{r['km_from_previous_store']:.0f} km from the previous in-store payment "
            f"{r['hours_since_previous_store']:.1f} h earlier ({r['implied_speed_kmh']:.0f} km/h)"
        ),
    ),
    Rule(
        "fastest_recent_store_speed_kmh",
        lambda r: (
            _value(r, "fastest_recent_store_speed_kmh") >= IMPOSSIBLE_SPEED_KMH
            and _value(r, "implied_speed_kmh") < IMPOSSIBLE_SPEED_KMH
        ),
        lambda r: (
            f"{r['fastest_recent_store_speed_kmh']:.0f} km/h from one of the user's last "
            f"{RECENT_STORES} in-store payments"
        ),
    ),
    Rule(
        "distance_home_km",
        lambda r: _value(r, "distance_home_km") >= 300,
        lambda r: f"in-store payment {r['distance_home_km']:.0f} km from the user's home",
    ),
    Rule(
        "merchant_fraud_rate_7d",
        lambda r: _value(r, "merchant_fraud_rate_7d") >= 0.05,
        lambda r: (
            f"{r['merchant_fraud_rate_7d']:.0%} of this merchant's labelled payments were fraud "
            "(most recent labelled week)"
        ),
    ),
    Rule(
        EARLY_RATE,
        lambda r: _value(r, EARLY_RATE) >= 0.05,
        lambda r: (
            f"{r[EARLY_RATE]:.0%} of this merchant's recent payments (two days old or more) were already "
            "reported as fraud"
        ),
    ),
    Rule(
        "merchant_fraud_rate_1d",
        lambda r: _value(r, "merchant_fraud_rate_1d") >= 0.1,
        lambda r: (
            f"{r['merchant_fraud_rate_1d']:.0%} of this merchant's payments on its latest "
            "labelled day were fraud"
        ),
    ),
    Rule(
        "category_fraud_rate_28d",
        lambda r: _value(r, "category_fraud_rate_28d") >= 0.03,
        lambda r: (
            f"category {r['merchant_category']} has a high fraud rate ({r['category_fraud_rate_28d']:.1%})"
        ),
    ),
    Rule(
        "account_age_days",
        lambda r: _value(r, "account_age_days") < 3,
        lambda r: f"account opened {r['account_age_days']:.1f} days ago",
    ),
    Rule(
        "merchant_age_days",
        lambda r: _value(r, "merchant_age_days") < 7,
        lambda r: f"merchant joined the network {r['merchant_age_days']:.1f} days ago",
    ),
    Rule(
        "seconds_since_previous",
        lambda r: _value(r, "seconds_since_previous") < 60,
        lambda r: f"{r['seconds_since_previous']:.0f} s after the user's previous payment",
    ),
    Rule(
        "amount",
        lambda r: _value(r, "amount") >= 1_000,
        lambda r: f"large amount: {r['amount']:.2f} {r['currency']}",
    ),
    Rule(
        "is_night",
        lambda r: _value(r, "is_night") == 1,
        lambda r: f"at night ({r['hour_of_day']:.0f}:00 UTC)",
    ),
    Rule(
        "anomaly_score",
        lambda r: _value(r, "anomaly_score") >= 0.6,
        lambda r: (
            f"unlike the other payments as a whole: anomaly score {r['anomaly_score']:.2f} "
            "(isolation forest; about 0.5 is ordinary)"
        ),
    ),
    Rule(
        "user_known",
        lambda r: r.get("user_known") is False,
        lambda r: "the user's record had not arrived yet (scored without it)",
    ),
    Rule(
        "merchant_known",
        lambda r: r.get("merchant_known") is False,
        lambda r: "the merchant's record had not arrived yet (scored without it)",
    ),
)


def top_reasons(row: Row, importances: Mapping[str, float], limit: int = MAX_REASONS) -> list[str]:
    """The reasons that apply to `row` (features by name): missing records first, then the features
    the model relies on most (rules on features the model does not use are left out; a model without
    importances, e.g. logistic regression, keeps the rules' order)."""
    fired = [rule for rule in RULES if rule.fires(row)]
    markers = [rule for rule in fired if rule.feature in UNKNOWN_MARKERS]
    features = [rule for rule in fired if rule.feature not in UNKNOWN_MARKERS]
    if importances:
        features = [rule for rule in features if importances.get(rule.feature, 0.0) > 0]
        features.sort(key=lambda rule: -importances[rule.feature])
    reasons = [rule.says(row) for rule in (markers + features)[:limit]]
    return reasons or [f"score {row['score']:.2f}: the combination of features, no single one stands out"]


def anomaly_reasons(
    row: Row,
    population: Mapping[str, Sequence[float]],
    rules: Sequence[Rule] = RULES,
    limit: int = MAX_REASONS,
) -> list[str]:
    """An isolation forest's reasons: the inputs in the far tails of the population it learned from
    (`population`: name -> ascending quantiles), the rarest first, in the rule's words where one
    speaks of that feature for this user; then the rules that fire for this user (an imported
    dataset has none). The forest has no per-input attribution: the tails are what it isolates first."""
    by_feature = {rule.feature: rule for rule in rules}
    rare = []
    for name, quantiles in population.items():
        value = row.get(name)
        if value is None or math.isnan(value := float(value)) or math.isnan(quantiles[0]):
            continue
        below = bisect.bisect_left(quantiles, value) / len(quantiles)
        above = 1 - bisect.bisect_right(quantiles, value) / len(quantiles)
        if max(below, above) >= RARE_SHARE:
            worded = name in by_feature and by_feature[name].fires(row)
            rare.append((-max(below, above), not worded, name, value, below, above, quantiles))
    reasons = [rule.says(row) for rule in rules if rule.feature in UNKNOWN_MARKERS and rule.fires(row)]
    told: list[tuple[float, bool]] = []  # one fact once: a first payment's averages all equal its amount
    for _, generic, name, value, below, above, quantiles in sorted(rare):
        if len(reasons) >= limit:
            break
        if any(math.isclose(value, v) and up == (below >= above) for v, up in told):
            continue
        told.append((value, below >= above))
        rarity = _rarity(below, above, quantiles)
        if generic:
            reasons.append(f"{name} = {value:,.4g} (usually {quantiles[len(quantiles) // 2]:,.4g}); {rarity}")
        else:
            reasons.append(f"{by_feature[name].says(row)}; {rarity}")
    named = {name for _, _, name, *_ in rare}
    for rule in rules:
        if len(reasons) < limit and rule.feature not in (*named, *UNKNOWN_MARKERS) and rule.fires(row):
            reasons.append(rule.says(row))
    return reasons or [
        f"score {row['score']:.2f}: the combination of inputs, none of them rarer than "
        f"{RARE_SHARE:.0%} of payments on its own"
    ]


def _rarity(below: float, above: float, quantiles: Sequence[float]) -> str:
    if below == 1:
        return f"higher than any payment the model learned from (highest {quantiles[-1]:,.4g})"
    if above == 1:
        return f"lower than any payment the model learned from (lowest {quantiles[0]:,.4g})"
    return f"higher than {below:.1%} of payments" if below >= above else f"lower than {above:.1%} of payments"


def unusual_inputs(
    row: Row,
    usual: Mapping[str, tuple[float, float]],
    importances: Mapping[str, float],
    limit: int = MAX_REASONS,
) -> list[str]:
    """An imported dataset's reasons (its columns have no rules): the inputs at least `UNUSUAL_SD`
    standard deviations from their mean over the dataset (`usual`: name -> mean, standard deviation),
    those the model relies on most first, else the furthest first."""
    found = []
    for name, (mean, deviation) in usual.items():
        value = row.get(name)
        if value is None or not deviation or math.isnan(value := float(value)):
            continue
        distance = (value - mean) / deviation
        if abs(distance) >= UNUSUAL_SD:
            found.append((-importances.get(name, 0.0), -abs(distance), name, value, distance, mean))
    reasons = [
        f"{name} = {value:,.4g}, {abs(distance):.1f} standard deviations "
        f"{'above' if distance > 0 else 'below'} its usual value ({mean:,.4g})"
        for *_, name, value, distance, mean in sorted(found)[:limit]
    ]
    return reasons or [
        f"score {row['score']:.2f}: the combination of inputs, none more than {UNUSUAL_SD:g} standard "
        "deviations from its usual value"
    ]
