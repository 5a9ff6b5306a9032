"""
### fraud_model_training: the nightly retraining

Runs every night (`training.schedule` in the platform config, default 02:00 UTC); each run's data
interval is the day before. Trigger it from the UI to retrain now: the form's choices apply to that run.

1. **generate_data**: Faker transactions for the `window_days` ending where the data interval ends
   (a new world every night; the same one when an interval is re-run). With `dataset` set to an
   imported dataset, steps 1-2 use it as it is, and steps 4-8 train, gate and promote its own model.
2. **assemble_training_set**: adds what the streaming job scored before the interval's end and, where
   analysts reviewed an alert, their verdict instead of the original label.
3. **validate_training_set**: schema, row count, fraud share, nulls, duplicates, unknown users or
   merchants, and enough days and frauds for train / validation / test. A failure names the check
   and its numbers, and nothing is trained.
4. **train_model**: the MLlib pipeline, logged as an MLflow run (metrics, PR curve, model).
5. **evaluate_challenger**: the new model and the current champion scored on the same test days.
6. **register_challenger**: a registry version with alias `challenger`. Re-running an interval with
   the same choices registers nothing new.
7. **promotion_gate**: promote when there is no champion or the challenger's AUC-PR is at least the
   champion's; the decision is recorded on the version.
8. **promote_champion** then **restart_stream** (only if the streaming job runs), or **keep_champion**.

#### Params
- `window_days`: days of new synthetic data (at least test + label delay + validation + 1 days).
- `users`: the synthetic world's users (merchants scale with them).
- `fraud_rate`: share of the synthetic transactions that are fraud.
- `classifier`: `xgboost`, `gbt`, `random_forest`, `logistic_regression` or `isolation_forest` (learns without
  labels, which only evaluate it and set its threshold), for an imported dataset too (from the command
  line, `fraudguard train --dataset` uses `datasets.classifier`).
- `include_scored_history`: add the stream's scored history.
- `include_confirmed_labels`: count analysts' verdicts from the labels topic.
- `anomaly_feature`: the supervised classifier also gets an isolation forest's anomaly score as an
  input (the forest fitted on the training rows only).
- `dataset`: `faker` (a new synthetic world), or the name of a dataset imported with
  `fraudguard data import` (e.g. `paysim`, `creditcard`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from fraudguard.config import default_config_path, load_settings
from fraudguard.config.model import DATASET_NAME_PATTERN, Classifier
from fraudguard.orchestration import training

SETTINGS = load_settings()
DEFAULTS = training.default_choices(SETTINGS)
RETRY = {"retries": 3, "retry_delay": timedelta(seconds=20), "retry_exponential_backoff": True}


def _run() -> tuple:
    settings = load_settings()
    return settings, training.TrainingRun.from_context(settings, get_current_context())


@dag(
    dag_id="fraud_model_training",
    schedule=CronTriggerTimetable(
        SETTINGS.training.schedule, timezone=SETTINGS.training.timezone, interval=timedelta(days=1)
    ),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["fraudguard", "model"],
    params={
        "window_days": Param(DEFAULTS["window_days"], type="integer", minimum=2, title="Window (days)"),
        "users": Param(DEFAULTS["users"], type="integer", minimum=10, title="Synthetic users"),
        "fraud_rate": Param(DEFAULTS["fraud_rate"], type="number", exclusiveMinimum=0, maximum=0.5),
        "classifier": Param(DEFAULTS["classifier"], enum=list(get_args(Classifier))),
        "include_scored_history": Param(DEFAULTS["include_scored_history"], type="boolean"),
        "include_confirmed_labels": Param(DEFAULTS["include_confirmed_labels"], type="boolean"),
        "dataset": Param(DEFAULTS["dataset"], type="string", pattern=DATASET_NAME_PATTERN),
        "anomaly_feature": Param(DEFAULTS["anomaly_feature"], type="boolean"),
    },
)
def fraud_model_training():
    @task
    def generate_data() -> dict:
        return training.generate(*_run())

    @task(retries=1)
    def assemble_training_set() -> dict:
        return training.assemble_training_set(*_run())

    @task
    def validate_training_set() -> list:
        return training.validate_training_set(*_run())

    @task
    def train_model() -> dict:
        return training.train_model(*_run())

    @task(retries=1)
    def evaluate_challenger(trained: dict) -> dict:
        return training.evaluate_challenger(*_run(), trained["run_id"])

    @task(**RETRY)
    def register_challenger(trained: dict) -> str:
        return training.register_challenger(*_run(), trained["run_id"])

    @task.branch(**RETRY)
    def promotion_gate(version: str, evaluation: dict) -> str:
        decision = training.promotion_gate(*_run(), version, evaluation)
        return "promote_champion" if decision["promoted"] else "keep_champion"

    @task(**RETRY)
    def promote_champion(version: str) -> dict:
        return training.promote_champion(*_run(), version)

    @task
    def keep_champion() -> None:
        """The challenger stays registered with its alias; the gate's reason is on its tags."""

    @task(**RETRY)
    def restart_stream() -> dict:
        outcome = training.restart_stream(*_run(), str(default_config_path()))
        if not outcome["restarted"]:
            raise AirflowSkipException(outcome["reason"])
        return outcome

    trained = generate_data() >> assemble_training_set() >> validate_training_set() >> train_model()
    evaluation = evaluate_challenger(trained)
    version = register_challenger(trained)
    evaluation >> version
    gate = promotion_gate(version, evaluation)
    promoted = promote_champion(version)
    gate >> [promoted, keep_champion()]
    promoted >> restart_stream()


fraud_model_training()
