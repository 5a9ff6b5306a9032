"""Alerts out of the store: CSV for people, confirmed review labels (Parquet) for retraining."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from fraudguard.alerts.store import REVIEW_COLUMNS, AlertStore, ReviewStatus
from fraudguard.schemas import ALERT, REVIEW_LABEL, format_timestamp

CSV_COLUMNS = (*ALERT.names, *REVIEW_COLUMNS)
AUDIT_COLUMNS = ("transaction_id", "actor", "at", "from_status", "to_status", "note", "version")


def csv_lines(alerts: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A header line, then one line per alert (reasons joined by "; ", timestamps ISO-8601 UTC)."""
    return _lines(alerts, CSV_COLUMNS)


def audit_lines(changes: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The review audit trail (`AlertStore.audit`) as CSV lines."""
    return _lines(changes, AUDIT_COLUMNS)


def _lines(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_cell(row.get(column)) for column in columns)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is a formula to a spreadsheet (OWASP: CSV injection)."""


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, list):
        value = "; ".join(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # shown as text, never evaluated
    return value


def export_labels(store: AlertStore, path: Path) -> int:
    """Write every reviewed alert's verdict as REVIEW_LABEL rows (Parquet); returns how many."""
    reviewed = store.reviewed()
    table = REVIEW_LABEL.table(
        transaction_id=[row["transaction_id"] for row in reviewed],
        is_fraud=[row["status"] == ReviewStatus.CONFIRMED_FRAUD for row in reviewed],
        reviewed_at=[int(row["reviewed_at"].timestamp() * 1000) for row in reviewed],
        model_version=[row["model_version"] for row in reviewed],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial)
    partial.replace(path)  # readers never see a half-written file
    return len(reviewed)
