"""Batch mode: a timeline written as Parquet datasets that Spark and pandas read directly.

    <out>/users.parquet              every user record version (latest `updated_at` wins)
    <out>/merchants.parquet          every merchant record version
    <out>/labels.parquet             every label, also those reported after the last day (a simulated
                                     world knows its future; features use a label only once reported)
    <out>/transactions/day=YYYY-MM-DD/part-0.parquet
    <out>/sessions/day=YYYY-MM-DD/part-0.parquet   browsing before the day's online payments, and
    <out>/products.parquet                          the shops' catalogue (a world with a clickstream)
    <out>/manifest.json              world, settings, schema versions and counts

The folder is written under a temporary name and renamed when complete, so a reader never sees half
a dataset. Nothing time-dependent is written: the same seed and settings give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraudguard.schemas import LABEL, MERCHANT, PRODUCT, SESSION_EVENT, TRANSACTION, USER
from fraudguard.simulate.labels import ChargebackQueue
from fraudguard.simulate.timeline import DayBatch


class Timeline(Protocol):
    name: str
    labels: ChargebackQueue

    def initial(self) -> tuple[pa.Table, pa.Table]: ...

    def days(self, count: int | None = None): ...

    def products(self) -> pa.Table | None: ...


@dataclass
class BatchSummary:
    days: int = 0
    users: int = 0
    merchants: int = 0
    transactions: int = 0
    frauds: int = 0
    labels: int = 0
    session_events: int = 0
    per_scenario: dict[str, int] = field(default_factory=dict)

    def add(self, batch: DayBatch) -> None:
        table = batch.transactions
        self.days += 1
        self.transactions += table.num_rows
        self.frauds += pc.sum(table["is_fraud"]).as_py() or 0
        self.labels += batch.labels.num_rows
        self.session_events += batch.sessions.num_rows if batch.sessions is not None else 0
        counts = Counter(pc.drop_null(table["fraud_scenario"]).to_pylist())
        for name, count in counts.items():
            self.per_scenario[name] = self.per_scenario.get(name, 0) + count


def write_batch(
    timeline: Timeline,
    out: Path,
    settings_json: dict,
    overwrite: bool = False,
    on_day: Callable[[DayBatch, BatchSummary], None] | None = None,
) -> BatchSummary:
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already holds a dataset; pass --overwrite to replace it")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "transactions").mkdir(parents=True)

    users, merchants = timeline.initial()
    user_parts, merchant_parts, label_parts = [users], [merchants], []
    summary = BatchSummary()
    for batch in timeline.days():
        day_folder = partial / "transactions" / f"day={batch.day.isoformat()}"
        day_folder.mkdir()
        _write(batch.transactions, day_folder / "part-0.parquet")
        if batch.sessions is not None:
            sessions = partial / "sessions" / day_folder.name
            sessions.mkdir(parents=True)
            _write(batch.sessions, sessions / "part-0.parquet")
        user_parts.append(batch.users)
        merchant_parts.append(batch.merchants)
        label_parts.append(batch.labels)
        summary.add(batch)
        if on_day:
            on_day(batch, summary)
    users, merchants = pa.concat_tables(user_parts), pa.concat_tables(merchant_parts)
    _write(users, partial / "users.parquet")
    _write(merchants, partial / "merchants.parquet")
    label_parts.append(timeline.labels.remaining())
    summary.labels += label_parts[-1].num_rows
    _write(pa.concat_tables(label_parts), partial / "labels.parquet")
    products = timeline.products()
    if products is not None:
        _write(products, partial / "products.parquet")
    summary.users = len(set(users["user_id"].to_pylist()))
    summary.merchants = len(set(merchants["merchant_id"].to_pylist()))
    manifest = {
        "world": timeline.name,
        "settings": settings_json,
        "schemas": [USER.tag, MERCHANT.tag, TRANSACTION.tag, LABEL.tag]
        + ([SESSION_EVENT.tag, PRODUCT.tag] if products is not None else []),
        "summary": asdict(summary),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return summary


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")
