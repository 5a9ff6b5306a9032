"""`fraudguard alerts users` and `alerts tokens` as an admin runs them: real processes, a real store."""

from __future__ import annotations

import os
import subprocess

import pytest

from fraudguard.alerts.accounts import Accounts
from fraudguard.alerts.store import AlertStore
from fraudguard.config import load_settings
from tests.conftest import CONFIG_FILE, FRAUDGUARD, run_cli

pytestmark = pytest.mark.integration


def test_users_and_tokens_are_managed_from_the_command_line(tmp_path):
    env = {"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)}
    added = subprocess.run(
        [*FRAUDGUARD, "--config", str(CONFIG_FILE), "alerts", "users", "add", "rita", "--password-stdin"],
        input="rita-reviews-alerts\n", env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "rita added (reviewer)" in added.stdout
    listed = run_cli("alerts", "users", "list", env=env).stdout
    assert "rita" in listed and "reviewer" in listed and "argon2" not in listed
    secret = run_cli("alerts", "tokens", "create", "nightly", "--user", "rita", env=env).stdout.strip()
    store = AlertStore(load_settings(CONFIG_FILE, environ=env).alerts.database_url)
    try:
        accounts = Accounts(store)
        assert accounts.token_user(secret) == accounts.user(1)
        assert secret not in run_cli("alerts", "tokens", "list", env=env).stdout
        run_cli("alerts", "tokens", "revoke", "1", env=env)
        assert accounts.token_user(secret) is None
        refused = run_cli("alerts", "tokens", "revoke", "1", env=env, check=False)
        assert refused.returncode == 1 and "no live token 1" in refused.stderr
        run_cli("alerts", "users", "remove", "rita", env=env)
        assert accounts.users() == [] and accounts.tokens() == []
    finally:
        store.close()
