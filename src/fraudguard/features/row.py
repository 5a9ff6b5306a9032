"""Features of one transaction joined with its user and merchant: Spark column expressions, used as
they are by training (batch) and by the streaming job."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraudguard.geo import EARTH_RADIUS_KM

SECONDS_PER_DAY = 86_400.0
MIN_GAP_H = 1 / 60  # implied speed: gaps under a minute count as a minute
TRAVEL_FEATURES = ("km_from_previous_store", "implied_speed_kmh")


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """The same great-circle distance as `fraudguard.geo.haversine_km`, as a Spark expression."""
    lat1, lon1, lat2, lon2 = (F.radians(c) for c in (lat1, lon1, lat2, lon2))
    a = F.sin((lat2 - lat1) / 2) ** 2 + F.cos(lat1) * F.cos(lat2) * F.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * F.asin(F.sqrt(F.least(F.greatest(a, F.lit(0.0)), F.lit(1.0))))


def row_feature_columns() -> dict[str, Column]:
    """Expressions over a transaction joined with `user_*` and `merchant_*` columns."""
    ts = F.col("timestamp")
    in_store = F.col("channel") == "in_store"
    return {
        "log_amount": F.log1p("amount"),
        "hour_of_day": F.hour(ts).cast("double"),
        "is_night": (F.hour(ts) < 6).cast("double"),
        "is_weekend": F.dayofweek(ts).isin(1, 7).cast("double"),
        "is_online": (~in_store).cast("double"),
        "distance_home_km": F.when(
            in_store,
            haversine_km(F.col("user_lat"), F.col("user_lon"), F.col("merchant_lat"), F.col("merchant_lon")),
        ).otherwise(0.0),
        "account_age_days": _days_between(F.col("user_signup_date"), ts),
        "merchant_age_days": _days_between(F.col("merchant_created_at"), ts),
        "user_age": F.col("user_age").cast("double"),
    }


def travel_feature_columns() -> dict[str, Column]:
    """Distance from the user's previous in-store payment and the speed it implies, over a transaction
    joined with its merchant and `previous_store_lat/lon` (the merchant of `PREVIOUS_STORE`)."""
    in_store = F.col("channel") == "in_store"
    km = F.when(
        in_store & F.col("previous_store_lat").isNotNull(),
        haversine_km(F.col("previous_store_lat"), F.col("previous_store_lon"),
                     F.col("merchant_lat"), F.col("merchant_lon")),
    ).otherwise(0.0)  # fmt: skip
    hours = F.greatest(F.col("hours_since_previous_store"), F.lit(MIN_GAP_H))
    return {"km_from_previous_store": km, "implied_speed_kmh": F.when(km > 0, km / hours).otherwise(0.0)}


def _days_between(earlier: Column, later: Column) -> Column:
    return (later.cast("double") - earlier.cast("double")) / SECONDS_PER_DAY
