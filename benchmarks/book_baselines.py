"""The handbook's baselines as the book trains them: its 15 features computed in pandas the way the
book's shared functions compute them (`get_customer_spending_behaviour_features`,
`get_count_risk_rolling_window`), and scikit-learn and XGBoost models with the book's settings
(library defaults, `random_state=0`, features standardised on the training week). Nothing here uses
the platform's feature or training code: the comparison is against the book's models themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

WINDOWS_DAYS = (1, 7, 30)
DELAY_DAYS = 7
FEATURES = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(f"CUSTOMER_ID_{kind}_{w}DAY_WINDOW" for w in WINDOWS_DAYS for kind in ("NB_TX", "AVG_AMOUNT")),
    *(f"TERMINAL_ID_{kind}_{w}DAY_WINDOW" for w in WINDOWS_DAYS for kind in ("NB_TX", "RISK")),
]
MODELS: dict[str, Callable[[], ClassifierMixin]] = {  # chapter 3's classifiers_dictionary
    "book logistic regression": lambda: LogisticRegression(random_state=0),
    "book decision tree (depth 2)": lambda: DecisionTreeClassifier(max_depth=2, random_state=0),
    "book random forest": lambda: RandomForestClassifier(random_state=0, n_jobs=-1),
    "book XGBoost": lambda: XGBClassifier(random_state=0, n_jobs=-1),
}


def book_features(dataset: Path) -> pd.DataFrame:
    """Every transaction of a fraudguard dataset with the book's 15 features, `TX_FRAUD` (the
    simulator's truth, as the book uses) and `DAY`."""
    raw = pd.read_parquet(dataset / "transactions", columns=["transaction_id", "user_id", "merchant_id",
                                                             "timestamp", "amount", "is_fraud"])  # fmt: skip
    frame = pd.DataFrame(
        {
            "TRANSACTION_ID": raw["transaction_id"].astype(str),
            "CUSTOMER_ID": raw["user_id"].astype(str),
            "TERMINAL_ID": raw["merchant_id"].astype(str),
            "TX_DATETIME": raw["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None),
            "TX_AMOUNT": raw["amount"].astype(float),
            "TX_FRAUD": raw["is_fraud"].astype(int),
        }
    )
    frame = frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)
    frame["TX_DURING_WEEKEND"] = (frame["TX_DATETIME"].dt.weekday >= 5).astype(int)
    frame["TX_DURING_NIGHT"] = (frame["TX_DATETIME"].dt.hour <= 6).astype(int)
    frame["DAY"] = frame["TX_DATETIME"].dt.date
    for w in WINDOWS_DAYS:
        total, count = _rolling(frame, "CUSTOMER_ID", "TX_AMOUNT", f"{w}d")
        frame[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = count
        frame[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = total / count
    frauds_in_delay, count_in_delay = _rolling(frame, "TERMINAL_ID", "TX_FRAUD", f"{DELAY_DAYS}d")
    for w in WINDOWS_DAYS:
        frauds, count = _rolling(frame, "TERMINAL_ID", "TX_FRAUD", f"{DELAY_DAYS + w}d")
        frauds, count = frauds - frauds_in_delay, count - count_in_delay
        frame[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = count
        with np.errstate(invalid="ignore"):
            frame[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = np.nan_to_num(frauds / count)  # the book's fillna(0)
    return frame


def _rolling(frame: pd.DataFrame, key: str, column: str, window: str) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of `column` per `key` over the time window ending at (and including) each row, as
    the book's `Series.rolling('Nd')` on a TX_DATETIME index; aligned to `frame`'s rows."""
    rolled = frame.groupby(key, sort=False).rolling(window, on="TX_DATETIME")[column].agg(["sum", "count"])
    rolled = rolled.reset_index(level=0, drop=True).sort_index()
    return rolled["sum"].to_numpy(), rolled["count"].to_numpy()


def train_and_score(
    features: pd.DataFrame, train: tuple[date, date], test: tuple[date, date]
) -> dict[str, tuple[pd.DataFrame, float]]:
    """Each book model fitted on the training days, scoring every transaction of the test days:
    {model: (frame of transaction_id and score, seconds to fit and score)}."""
    days = features["DAY"]
    training = features[(days >= train[0]) & (days <= train[1])]
    testing = features[(days >= test[0]) & (days <= test[1])]
    scaler = StandardScaler().fit(training[FEATURES])
    x_train, x_test = scaler.transform(training[FEATURES]), scaler.transform(testing[FEATURES])
    scored = {}
    for name, model in MODELS.items():
        started = time.perf_counter()
        fitted = model().fit(x_train, training["TX_FRAUD"])
        scores = fitted.predict_proba(x_test)[:, 1]
        scored[name] = (
            pd.DataFrame({"transaction_id": testing["TRANSACTION_ID"].to_numpy(), "score": scores}),
            time.perf_counter() - started,
        )
    return scored
