"""The handbook world reproduces the book's simulator: its volume, its fraud share, its scenarios."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from fraudguard.schemas import TRANSACTION
from fraudguard.simulate.handbook import SCENARIO_NAMES, HandbookTimeline

BOOK_TRANSACTIONS = 1_754_155
BOOK_FRAUD_SHARE = 0.0084


@pytest.mark.slow
def test_book_defaults_match_the_published_volume_and_fraud_share():
    table = HandbookTimeline(seed=0).transactions()
    frauds = pc.sum(table["is_fraud"]).as_py()
    assert table.num_rows == pytest.approx(BOOK_TRANSACTIONS, rel=0.03)
    assert frauds / table.num_rows == pytest.approx(BOOK_FRAUD_SHARE, abs=0.001)
    names = set(pc.drop_null(table["fraud_scenario"]).to_pylist())
    assert names == set(SCENARIO_NAMES.values())


def test_a_small_world_follows_the_book_rules():
    timeline = HandbookTimeline(seed=3, customers=400, terminals=800, days=40)
    table = timeline.transactions()
    assert table.schema.equals(TRANSACTION.arrow(), check_metadata=False)
    data = table.to_pandas()
    seconds = (data["timestamp"] - data["timestamp"].dt.normalize()).dt.total_seconds()
    assert seconds.between(0, 86_400, inclusive="neither").all()
    # Scenario 1: every amount over 220 is fraud, unless scenario 3 inflated a smaller amount.
    assert data.loc[data["amount"] > 220, "is_fraud"].all()
    # Scenario 2 marks every transaction of a compromised terminal for 28 days: frauds cluster on terminals.
    terminal_frauds = data[data["fraud_scenario"] == "compromised_terminal"].groupby("merchant_id").size()
    assert terminal_frauds.mean() > 3
    users, merchants = timeline.initial()
    assert users.num_rows == 400 and merchants.num_rows == 800
    assert np.all(np.asarray(users["lat"]) <= 1.0)  # the 100 x 100 grid mapped onto one degree
    days = list(timeline.days())
    assert sum(batch.transactions.num_rows for batch in days) == table.num_rows
    assert [batch.day.isoformat() for batch in days[:2]] == ["2018-04-01", "2018-04-02"]
