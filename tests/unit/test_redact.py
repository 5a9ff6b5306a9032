"""Secrets stay out of what people and other users of the machine can see."""

from __future__ import annotations

from fraudguard.config import load_settings
from fraudguard.platform import mlflow_ui
from fraudguard.redact import url_origin, without_credentials
from tests.conftest import CONFIG_FILE


def test_passwords_in_urls_are_masked_wherever_they_appear():
    text = "connect failed: postgresql+psycopg://fraud:p%40ss@db:5432/alerts (and s3a://key:sec@bucket/x)"
    assert without_credentials(text) == (
        "connect failed: postgresql+psycopg://fraud:**********@db:5432/alerts (and s3a://key:**********@bucket/x)"
    )
    assert without_credentials("sqlite:////tmp/mlflow.db http://host:8080/path") == (
        "sqlite:////tmp/mlflow.db http://host:8080/path"
    ), "a port is not a password"
    assert (
        url_origin("https://hooks.chat.test:8443/services/T1/B2/key")
        == "https://hooks.chat.test:8443/**********"
    )


def test_the_mlflow_ui_gets_its_store_by_environment_not_on_its_command_line():
    uri = "postgresql://ml:ml-secret@db.bank.test/mlflow"
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__MLFLOW__TRACKING_URI": uri})
    command, environ = mlflow_ui.launch(settings)
    assert not any("ml-secret" in argument for argument in command)
    assert environ["MLFLOW_BACKEND_STORE_URI"] == uri
