"""
### fraud_stream_control: start, stop, restart or inspect the streaming scoring job

Trigger it with the `action` of your choice. The job runs as its own background process (its log is
`<runtime>/logs/stream.log`, or `stream-<dataset>.log`), so it keeps running after this DAG run ends.

#### Params
- `action`:
  - `start`: start the job unless it runs; the task ends once its query runs.
  - `stop`: stop gracefully (the current micro-batch completes first).
  - `restart`: stop, then start (e.g. to serve a new champion at once instead of at the next poll).
  - `status`: report state, pid, model version, transactions, alerts and dead letters (task log and XCom).
- `dataset`: `faker` (the simulated world's job), or the name of an imported dataset: the job that scores
  its replay (`fraudguard data replay NAME`) with that dataset's champion.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from fraudguard.config import default_config_path, load_settings
from fraudguard.config.model import DATASET_NAME_PATTERN
from fraudguard.orchestration.stream_lifecycle import WORLD, StreamAction, control_stream


@dag(
    dag_id="fraud_stream_control",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["fraudguard", "stream"],
    params={
        "action": Param("status", enum=[action.value for action in StreamAction], title="Action"),
        "dataset": Param(WORLD, type="string", pattern=DATASET_NAME_PATTERN, title="Dataset"),
    },
)
def fraud_stream_control():
    @task
    def stream_action() -> dict:
        params = get_current_context()["params"]
        return control_stream(
            load_settings(), str(default_config_path()), params["action"], params["dataset"]
        )

    stream_action()


fraud_stream_control()
