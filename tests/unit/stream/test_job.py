from __future__ import annotations

import pytest

from fraudguard.stream.job import INCOMPATIBLE_STATE, incompatible_state

# How Spark reports a query that failed on a checkpoint another query wrote (abridged).
STREAM_FAILED = (
    "[STREAM_FAILED] Query [id = 6f1c, runId = 0a2b] terminated with exception: "
    "[{condition}] Provided value schema does not match existing state value schema. SQLSTATE: XXKST"
)


@pytest.mark.parametrize("condition", INCOMPATIBLE_STATE)
def test_a_checkpoint_of_another_query_is_recognised_by_its_condition(condition):
    assert incompatible_state(RuntimeError(STREAM_FAILED.format(condition=condition))) == condition


def test_other_failures_are_left_to_the_restart_policy():
    broker_down = STREAM_FAILED.format(condition="KAFKA_DATA_LOSS.COULD_NOT_READ_OFFSET_RANGE")
    assert incompatible_state(RuntimeError(broker_down)) is None
    assert incompatible_state(RuntimeError("value schema STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE")) is None
