"""Per-user behavioural features, defined once and computed incrementally.

`update(state, rows)` takes a user's state and their next transactions (in event-time order) and
returns each transaction's features plus the new state. Training calls it once per user with an
empty state over the whole history; the streaming job calls it per micro-batch with the state it
keeps for that user in Spark's state store (`stream.user_state`). The same code on the same
transactions gives the same values, whatever the split into batches (tested), which is the parity
the platform relies on.

Only the user's earlier transactions and the current one are used, never later ones and never labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

WINDOWS = {"10m": 600, "1h": 3_600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
"""Activity windows (seconds); each includes the current transaction, as the handbook does."""
MAX_DEVICES = 32  # devices remembered per user: the most recently used
DEVICE_AGE_CAP_MIN = 30 * 24 * 60.0
NO_PREVIOUS_S = 30 * 86_400.0  # "time since the previous transaction" when there is none
RECENT_STORES = 3
"""In-store payments the travel features look back over: a cloned card used in a few shops of a far
city in a row still shows, at each of them, the jump from the holder's last shop at home."""
STORE_PREFIXES = ("previous_store", *(f"store_{k}_back" for k in range(2, RECENT_STORES + 1)))
STORE_IDS = tuple(f"{prefix}_merchant_id" for prefix in STORE_PREFIXES)
"""Where the user paid in store, the latest first (not model inputs: `row.travel_features` turns them
into distances and implied speeds once merchants are joined, in batch and in the stream alike)."""
STORE_HOURS = tuple(f"hours_since_{prefix}" for prefix in STORE_PREFIXES)
"""Hours since each of those payments; the first is a model input (`FEATURES`), the others only feed
the travel features."""

FEATURES = (
    *(f"tx_count_{w}" for w in WINDOWS),
    *(f"amount_sum_{w}" for w in WINDOWS),
    *(f"amount_avg_{w}" for w in WINDOWS),
    "amount_vs_user_avg",
    "amount_vs_user_median",
    "device_new",
    "device_age_min",
    "seconds_since_previous",
    STORE_HOURS[0],
)


@dataclass
class UserState:
    """What a user's future features need from their past (bounded in size)."""

    history_ts: np.ndarray = field(default_factory=lambda: np.empty(0))  # the longest window, seconds
    history_amount: np.ndarray = field(default_factory=lambda: np.empty(0))
    count: int = 0  # all-time
    amount_total: float = 0.0
    last_ts: float | None = None
    devices: dict[str, tuple[float, float]] = field(default_factory=dict)  # device -> (first, last seen)
    # The last `RECENT_STORES` in-store payments, oldest first: when and where.
    store_ts: np.ndarray = field(default_factory=lambda: np.empty(0))
    store_merchant_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))


def feature_names(windows: dict[str, int] = WINDOWS) -> list[str]:
    return [
        *(f"{kind}_{w}" for kind in ("tx_count", "amount_sum", "amount_avg") for w in windows),
        *FEATURES[3 * len(WINDOWS) :],
    ]


def value_names(windows: dict[str, int] = WINDOWS) -> list[str]:
    """The numbers `advance` computes: the features, then the hours since the earlier stores."""
    return [*feature_names(windows), *STORE_HOURS[1:]]


def update(
    state: UserState, rows: pd.DataFrame, windows: dict[str, int] = WINDOWS
) -> tuple[pd.DataFrame, UserState]:
    """Features of `rows` (one user's next transactions, sorted by `ts`) and the new state. `rows` has
    `ts` (epoch seconds), `amount`, `device_ip`, `in_store` and `merchant_id`; the features come with
    the `STORE_IDS` and the rest of `STORE_HOURS`.
    `windows` names the activity windows (the handbook's features use 1, 7 and 30 days); a state is
    only valid with the windows it was built with."""
    values, store_ids, new_state = advance(
        state,
        rows["ts"].to_numpy(dtype=float),
        rows["amount"].to_numpy(dtype=float),
        rows["device_ip"].to_numpy(dtype=object),
        rows["in_store"].to_numpy(dtype=bool),
        rows["merchant_id"].to_numpy(dtype=object),
        windows,
    )
    features = pd.DataFrame(values, index=rows.index)[value_names(windows)]
    for name, ids in zip(STORE_IDS, store_ids, strict=True):
        features[name] = pd.Series(ids, index=rows.index, dtype="str")
    return features, new_state


def advance(
    state: UserState,
    ts: np.ndarray,
    amount: np.ndarray,
    device_ip: np.ndarray,
    in_store: np.ndarray,
    merchant_id: np.ndarray,
    windows: dict[str, int] = WINDOWS,
) -> tuple[dict[str, np.ndarray], list[np.ndarray], UserState]:
    """`update` on arrays: the `value_names` columns, the `STORE_IDS` columns, and the new state. The
    stream calls it for thousands of users per micro-batch, where building a pandas frame per user
    would cost more than the features themselves."""
    n = len(ts)
    out: dict[str, np.ndarray] = {}

    # Activity windows over the remembered history followed by these rows.
    all_ts = np.concatenate([state.history_ts, ts])
    cumulative = np.concatenate([[0.0], np.cumsum(np.concatenate([state.history_amount, amount]))])
    current = np.arange(len(state.history_ts), len(all_ts))
    for name, seconds in windows.items():
        first = np.searchsorted(all_ts, ts - seconds, side="right")
        count = current + 1 - first
        total = cumulative[current + 1] - cumulative[first]
        out[f"tx_count_{name}"] = count.astype(float)
        out[f"amount_sum_{name}"] = total
        out[f"amount_avg_{name}"] = total / count

    # The amount against the user's average of all earlier transactions.
    earlier_count = state.count + np.arange(n)
    earlier_total = state.amount_total + np.concatenate([[0.0], np.cumsum(amount)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = amount / (earlier_total / earlier_count)
    out["amount_vs_user_avg"] = np.where(earlier_count > 0, ratio, 1.0)

    # ... and against the median of the earlier ones in the longest window: a few large frauds inflate
    # the average, not the median.
    all_amount = np.concatenate([state.history_amount, amount])
    start = np.searchsorted(all_ts, ts - max(windows.values()), side="right")
    median_ratio = np.ones(n)
    for i, (low, high) in enumerate(zip(start, current, strict=True)):
        if high > low:
            median_ratio[i] = amount[i] / max(float(np.median(all_amount[low:high])), 0.01)
    out["amount_vs_user_median"] = median_ratio

    # Devices: new to this user, or how long known.
    devices = dict(state.devices)
    device_new, device_age = np.zeros(n), np.zeros(n)
    for i, (device, now) in enumerate(zip(device_ip, ts, strict=True)):
        first_seen = devices[device][0] if device in devices else now
        device_new[i] = device not in devices
        device_age[i] = min((now - first_seen) / 60, DEVICE_AGE_CAP_MIN)
        devices[device] = (first_seen, now)
    out["device_new"], out["device_age_min"] = device_new, device_age

    previous_ts = np.concatenate([[np.nan if state.last_ts is None else state.last_ts], ts[:-1]])
    out["seconds_since_previous"] = np.nan_to_num(ts - previous_ts, nan=NO_PREVIOUS_S)

    # The last in-store payments before each row (an online merchant's location is only its office):
    # when and where. These arrays hold the state's stores, then one entry per row; `stores` are the
    # in-store positions in them, and row i has `earlier[i]` of them before it.
    remembered = len(state.store_ts)
    merchants = np.concatenate([state.store_merchant_ids, merchant_id])
    store_ts = np.concatenate([state.store_ts, ts])
    stores = np.flatnonzero(np.concatenate([np.ones(remembered, dtype=bool), in_store]))
    earlier = np.searchsorted(stores, remembered + np.arange(n))
    store_ids: list[np.ndarray] = []
    for back, hours_name in enumerate(STORE_HOURS, start=1):
        known = earlier >= back
        position = stores[np.where(known, earlier - back, 0)] if len(stores) else np.zeros(n, dtype=int)
        out[hours_name] = np.where(known, (ts - store_ts[position]) / 3600, NO_PREVIOUS_S / 3600)
        ids = merchants[position]  # a copy: fancy indexing
        ids[~known] = None
        store_ids.append(ids)
    kept_stores = stores[-RECENT_STORES:]

    keep = all_ts > all_ts[-1] - max(windows.values()) if len(all_ts) else np.zeros(0, dtype=bool)
    new_state = UserState(
        history_ts=all_ts[keep],
        history_amount=all_amount[keep],
        count=state.count + n,
        amount_total=state.amount_total + float(amount.sum()),
        last_ts=float(ts[-1]) if n else state.last_ts,
        devices=dict(sorted(devices.items(), key=lambda item: item[1][1])[-MAX_DEVICES:]),
        store_ts=store_ts[kept_stores],
        store_merchant_ids=merchants[kept_stores],
    )
    return out, store_ids, new_state
