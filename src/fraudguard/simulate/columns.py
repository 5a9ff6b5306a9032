"""Growable structure-of-arrays tables: numpy columns that are generated and filtered together."""

from __future__ import annotations

from typing import Any

import numpy as np


class Columns:
    """Named numpy columns of equal length; `table.amount` is a column, `table[mask]` a sub-table."""

    _columns: dict[str, np.ndarray]

    def __init__(self, **columns: np.ndarray) -> None:
        lengths = {len(column) for column in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of unequal length: { {k: len(v) for k, v in columns.items()} }")
        self.__dict__["_columns"] = dict(columns)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["_columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._columns:
            raise AttributeError(f"no column {name!r}")
        self._columns[name] = value

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()))) if self._columns else 0

    def __getitem__(self, selection: Any) -> Columns:
        return Columns(**{name: column[selection] for name, column in self._columns.items()})

    @property
    def names(self) -> list[str]:
        return list(self._columns)

    def extend(self, other: Columns) -> None:
        for name, column in self._columns.items():
            self._columns[name] = np.concatenate([column, getattr(other, name)])

    @classmethod
    def concat(cls, parts: list[Columns]) -> Columns:
        parts = [part for part in parts if len(part)] or parts[:1]
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in parts[0].names})
