"""An imported dataset's schema: each column of the source file with its type and role, and how its
rows become transactions. Written by the import as `dataset.json` and read by training and replay.

Besides the file's own columns, an imported dataset carries the platform's canonical columns, derived
once at import: `transaction_id` (the dataset name, then the id column or the row number), `timestamp`
(from the time column, when there is one), `is_fraud` (from the label) and, for profiles with
entities, `user_id` and `merchant_id`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from fraudguard.schemas import Field, FieldType, RecordSchema

SCHEMA_FILE = "dataset.json"
ROWS_DIR = "rows"
FORMAT = "fraudguard-imported-dataset/1"


class Role(StrEnum):
    LABEL = "label"  # binary: 1/true = fraud
    TIME = "time"  # a timestamp, or a number of `time_unit`s after `start`
    ID = "id"  # unique per row: the transaction id
    USER = "user"  # the paying account (entity): keys the per-user history of a replay
    MERCHANT = "merchant"  # the counterparty (entity)
    NUMERIC = "numeric"  # a model input, as a number
    CATEGORICAL = "categorical"  # a model input, as a category (one-hot or indexed)
    IGNORE = "ignore"  # kept in the rows, not a model input


SINGLE_ROLES = (Role.LABEL, Role.TIME, Role.ID, Role.USER, Role.MERCHANT)
CANONICAL = {Role.ID: "transaction_id", Role.TIME: "timestamp", Role.LABEL: "is_fraud",
             Role.USER: "user_id", Role.MERCHANT: "merchant_id"}  # fmt: skip
RESERVED = {*CANONICAL.values(), "label", "weight", "features", "raw_features", "score", "probability",
            "prediction", "rawPrediction"}  # fmt: skip
"""Names the trainer and MLlib's stages produce: a model input may not be called so."""
TIME_UNITS = {"s": timedelta(seconds=1), "min": timedelta(minutes=1), "h": timedelta(hours=1),
              "d": timedelta(days=1)}  # fmt: skip


_FIELD_TYPES: dict[str, FieldType] = {"bool": "bool", "double": "double", "float": "double",
                                      "int64": "double", "timestamp[s]": "timestamp",
                                      "timestamp[ms]": "timestamp", "timestamp[us]": "timestamp"}  # fmt: skip


class DatasetError(ValueError):
    """A file or dataset that cannot be imported or read; the message names the column and row."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the Arrow type read from the file: int64, double, bool, string, timestamp[s], ...
    role: Role | None  # None only while the import decides between category and ignored text
    why: str = ""  # how the role was chosen: by the profile, inferred (and from what), or overridden

    @property
    def is_number(self) -> bool:
        return self.type == "bool" or self.type.startswith(("int", "uint", "double", "float", "decimal"))

    @property
    def is_timestamp(self) -> bool:
        return self.type.startswith(("timestamp", "date"))


@dataclass(frozen=True)
class DatasetSchema:
    profile: str  # paysim | creditcard | csv
    name: str  # the dataset's name: its registered model is `<model.registered_name>-<name>`
    columns: tuple[Column, ...]
    source: str
    time_unit: str | None = None  # for a numeric time column
    start: datetime | None = None  # what a numeric time of 0 is
    rows: int = 0
    frauds: int = 0
    imported_at: str = ""

    def by_role(self, role: Role) -> list[Column]:
        return [column for column in self.columns if column.role is role]

    def one(self, role: Role) -> Column | None:
        found = self.by_role(role)
        return found[0] if found else None

    @property
    def numeric(self) -> list[str]:
        return [column.name for column in self.by_role(Role.NUMERIC)]

    @property
    def categorical(self) -> list[str]:
        return [column.name for column in self.by_role(Role.CATEGORICAL)]

    @property
    def has_time(self) -> bool:
        return self.one(Role.TIME) is not None

    def record_schema(self) -> RecordSchema:
        """The replayed rows' message schema (`data replay`; the stream parses with it): the
        canonical columns and the file's other columns, never the label."""
        fields = [Field("transaction_id", "string", "the row's id")]
        if self.has_time:
            fields.append(Field("timestamp", "timestamp", "event time"))
        fields += [Field(CANONICAL[role], "string", role.value) for role in (Role.USER, Role.MERCHANT)
                   if self.one(role) is not None]  # fmt: skip
        for column in self.columns:
            if column.role in SINGLE_ROLES:
                continue
            kind = "double" if column.role is Role.NUMERIC else _FIELD_TYPES.get(column.type, "string")
            kind = "string" if column.role is Role.CATEGORICAL else kind
            fields.append(Field(column.name, kind, f"{column.role}: {column.why}", nullable=True))
        return RecordSchema(
            name=f"dataset-{self.name}", version=1, key="transaction_id", fields=tuple(fields)
        )

    def save(self, folder: Path) -> None:
        document = {"format": FORMAT, **asdict(self)}
        document["start"] = self.start.isoformat() if self.start else None
        (folder / SCHEMA_FILE).write_text(json.dumps(document, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> DatasetSchema:
        path = folder / SCHEMA_FILE
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise DatasetError(f"{folder} is not an imported dataset: {SCHEMA_FILE} is missing") from None
        except ValueError as error:
            raise DatasetError(f"{path}: not JSON ({error})") from None
        if document.pop("format", None) != FORMAT:
            raise DatasetError(f"{path}: key 'format' should be {FORMAT!r}")
        try:
            columns = tuple(
                Column(c["name"], c["type"], Role(c["role"]), c.get("why", ""))
                for c in document.pop("columns")
            )
            start = document.pop("start")
            return cls(columns=columns, start=datetime.fromisoformat(start) if start else None, **document)
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"{path}: unexpected content ({error!r})") from None
