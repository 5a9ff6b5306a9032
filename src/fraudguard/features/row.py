"""Features of one transaction joined with its user and merchant, defined once with numpy over a pandas
frame: training applies them in Spark (`features.batch.with_row_features`, through Arrow batches), the
streaming job through the same `features.batch` functions. A value that cannot be computed (a user or
merchant record not known yet) is NaN, which Spark stores as null."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudguard.features.user_history import STORE_HOURS, STORE_PREFIXES
from fraudguard.geo import haversine_km

SECONDS_PER_DAY = 86_400.0
MIN_GAP_H = 1 / 60  # implied speed: gaps under a minute count as a minute
ROW_FEATURES = (
    "log_amount",
    "hour_of_day",
    "is_night",
    "is_weekend",
    "is_online",
    "distance_home_km",
    "account_age_days",
    "merchant_age_days",
    "user_age",
)
ROW_INPUTS = ("timestamp", "amount", "channel", "user_lat", "user_lon", "merchant_lat", "merchant_lon",
              "user_signup_date", "merchant_created_at", "user_age")  # fmt: skip
TRAVEL_FEATURES = ("km_from_previous_store", "implied_speed_kmh", "fastest_recent_store_speed_kmh")
TRAVEL_INPUTS = ("channel", "merchant_lat", "merchant_lon", *STORE_HOURS,
                 *(f"{prefix}_{axis}" for prefix in STORE_PREFIXES for axis in ("lat", "lon")))  # fmt: skip


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """Timestamps (naive ones are UTC, as in the Spark session) as float seconds, NaN for missing:
    microseconds / 1e6, the rounding of Spark's `cast("double")`."""
    stamps = pd.Series(pd.to_datetime(values, utc=True)).dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    seconds = stamps.astype(np.int64) / 1e6
    seconds[np.isnat(stamps)] = np.nan
    return seconds


def row_features(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """`ROW_FEATURES` of rows holding `ROW_INPUTS` (times in UTC)."""
    ts = epoch_seconds(rows["timestamp"])
    hour = np.floor(ts / 3600) % 24
    weekday = (np.floor(ts / SECONDS_PER_DAY) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    in_store = _in_store(rows)
    home_km = haversine_km(
        *(_numbers(rows, c) for c in ("user_lat", "user_lon", "merchant_lat", "merchant_lon"))
    )
    return {
        "log_amount": np.log1p(_numbers(rows, "amount")),
        "hour_of_day": hour,
        "is_night": (hour < 6).astype(float),
        "is_weekend": (weekday >= 5).astype(float),
        "is_online": (~in_store).astype(float),
        "distance_home_km": np.where(in_store, home_km, 0.0),
        "account_age_days": (ts - epoch_seconds(rows["user_signup_date"])) / SECONDS_PER_DAY,
        "merchant_age_days": (ts - epoch_seconds(rows["merchant_created_at"])) / SECONDS_PER_DAY,
        "user_age": _numbers(rows, "user_age"),
    }


def travel_features(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Distance from the user's previous in-store payment, the speed it implies, and the fastest speed
    implied from any of the last `RECENT_STORES` in-store payments, over rows holding
    `TRAVEL_INPUTS` (`<prefix>_lat/lon`: where the merchants of `user_history.STORE_IDS` were)."""
    in_store = _in_store(rows)
    here = _numbers(rows, "merchant_lat"), _numbers(rows, "merchant_lon")
    distances, speeds = [], []
    for prefix, hours_name in zip(STORE_PREFIXES, STORE_HOURS, strict=True):
        lat, lon = _numbers(rows, f"{prefix}_lat"), _numbers(rows, f"{prefix}_lon")
        km = np.where(in_store & ~np.isnan(lat), haversine_km(lat, lon, *here), 0.0)
        hours = np.maximum(_numbers(rows, hours_name), MIN_GAP_H)
        with np.errstate(invalid="ignore"):
            speeds.append(np.where(km > 0, km / hours, 0.0))
        distances.append(km)
    return {
        "km_from_previous_store": distances[0],
        "implied_speed_kmh": speeds[0],
        "fastest_recent_store_speed_kmh": np.max(speeds, axis=0),
    }


def _in_store(rows: pd.DataFrame) -> np.ndarray:
    return (rows["channel"] == "in_store").to_numpy(dtype=bool, na_value=False)


def _numbers(rows: pd.DataFrame, column: str) -> np.ndarray:
    return rows[column].to_numpy(dtype=float, na_value=np.nan)
