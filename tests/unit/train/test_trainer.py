"""How many partitions a model is fitted on: few rows are packed together, many keep their own."""

from __future__ import annotations

from fraudguard.train.trainer import ROWS_PER_PARTITION, fit_partitions


def test_a_small_training_set_is_fitted_in_one_partition_and_a_large_one_in_many():
    assert fit_partitions(0) == fit_partitions(9_500) == fit_partitions(ROWS_PER_PARTITION) == 1
    assert fit_partitions(ROWS_PER_PARTITION + 1) == 2
    assert fit_partitions(230_000) == 5
