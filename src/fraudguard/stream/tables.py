"""What the stream remembers between micro-batches besides per-user state: the user and merchant record
versions and the daily label totals (for the label-delayed risk rates), with running counters.

They are small (one row per record version, per merchant-day and category-day), live in the driver as
pandas, and are saved after each micro-batch as a version named by its batch id. A micro-batch reads
the latest version older than itself, so a batch Spark replays after a crash starts from exactly the
tables its first attempt saw, and overwrites what that attempt saved: replays are idempotent.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fraudguard.schemas import MERCHANT, USER, RecordSchema

LABEL_TOTAL_COLUMNS = ("_day", "_count", "_frauds")
KEEP_VERSIONS = 3


def empty_records(schema: RecordSchema) -> pd.DataFrame:
    return schema.arrow().empty_table().to_pandas()


def records_frame(schema: RecordSchema, records: list[dict]) -> pd.DataFrame:
    """Decoded records (see `RecordSchema.decode`) as a typed pandas frame."""
    return pa.Table.from_pylist(records, schema=schema.arrow()).to_pandas()


def empty_totals(key: str) -> pd.DataFrame:
    return pd.DataFrame(
        {key: pd.Series(dtype=object), "_day": pd.Series(dtype="int32"), "_count": pd.Series(dtype=float),
         "_frauds": pd.Series(dtype=float)}
    )  # fmt: skip


@dataclass
class Tables:
    users: pd.DataFrame = field(default_factory=lambda: empty_records(USER))
    merchants: pd.DataFrame = field(default_factory=lambda: empty_records(MERCHANT))
    merchant_labels: pd.DataFrame = field(default_factory=lambda: empty_totals("merchant_id"))
    category_labels: pd.DataFrame = field(default_factory=lambda: empty_totals("merchant_category"))
    counters: dict[str, int] = field(default_factory=dict)

    def with_records(self, users: pd.DataFrame, merchants: pd.DataFrame) -> Tables:
        """Every version kept (the as-of join picks the one in force); a repeated version once."""
        return Tables(
            users=_versions(self.users, users, USER.key),
            merchants=_versions(self.merchants, merchants, MERCHANT.key),
            merchant_labels=self.merchant_labels,
            category_labels=self.category_labels,
            counters=dict(self.counters),
        )

    def with_labels(self, merchant: pd.DataFrame, category: pd.DataFrame, keep_days: int) -> Tables:
        """Totals plus a micro-batch's totals; days older than `keep_days` before the newest dropped."""
        return Tables(
            users=self.users,
            merchants=self.merchants,
            merchant_labels=_add_totals(self.merchant_labels, merchant, "merchant_id", keep_days),
            category_labels=_add_totals(self.category_labels, category, "merchant_category", keep_days),
            counters=dict(self.counters),
        )

    def count(self, **increments: int) -> None:
        for name, value in increments.items():
            self.counters[name] = self.counters.get(name, 0) + int(value)


def _versions(known: pd.DataFrame, new: pd.DataFrame, key: str) -> pd.DataFrame:
    if new.empty:
        return known
    combined = pd.concat([known, new], ignore_index=True) if len(known) else new.reset_index(drop=True)
    return combined.drop_duplicates([key, "updated_at"], keep="last", ignore_index=True)


def _add_totals(known: pd.DataFrame, new: pd.DataFrame, key: str, keep_days: int) -> pd.DataFrame:
    if new.empty:
        return known
    combined = pd.concat([known, new], ignore_index=True) if len(known) else new
    summed = combined.groupby([key, "_day"], dropna=False, as_index=False)[["_count", "_frauds"]].sum()
    return summed[summed["_day"] >= summed["_day"].max() - keep_days].reset_index(drop=True)


class TableStore:
    """Versions of `Tables` in a folder, one per micro-batch id (`v000000000042/`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cached: tuple[int, Tables] | None = None

    def _versions(self) -> list[int]:
        if not self.folder.exists():
            return []
        return sorted(int(p.name[1:]) for p in self.folder.iterdir() if p.name.startswith("v") and p.is_dir())

    def before(self, batch_id: int) -> Tables:
        """The tables as the latest micro-batch before `batch_id` left them (empty at the start)."""
        older = [v for v in self._versions() if v < batch_id]
        if not older:
            return Tables()
        if self._cached is not None and self._cached[0] == older[-1]:
            return self._cached[1]
        tables = self._read(self.folder / f"v{older[-1]:012d}")
        self._cached = (older[-1], tables)
        return tables

    def latest(self) -> Tables:
        """The tables as the newest saved micro-batch left them."""
        return self.before(2**63 - 1)

    def save(self, batch_id: int, tables: Tables) -> None:
        target = self.folder / f"v{batch_id:012d}"
        staging = self.folder / f".staging-{batch_id}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in ("users", "merchants", "merchant_labels", "category_labels"):
            pq.write_table(pa.Table.from_pandas(getattr(tables, name), preserve_index=False),
                           staging / f"{name}.parquet")  # fmt: skip
        (staging / "counters.json").write_text(json.dumps(tables.counters, sort_keys=True))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        self._cached = (batch_id, tables)
        for old in self._versions()[:-KEEP_VERSIONS]:
            shutil.rmtree(self.folder / f"v{old:012d}", ignore_errors=True)

    @staticmethod
    def _read(folder: Path) -> Tables:
        frames = {
            name: pq.read_table(folder / f"{name}.parquet").to_pandas()
            for name in ("users", "merchants", "merchant_labels", "category_labels")
        }
        return Tables(**frames, counters=json.loads((folder / "counters.json").read_text()))
