"""A fresh installation serves the shipped bootstrap model until its first champion, and never replaces
an export a promotion wrote."""

from __future__ import annotations

import json

import pytest

from fraudguard.config import load_settings
from fraudguard.train import bootstrap
from tests.conftest import CONFIG_FILE, PROJECT_ROOT


def settings_with(tmp_path, shipped):
    return load_settings(
        CONFIG_FILE,
        environ={
            "FRAUDGUARD__RUNTIME_DIR": str(tmp_path / "var"),
            "FRAUDGUARD__MODEL__EXPORT_DIR": str(tmp_path / "models"),
            "FRAUDGUARD__MODEL__BOOTSTRAP_DIR": str(shipped),
        },
    )


def test_the_shipped_model_says_where_it_came_from():
    shipped = PROJECT_ROOT / "models" / "bootstrap"
    metadata = json.loads((shipped / "metadata.json").read_text())
    provenance = json.loads((shipped / "provenance.json").read_text())
    assert metadata["version"] == bootstrap.BOOTSTRAP_VERSION and 0 < metadata["threshold"] < 1
    assert (shipped / "pipeline" / "metadata").is_dir() and (shipped / "pipeline" / "stages").is_dir()
    assert provenance["made_by"] == "fraudguard model bootstrap"
    assert provenance["world"] == {"simulator": "faker", **bootstrap.BOOTSTRAP_WORLD}
    assert provenance["feature_set"] == metadata["feature_set"] and provenance["test_metrics"]["auc_pr"] > 0.5


def test_it_is_installed_once_and_a_promoted_export_is_left_alone(tmp_path):
    shipped = tmp_path / "shipped"
    (shipped / "pipeline").mkdir(parents=True)
    (shipped / "metadata.json").write_text(json.dumps({"version": "bootstrap"}))
    settings = settings_with(tmp_path, shipped)
    assert bootstrap.install(settings) is True
    served = settings.model.export_dir / "champion"
    assert json.loads((served / "metadata.json").read_text())["version"] == "bootstrap"

    (shipped / "metadata.json").write_text(json.dumps({"version": "bootstrap", "changed": True}))
    assert bootstrap.install(settings) is False, "an export is there: the bootstrap is not needed"
    assert "changed" not in json.loads((served / "metadata.json").read_text())


def test_a_missing_bootstrap_model_names_the_command_that_makes_it(tmp_path):
    settings = settings_with(tmp_path, tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="fraudguard model bootstrap"):
        bootstrap.install(settings)
