"""Chargebacks: how the simulated world's frauds become labels, days after they happen, or never.

A fraud is reported by the card holder's bank with probability 1 - `unreported_fraud_share`, after a
delay drawn from a gamma distribution (shape 2: most within a few days, a long tail of weeks) with
mean `chargeback_delay_days`. Labels wait in a queue until the world's clock reaches their report
time, so a timeline hands out each day the labels reported that day.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudguard.schemas import CHARGEBACK, LABEL
from fraudguard.simulate.world import DAY_MS

DELAY_SHAPE = 2.0
MIN_DELAY_MS = 3_600_000
"""No chargeback is reported within the hour of its payment."""


class ChargebackQueue:
    """Labels drawn for frauds as they happen, released when their report time has come."""

    def __init__(self, rng: np.random.Generator, mean_delay_days: float, unreported_share: float) -> None:
        self.rng, self.mean_delay_days, self.unreported_share = rng, mean_delay_days, unreported_share
        self.pending = LABEL.arrow().empty_table()

    def add(self, transactions: pa.Table) -> None:
        """Draw the chargebacks of `transactions`' frauds (the ones `is_fraud` marks)."""
        frauds = transactions.filter(pc.fill_null(transactions["is_fraud"], False))
        reported = self.rng.random(frauds.num_rows) >= self.unreported_share
        delay = self.rng.gamma(DELAY_SHAPE, self.mean_delay_days / DELAY_SHAPE, frauds.num_rows) * DAY_MS
        frauds = frauds.filter(pa.array(reported))
        event_ms = frauds["timestamp"].cast(pa.int64()).to_numpy()
        labels = LABEL.table(
            transaction_id=frauds["transaction_id"].to_numpy(),
            merchant_id=frauds["merchant_id"].to_numpy(),
            event_time=event_ms,
            is_fraud=np.ones(frauds.num_rows, dtype=bool),
            source=np.full(frauds.num_rows, CHARGEBACK),
            reported_at=event_ms + np.maximum(delay[reported], MIN_DELAY_MS).astype(np.int64),
        )
        self.pending = pa.concat_tables([self.pending, labels])

    def release(self, until_ms: int) -> pa.Table:
        """The labels reported before `until_ms`, in report order; they leave the queue."""
        reported_ms = self.pending["reported_at"].cast(pa.int64()).to_numpy()
        due = reported_ms < until_ms
        released = self.pending.filter(pa.array(due))
        self.pending = self.pending.filter(pa.array(~due))
        return released.take(pc.sort_indices(released, [("reported_at", "ascending")]))

    def remaining(self) -> pa.Table:
        """The labels not reported yet (a batch dataset keeps them: its training may use the future)."""
        return self.release(np.iinfo(np.int64).max)
