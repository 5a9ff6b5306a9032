"""`fraudguard data import` on files in the public datasets' exact formats, on a generic CSV whose roles
are inferred, and on a file with each kind of defect: one message naming the column and row, and
nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraudguard.data.importer import ImportOptions, import_dataset
from fraudguard.data.profiles import CREDITCARD, PAYSIM
from fraudguard.data.reading import SourceFile
from fraudguard.data.schema import ROWS_DIR, DatasetError, DatasetSchema, Role
from tests.conftest import run_cli
from tests.data_files import generic_table
from tests.samples.datasets import creditcard_csv, creditcard_rows, paysim_csv, paysim_rows, write_csv

START = datetime(2026, 3, 1, tzinfo=UTC)


def imported(path, out, profile: str, **options) -> tuple[DatasetSchema, pa.Table]:
    schema = import_dataset(
        SourceFile(path), out, ImportOptions(profile, options.pop("name", profile), **options)
    )
    return schema, pq.read_table(out / ROWS_DIR)


def test_a_paysim_file_becomes_transactions_of_users_paying_counterparties(tmp_path):
    source = paysim_csv(tmp_path / "PS_20174392719_1491204439457_log.csv", 30_000, fraud_rate=0.01)
    assert source.read_text().splitlines()[0] == ",".join(PAYSIM.columns)
    original = paysim_rows(30_000, fraud_rate=0.01)
    schema, rows = imported(source, tmp_path / "paysim", "paysim", start=START)

    assert schema.rows == rows.num_rows == 30_000
    assert schema.frauds == sum(original["isFraud"].to_pylist()) > 0
    assert rows["is_fraud"].to_pylist() == [bool(v) for v in original["isFraud"].to_pylist()]
    assert rows["user_id"].to_pylist() == original["nameOrig"].to_pylist()
    assert rows["merchant_id"].to_pylist() == original["nameDest"].to_pylist()
    steps = original["step"].to_pylist()
    assert rows["timestamp"].to_pylist()[::997] == [START + timedelta(hours=s) for s in steps[::997]]
    assert len(set(rows["transaction_id"].to_pylist())) == 30_000
    assert schema.categorical == ["type"]
    assert schema.numeric == ["amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest"]
    assert schema.one(Role.IGNORE).name == "isFlaggedFraud"
    assert DatasetSchema.load(tmp_path / "paysim") == schema


def test_a_creditcard_file_keeps_its_pca_columns_and_seconds(tmp_path):
    source = creditcard_csv(tmp_path / "creditcard.csv", 5_000, fraud_rate=0.02)
    assert source.read_text().splitlines()[0] == ",".join(f'"{name}"' for name in CREDITCARD.columns)
    original = creditcard_rows(5_000, fraud_rate=0.02)
    schema, rows = imported(source, tmp_path / "cc", "creditcard", start=START)

    assert schema.numeric == [f"V{i}" for i in range(1, 29)] + ["Amount"]
    assert schema.categorical == [] and schema.time_unit == "s"
    assert rows["is_fraud"].to_pylist() == [bool(v) for v in original["Class"].to_pylist()]
    assert rows["timestamp"][-1].as_py() == START + timedelta(seconds=original["Time"][-1].as_py())
    assert np.allclose(rows["V14"].to_numpy(), original["V14"].to_numpy())
    assert rows["transaction_id"][0].as_py() == "creditcard-1"


def test_a_generic_csv_gets_its_roles_inferred_and_shown(tmp_path):
    table = generic_table(3_000)
    source = write_csv(table, tmp_path / "export.csv", quoted_header=True)
    choices = {
        "label": "chargeback",
        "time": "booked_at",
        "id": "payment_ref",
        "roles": {"items": Role.CATEGORICAL},
    }
    schema, rows = imported(source, tmp_path / "mine", "csv", name="mine", **choices)
    roles = {column.name: (column.role, column.why) for column in schema.columns}
    assert roles == {
        "booked_at": (Role.TIME, "chosen"),
        "payment_ref": (Role.ID, "chosen"),
        "channel": (Role.CATEGORICAL, "text with 3 distinct values"),
        "value_eur": (Role.NUMERIC, "numbers"),
        "chargeback": (Role.LABEL, "chosen"),
        "customer_note": (Role.IGNORE, "text with more than 50 distinct values"),
        "items": (Role.CATEGORICAL, "chosen"),
    }
    assert rows["transaction_id"].to_pylist() == [f"mine-{ref}" for ref in table["payment_ref"].to_pylist()]
    assert rows["is_fraud"].to_pylist() == [v == "yes" for v in table["chargeback"].to_pylist()]
    assert rows["timestamp"][5].as_py() == table["booked_at"][5].as_py().replace(tzinfo=UTC)
    assert rows["items"].type == pa.string()

    pq.write_table(table, tmp_path / "export.parquet")  # the same data as Parquet: the same dataset
    again, parquet_rows = imported(
        tmp_path / "export.parquet", tmp_path / "again", "csv", name="mine", **choices
    )
    assert [c.role for c in again.columns] == [c.role for c in schema.columns]
    assert parquet_rows.select(["transaction_id", "is_fraud", "value_eur"]) == rows.select(
        ["transaction_id", "is_fraud", "value_eur"]
    )


def defective(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("case", "profile", "options", "message"),
    [
        (
            "missing label",
            "csv",
            {"label": "is_fraud"},
            r"no label column 'is_fraud'; the file's columns are a, b",
        ),
        ("label not binary", "csv", {"label": "b"}, r"label column 'b' is not binary: row 120001 has 2"),
        ("empty label", "csv", {"label": "b"}, r"the label column 'b' is empty at row 150000"),
        ("type change", "csv", {"label": "b"}, r"column 'a' holds numbers, but row 120002 has 'n/a\?'"),
        ("no rows", "csv", {"label": "b"}, r"no rows after the header"),
        ("paysim missing column", "paysim", {}, r"not the PaySim format \(missing isFlaggedFraud\)"),
        ("paysim text amount", "paysim", {}, r"column 'amount' holds numbers, but row 3 has 'lots'"),
        ("unknown role column", "csv", {"label": "b", "roles": {"c": Role.IGNORE}}, r"no column 'c' to give"),
    ],
)
def test_each_defect_gets_one_message_naming_column_and_row_and_nothing_is_written(
    tmp_path, case, profile, options, message
):
    rows = [f"{i * 0.5},{i % 2}" for i in range(150_000)]  # 1.5 MB: beyond the block that sets the types
    lines = {
        "missing label": ["a,b", *rows],
        "label not binary": ["a,b", *rows[:120_000], "1.0,2", *rows[120_000:]],
        "empty label": ["a,b", *rows[:149_999], "1.0,"],
        "type change": ["a,b", *rows[:120_001], "n/a?,1", *rows[120_001:]],
        "no rows": ["a,b"],
        "unknown role column": ["a,b", *rows],
    }
    paysim = paysim_rows(5).to_pandas()
    if case == "paysim missing column":
        text = paysim.drop(columns="isFlaggedFraud").to_csv(index=False).splitlines()
    elif case == "paysim text amount":
        paysim["amount"] = paysim["amount"].astype(object)
        paysim.loc[2, "amount"] = "lots"
        text = paysim.to_csv(index=False).splitlines()
    else:
        text = lines[case]
    path = defective(tmp_path, "defective.csv", text)
    out = tmp_path / "datasets" / "defective"
    with pytest.raises(DatasetError, match=message):
        import_dataset(SourceFile(path), out, ImportOptions(profile, "defective", **options))
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == [], "a failed import left files"


def test_the_cli_shows_the_inferred_roles_and_refuses_a_bad_file_in_one_line(tmp_path):
    source = write_csv(generic_table(500), tmp_path / "Team Export.csv", quoted_header=False)
    env = {"FRAUDGUARD__RUNTIME_DIR": str(tmp_path / "runtime")}
    shown = run_cli("data", "import", "csv", str(source), "--label", "chargeback", "--time", "booked_at",
                    env=env).stdout  # fmt: skip
    assert "team-export (csv)" in shown and "imported 500 rows" in shown
    assert "channel" in shown and "text with 3 distinct values" in shown
    assert (tmp_path / "runtime" / "datasets" / "team-export" / "dataset.json").exists()
    again = run_cli("data", "import", "csv", str(source), "--label", "chargeback", env=env, check=False)
    assert again.returncode == 1 and "exists; pass --overwrite" in again.stderr

    refused = run_cli(
        "data", "import", "paysim", str(source), "--out", str(tmp_path / "p"), env=env, check=False
    )
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "nothing imported" in refused.stderr and "not the PaySim format" in refused.stderr
    assert not (tmp_path / "p").exists()
