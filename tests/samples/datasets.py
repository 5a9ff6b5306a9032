"""Files in the public datasets' exact formats, with made-up rows (the real files are downloads of
hundreds of MB): for the tests, the import benchmark and trying the import before fetching the data.

The rows carry the signal the real data is known for, so a model can learn from them: PaySim's frauds
are transfers and cash-outs that empty the paying account; the credit-card frauds lie apart from the
legitimate rows along a few PCA components.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from fraudguard.data.profiles import CREDITCARD

PAYSIM_TYPES = np.array(["PAYMENT", "TRANSFER", "CASH_OUT", "DEBIT", "CASH_IN"])
PAYSIM_TYPE_SHARES = np.array([0.34, 0.08, 0.35, 0.01, 0.22])
FRAUD_SHIFT = {"V14": -6.0, "V12": -4.0, "V10": -4.0, "V17": -5.0, "V4": 3.0}


def paysim_rows(rows: int, fraud_rate: float = 0.0013, seed: int = 0, hours: int = 743) -> pa.Table:
    """PaySim's 11 columns in its order and types; `step` runs over `hours` (the real file: 743)."""
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < fraud_rate
    kind = rng.choice(len(PAYSIM_TYPES), size=rows, p=PAYSIM_TYPE_SHARES)
    kind[fraud] = rng.choice([1, 2], size=int(fraud.sum()))  # frauds: TRANSFER or CASH_OUT
    old_origin = np.round(rng.lognormal(10, 1.5, rows), 2) * (rng.random(rows) > 0.3)
    amount = np.round(rng.lognormal(10.5, 1.2, rows), 2)
    amount[fraud] = np.maximum(old_origin[fraud], 1.0)  # the account is emptied
    new_origin = np.where(kind == 4, old_origin + amount, np.maximum(old_origin - amount, 0.0))
    old_dest = np.round(rng.lognormal(11, 2, rows), 2) * (rng.random(rows) > 0.4)
    new_dest = np.where(fraud & (rng.random(rows) < 0.5), 0.0, old_dest + amount)
    merchant = kind == 0
    dest_prefix = np.where(merchant, "M", "C")
    return pa.table(
        {
            "step": np.sort(rng.integers(1, hours + 1, rows)),
            "type": PAYSIM_TYPES[kind],
            "amount": amount,
            "nameOrig": np.char.add("C", rng.integers(10**8, 10**10, rows).astype(str)),
            "oldbalanceOrg": old_origin,
            "newbalanceOrig": np.round(new_origin, 2),
            "nameDest": np.char.add(dest_prefix, rng.integers(10**8, 10**10, rows).astype(str)),
            "oldbalanceDest": np.where(merchant, 0.0, old_dest),
            "newbalanceDest": np.where(merchant, 0.0, np.round(new_dest, 2)),
            "isFraud": fraud.astype("int64"),
            "isFlaggedFraud": (fraud & (amount > 200_000) & (kind == 1)).astype("int64"),
        }
    )


def creditcard_rows(rows: int, fraud_rate: float = 0.0017, seed: int = 0, seconds: int = 172_792) -> pa.Table:
    """`Time`, `V1`..`V28`, `Amount`, `Class`, as in creditcard.csv (two days of seconds)."""
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < fraud_rate
    columns: dict[str, np.ndarray] = {"Time": np.sort(rng.integers(0, seconds + 1, rows)).astype("float64")}
    for name in CREDITCARD.columns[1:29]:
        values = rng.normal(0.0, 1.0, rows)
        values[fraud] += FRAUD_SHIFT.get(name, 0.0)
        columns[name] = values
    columns["Amount"] = np.round(rng.lognormal(3.0, 1.5, rows), 2)
    columns["Class"] = fraud.astype("int64")
    return pa.table(columns)


def write_csv(table: pa.Table, path: Path, quoted_header: bool) -> Path:
    """Values unquoted; the header quoted as in creditcard.csv, or bare as in PaySim's file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f'"{name}"' if quoted_header else name for name in table.column_names]
    with path.open("wb") as file:
        file.write((",".join(names) + "\n").encode())
        pa_csv.write_csv(table, file, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    return path


def paysim_csv(path: Path, rows: int, **options) -> Path:
    return write_csv(paysim_rows(rows, **options), path, quoted_header=False)


def creditcard_csv(path: Path, rows: int, **options) -> Path:
    return write_csv(creditcard_rows(rows, **options), path, quoted_header=True)
