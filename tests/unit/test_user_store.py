"""The stream's per-user state on the driver: a replayed micro-batch starts from the state its first
attempt saw, and an idle user's state expires."""

from __future__ import annotations

import numpy as np

from fraudguard.features.user_history import UserState
from fraudguard.stream.user_store import UserStateStore


def state(count: int) -> UserState:
    return UserState(history_ts=np.array([float(count)]), history_amount=np.array([1.0]), count=count)


def test_a_replay_undoes_the_batch_and_later_ones_and_only_those(tmp_path):
    store = UserStateStore(tmp_path / "users.sqlite")
    store.save(0, {"a": state(1)})
    store.save(1, {"a": state(2), "b": state(1)})
    store.save(2, {"a": state(3), "c": state(1)})
    assert {user: s.count for user, s in store.load(["a", "b", "c", "d"]).items()} == {"a": 3, "b": 1, "c": 1}

    store.before(1)  # Spark replays batch 1: what batches 1 and 2 wrote is undone
    assert {user: s.count for user, s in store.load(["a", "b", "c"]).items()} == {"a": 1}
    store.save(1, {"a": state(5)})
    store.before(2)  # nothing later than 1 any more: a no-op
    reopened = UserStateStore(tmp_path / "users.sqlite")
    assert {user: s.count for user, s in reopened.load(["a", "b"]).items()} == {"a": 5}
    np.testing.assert_array_equal(reopened.load(["a"])["a"].history_ts, [5.0])


def test_an_idle_users_state_expires(tmp_path):
    store = UserStateStore(tmp_path / "users.sqlite", ttl_s=0.05)
    store.save(0, {"a": state(1)})
    assert store.load(["a"])
    store.db.execute("UPDATE state SET touched = touched - 1")
    assert store.load(["a"]) == {}
    store.save(1, {"b": state(1)})
    assert store.users() == 1
