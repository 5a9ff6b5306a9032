"""The Faker world: deterministic, schema-valid, each scenario at its share, entities before use, frauds
reported late or never."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from fraudguard.config.model import ScenarioMix, SimulatorSettings
from fraudguard.platform.components import first_classifier
from fraudguard.schemas import CHARGEBACK, LABEL, MERCHANT, TRANSACTION, USER
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.catalog import ONLINE
from fraudguard.simulate.day import Day, MerchantPools
from fraudguard.simulate.legit import SHOPPING_REACH_KM, legit_day
from fraudguard.simulate.scenarios import SCENARIOS
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.simulate.world import DAY_MS

SMALL = SimulatorSettings(users=600, merchants=150, days=6, seed=7)
MIX = ScenarioMix(
    account_takeover=0.4,
    card_testing=0.1,
    compromised_merchant=0.15,
    impossible_travel=0.2,
    fresh_account_abuse=0.15,
)


def generate(settings: SimulatorSettings, out: Path) -> Path:
    write_batch(FakerWorldTimeline(settings), out, settings_json=settings.model_dump(mode="json"))
    return out


def digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """A dataset large enough for shares: ~60k transactions, 2% fraud, a non-default mix."""
    settings = SimulatorSettings(
        users=2000, merchants=400, days=12, fraud_rate=0.02, scenario_mix=MIX, seed=11
    )
    return generate(settings, tmp_path_factory.mktemp("mixed") / "data")


def test_same_seed_and_settings_give_byte_identical_datasets(tmp_path):
    first = digest(generate(SMALL, tmp_path / "a"))
    second = digest(generate(SMALL, tmp_path / "b"))
    other_seed = digest(generate(SMALL.model_copy(update={"seed": 8}), tmp_path / "c"))
    assert first == second
    # six days of transactions and of sessions, users, merchants, labels, products, manifest
    assert len(first) == 2 * 6 + 5
    for kind in ("transactions", "sessions"):
        assert (
            first[f"{kind}/day=2026-01-01/part-0.parquet"]
            != other_seed[f"{kind}/day=2026-01-01/part-0.parquet"]
        )


def test_every_record_fits_its_schema(mixed):
    for schema, path in ((USER, "users.parquet"), (MERCHANT, "merchants.parquet")):
        table = pq.read_table(mixed / path)
        assert table.schema.equals(schema.arrow(), check_metadata=False)
        assert all(not schema.problems(_json(schema, table, i)) for i in range(0, table.num_rows, 7))
    transactions = ds.dataset(mixed / "transactions", format="parquet", partitioning="hive").to_table()
    assert transactions.drop_columns(["day"]).schema.equals(TRANSACTION.arrow(), check_metadata=False)
    assert all(
        not TRANSACTION.problems(_json(TRANSACTION, transactions, i))
        for i in range(0, transactions.num_rows, 97)
    )
    assert pc.all(pc.greater(transactions["amount"], 0)).as_py()
    labelled = pc.equal(pc.is_valid(transactions["fraud_scenario"]), transactions["is_fraud"])
    assert pc.all(labelled).as_py(), "a scenario name exactly on fraud rows"
    assert len(set(transactions["transaction_id"].to_pylist())) == transactions.num_rows


def test_fraud_prevalence_and_each_scenario_share_match_the_configuration(mixed):
    transactions = ds.dataset(mixed / "transactions", format="parquet", partitioning="hive").to_table()
    frauds = pc.sum(transactions["is_fraud"]).as_py()
    assert frauds / transactions.num_rows == pytest.approx(0.02, abs=0.002)
    counts = pc.value_counts(pc.drop_null(transactions["fraud_scenario"])).to_pylist()
    shares = {row["values"]: row["counts"] / frauds for row in counts}
    assert set(shares) == set(SCENARIOS)
    for name, wanted in MIX.model_dump().items():
        assert shares[name] == pytest.approx(wanted, abs=0.04), name


def test_frauds_are_reported_as_chargebacks_after_a_delay_and_some_never(mixed):
    transactions = ds.dataset(mixed / "transactions", format="parquet", partitioning="hive").to_table()
    labels = pq.read_table(mixed / "labels.parquet").to_pandas()
    assert pq.read_table(mixed / "labels.parquet").schema.equals(LABEL.arrow(), check_metadata=False)
    frauds = transactions.filter(transactions["is_fraud"]).to_pandas().set_index("transaction_id")
    assert set(labels["transaction_id"]) <= set(frauds.index), "only frauds get chargebacks"
    assert labels["transaction_id"].is_unique and labels["is_fraud"].all()
    assert (labels["source"] == CHARGEBACK).all()
    assert 1 - len(labels) / len(frauds) == pytest.approx(
        SimulatorSettings().unreported_fraud_share, abs=0.03
    )
    at = frauds.loc[labels["transaction_id"]]
    assert (labels["event_time"].to_numpy() == at["timestamp"].to_numpy()).all()
    assert (labels["merchant_id"].to_numpy() == at["merchant_id"].to_numpy()).all()
    delay_days = (labels["reported_at"] - labels["event_time"]).dt.total_seconds() / 86_400
    assert delay_days.min() >= 1 / 24
    assert delay_days.mean() == pytest.approx(SimulatorSettings().chargeback_delay_days, rel=0.15)


def test_each_day_hands_out_the_labels_reported_that_day():
    timeline = FakerWorldTimeline(SMALL)
    timeline.initial()
    for batch in timeline.days():
        reported = batch.labels["reported_at"].to_pandas()
        assert reported.is_monotonic_increasing
        assert (reported.dt.date == batch.day).all()


def test_users_and_merchants_exist_before_their_first_transaction(mixed):
    users = pq.read_table(mixed / "users.parquet").to_pandas()
    merchants = pq.read_table(mixed / "merchants.parquet").to_pandas()
    transactions = (
        ds.dataset(mixed / "transactions", format="parquet", partitioning="hive").to_table().to_pandas()
    )
    first_use = transactions.groupby("user_id")["timestamp"].min()
    signed_up = users.groupby("user_id")["signup_date"].min()
    assert (signed_up[first_use.index] <= first_use).all()
    first_sale = transactions.groupby("merchant_id")["timestamp"].min()
    opened = merchants.groupby("merchant_id")["created_at"].min()
    assert (opened[first_sale.index] <= first_sale).all()
    assert users["user_id"].duplicated().any(), "some users moved: their record has a later version"


def test_legitimate_customers_pay_in_store_only_within_reach_of_where_they_are():
    """No legitimate customer pays at home and, minutes later, in a shop hundreds of km away: that is
    impossible travel's signal. What they spend in person goes to the categories within reach, and the
    share they spend online stays their own."""
    timeline = FakerWorldTimeline(SMALL)
    world, start = timeline.world, timeline.start_ms
    users = world.users
    travelling = np.arange(0, len(users), 10)
    users.trip_place[travelling] = timeline.rng.choice(len(world.places), size=len(travelling))
    users.trip_end_ms[travelling] = start + DAY_MS
    pools = MerchantPools(world, start)
    legit = legit_day(Day(world, pools, start, timeline.rng))

    in_store = ~world.merchants.online[legit.merchant]
    where = np.where(users.trip_place >= 0, users.trip_place, users.place)[legit.user]
    km = world.place_distance_km[where, world.merchants.place[legit.merchant]]
    assert in_store.mean() > 0.5
    assert np.isin(legit.user[in_store], travelling).any()
    assert km[in_store].max() <= SHOPPING_REACH_KM
    some_shop = pools.in_store_within(where, SHOPPING_REACH_KM).any(axis=1)
    online_taste = users.category_taste[:, ONLINE].sum(axis=1)
    assert (~in_store[some_shop]).mean() == pytest.approx(
        online_taste[legit.user[some_shop]].mean(), abs=0.03
    )


def test_the_scenario_registry_and_the_configured_mix_name_the_same_scenarios():
    assert set(SCENARIOS) == set(ScenarioMix.model_fields)
    assert all(scenario.signal for scenario in SCENARIOS.values())


def _json(schema, table, row):
    import json

    return json.loads(schema.encode(table.slice(row, 1))[1][0])


def test_a_world_with_no_fraud_confirmed_yet_starts_with_an_isolation_forest(tmp_path):
    """`unreported_fraud_share: 1`: frauds happen but no label comes, so the first model `fraudguard run`
    trains is one that needs no labels; with labels it is the configured classifier."""
    unlabelled = generate(SMALL.model_copy(update={"unreported_fraud_share": 1.0}), tmp_path / "day-one")
    assert pq.read_table(unlabelled / "labels.parquet").num_rows == 0
    assert pc.sum(ds.dataset(unlabelled / "transactions").to_table()["is_fraud"]).as_py() > 0
    assert first_classifier(unlabelled, "gbt") == "isolation_forest"
    assert first_classifier(generate(SMALL, tmp_path / "labelled"), "gbt") == "gbt"
    with pytest.raises(RuntimeError, match=r"manifest\.json: expected a dataset manifest"):
        first_classifier(tmp_path / "missing", "gbt")


def test_an_id_prefix_changes_the_ids_and_nothing_else(tmp_path):
    plain = generate(SMALL, tmp_path / "plain")
    prefixed = generate(SMALL.model_copy(update={"id_prefix": "w9-"}), tmp_path / "prefixed")
    for part, columns in (("users.parquet", ["user_id"]), ("merchants.parquet", ["merchant_id"]),
                          ("transactions", ["user_id", "merchant_id"])):  # fmt: skip
        before = ds.dataset(plain / part).to_table().to_pandas()
        after = ds.dataset(prefixed / part).to_table().to_pandas()
        for column in columns:
            assert after[column].str.startswith("w9-").all()
            after[column] = after[column].str.removeprefix("w9-")
        pd.testing.assert_frame_equal(before, after)
