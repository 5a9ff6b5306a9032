"""The model check on the way to the first alert: a fresh installation serves the bootstrap model."""

from __future__ import annotations

import json

from fraudguard.config import load_settings
from fraudguard.platform.components import ensure_model
from tests.conftest import CONFIG_FILE


def test_a_fresh_installation_gets_the_bootstrap_model_without_creating_a_store(tmp_path):
    folders = {
        "FRAUDGUARD__RUNTIME_DIR": str(tmp_path / "var"),
        "FRAUDGUARD__MODEL__EXPORT_DIR": str(tmp_path / "models"),
    }
    settings = load_settings(CONFIG_FILE, environ=folders)
    assert ensure_model(settings).startswith("no champion yet: the bootstrap model")
    served = json.loads((settings.model.export_dir / "champion" / "metadata.json").read_text())
    assert served["version"] == "bootstrap"
    assert not (settings.runtime_dir / "mlflow").exists(), "MLflow's first connection would create the store"
