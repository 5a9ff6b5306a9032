"""
### fraud_traffic_simulation: publish live traffic for a while

The Faker world (users, merchants, then transactions with fraud scenarios) published to the Kafka
topics at a target rate, for a set duration: what the streaming job scores and the alert service shows.
The task log shows the achieved rate every 10 s; the report (records per topic) is its XCom.

#### Params
- `rate`: transactions per second.
- `duration_s`: how long to publish, in seconds.
- `fraud_rate`: share of the transactions that are fraud.
- `scenario_mix`: share of the fraud per scenario (account_takeover, card_testing,
  compromised_merchant, impossible_travel, fresh_account_abuse); the shares sum to 1.
- `users`: users in the world at the start.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from fraudguard.config import load_settings
from fraudguard.orchestration.traffic import publish_traffic

SIMULATOR = load_settings().simulator


@dag(
    dag_id="fraud_traffic_simulation",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["fraudguard", "simulation"],
    params={
        "rate": Param(
            SIMULATOR.live_rate, type="number", exclusiveMinimum=0, title="Transactions per second"
        ),
        "duration_s": Param(300, type="integer", minimum=1, maximum=86_400, title="Duration (s)"),
        "fraud_rate": Param(SIMULATOR.fraud_rate, type="number", exclusiveMinimum=0, maximum=0.5),
        "scenario_mix": Param(SIMULATOR.scenario_mix.model_dump(), type="object", title="Scenario mix"),
        "users": Param(SIMULATOR.users, type="integer", minimum=10),
    },
)
def fraud_traffic_simulation():
    @task
    def publish() -> dict:
        params = get_current_context()["params"]
        return publish_traffic(
            load_settings(),
            rate=params["rate"],
            duration_s=params["duration_s"],
            fraud_rate=params["fraud_rate"],
            scenario_mix=params["scenario_mix"],
            users=params["users"],
        )

    publish()


fraud_traffic_simulation()
