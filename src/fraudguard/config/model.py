"""The typed settings tree: every configuration key the platform knows is declared here once.

Models forbid unknown keys so that a typo fails loudly instead of being ignored, and secrets are
`SecretStr` so they never appear in logs or in `fraudguard config show`. Locations may start with
`{runtime_dir}`, which the loader replaces with the runtime folder.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

LOCAL_BROKER = "local"
"""`kafka.bootstrap_servers` value meaning: the platform's local Kafka broker (`local_broker`)."""
RUNTIME_DIR = "{runtime_dir}"
"""Stands for the resolved `runtime_dir` in a location's value."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(Section):
    """How every client reaches Kafka; the same keys work for the local broker and any cluster."""

    bootstrap_servers: str = Field(
        LOCAL_BROKER,
        description="'local' for the platform's local Kafka broker, else host:port[,host:port...]",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(None, description="set it from the environment")
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = Field(None, description="set it from the environment")
    client_properties: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="extra librdkafka properties passed to every client, e.g. {linger.ms: 5}",
    )
    java_client_properties: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="extra Java client properties for Spark's Kafka connector, e.g. {max.poll.records: 5000}",
    )

    @property
    def uses_local_broker(self) -> bool:
        return self.bootstrap_servers == LOCAL_BROKER

    @model_validator(mode="after")
    def _sasl_needs_a_mechanism(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and self.sasl_mechanism is None:
            raise ValueError(
                f"expected sasl_mechanism to be set when security_protocol is {self.security_protocol}"
            )
        return self


DATASET_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
"""An imported dataset's name: its folder, and the suffix of its topics and registered model."""


class TopicRole(StrEnum):
    """What a topic carries; code refers to topics by role, never by a literal name."""

    TRANSACTIONS = "transactions"
    USERS = "users"
    MERCHANTS = "merchants"
    LABELS = "labels"
    SESSIONS = "sessions"
    ALERTS = "alerts"
    AGGREGATES = "aggregates"
    DEAD_LETTER = "dead_letter"


class TopicSettings(Section):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    partitions: Annotated[int, Field(ge=1, le=1000)]
    replication_factor: Annotated[int, Field(ge=-1, le=10)] = Field(
        -1, description="-1 means the cluster's default"
    )
    compacted: bool = Field(False, description="latest record per key wins (tables)")
    retention_hours: Annotated[float, Field(gt=0)] | None = Field(
        None, description="how long messages are kept; null = the cluster's default (not for compacted)"
    )

    @model_validator(mode="after")
    def _compacted_topics_keep_every_key(self) -> TopicSettings:
        if self.compacted and self.retention_hours is not None:
            raise ValueError("expected retention_hours to be null for a compacted topic (it keeps every key)")
        return self

    def kafka_config(self) -> dict[str, str]:
        """The topic-level Kafka configs this entry asks for."""
        if self.compacted:
            return {"cleanup.policy": "compact"}
        if self.retention_hours is not None:
            return {"retention.ms": str(round(self.retention_hours * 3_600_000))}
        return {}


class TopicsSettings(Section):
    """The topic registry: one entry per role."""

    transactions: TopicSettings = TopicSettings(name="transactions", partitions=6)
    users: TopicSettings = TopicSettings(name="users", partitions=3, compacted=True)
    merchants: TopicSettings = TopicSettings(name="merchants", partitions=3, compacted=True)
    labels: TopicSettings = TopicSettings(name="labels", partitions=3, retention_hours=720)
    sessions: TopicSettings = TopicSettings(name="sessions", partitions=6)
    alerts: TopicSettings = TopicSettings(name="fraud-alerts", partitions=3)
    aggregates: TopicSettings = TopicSettings(name="live-aggregates", partitions=1, compacted=True)
    dead_letter: TopicSettings = TopicSettings(name="dead-letter", partitions=1)

    def get(self, role: TopicRole) -> TopicSettings:
        return getattr(self, role.value)

    def all(self) -> dict[TopicRole, TopicSettings]:
        return {role: self.get(role) for role in TopicRole}

    @model_validator(mode="after")
    def _names_are_unique(self) -> TopicsSettings:
        names = [t.name for t in self.all().values()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"expected a distinct name per topic, got {', '.join(duplicates)} twice")
        return self


class JvmSettings(Section):
    """Java and the pinned Maven Central artifacts (the local Kafka broker's jars), fetched once."""

    java_home: Path | None = Field(None, description="null = $JAVA_HOME, else `java` on the PATH")
    jars_dir: Path = Field(
        Path("../.cache/jars"), description="where the pinned jars are copied (one folder per set)"
    )


class LocalBrokerSettings(Section):
    """The platform's local Apache Kafka (KRaft, each node a combined broker and controller)."""

    nodes: Annotated[int, Field(ge=1, le=5)] = Field(
        1, description="nodes of a new cluster (3 for fault tests); fixed once its storage is formatted"
    )
    port: Annotated[int, Field(ge=0, le=65535)] = Field(
        9092,
        description="node N's client port is port+2(N-1), its controller's the next one; "
        "0 = free ports chosen when the storage is formatted, then kept",
    )
    heap: Annotated[str, Field(pattern=r"^[1-9][0-9]*[mMgG]$")] = Field(
        "512m", description="maximum Java heap per node (-Xmx)"
    )
    start_timeout_s: Annotated[float, Field(gt=0)] = 90.0
    stop_timeout_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="a node not stopped this long after SIGTERM is killed"
    )


class SparkSettings(Section):
    """Where and how Spark jobs run; `master` is a cluster URL when moving off one machine."""

    master: str = "local[2]"
    shuffle_partitions: Annotated[int, Field(ge=1)] = 4
    driver_memory: str = "2g"
    java_options: str = Field(
        "-XX:+UseParallelGC",
        description="the driver's and executors' JVM options; the throughput collector scores "
        "micro-batches faster than the JVM's default one where the JVMs share few cores",
    )
    conf: dict[str, str] = Field(default_factory=dict, description="any other spark.* property")


class FeatureSettings(Section):
    """Feature computation shared by training and serving."""

    label_delay_days: Annotated[int, Field(ge=0)] = Field(
        7, description="labels are known only this long after the transaction (no leakage)"
    )
    early_chargebacks: bool = Field(
        True,
        description="also rate a merchant on its payments inside the label delay, from the chargebacks "
        "already reported; off for data whose labels' report times stand for no real arrival",
    )


Classifier = Literal["gbt", "xgboost", "logistic_regression", "random_forest", "isolation_forest"]
"""The model's last stage; `isolation_forest` learns without labels (they only evaluate it)."""


class ModelSettings(Section):
    """The fraud model: which classifier, how it is split, searched and registered."""

    classifier: Classifier = Field(
        "xgboost",
        description="the last stage; isolation_forest is fitted without labels, which only evaluate it "
        "and set its threshold",
    )
    anomaly_feature: bool = Field(
        False,
        description="a supervised classifier also gets an isolation forest's anomaly score as an input "
        "(the forest fitted on the training rows only)",
    )
    registered_name: str = "fraud-detector"
    test_days: Annotated[int, Field(ge=1)] = 7
    validation_days: Annotated[int, Field(ge=1)] = 3
    fraud_weight: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="weight of a fraud row in training; null = square root of the legitimate/fraud ratio",
    )
    search_budget_s: Annotated[float, Field(ge=0)] = Field(
        300, description="time the hyperparameter search may take (0: defaults only)"
    )
    search_folds: Annotated[int, Field(ge=1)] = Field(
        3,
        description="time-ordered folds the search averages validation AUC-PR over: each earlier fold "
        "validates on the validation_days before the next one's, trained on the days before them",
    )
    calibration: Literal["platt", "none"] = Field(
        "platt",
        description="platt: a supervised model's score is mapped, on the validation days, to the share of "
        "frauds among scores like it (same ranking and alerts); none: the classifier's own probability",
    )
    threshold_objective: Literal["daily_alert_budget", "min_precision"] = "daily_alert_budget"
    daily_alert_budget: Annotated[int, Field(ge=1)] = Field(
        100, description="alerts per day at the threshold"
    )
    min_precision: Annotated[float, Field(gt=0, le=1)] = 0.5
    export_dir: Path = Field(
        Path("../models"), description="the champion's local export (fallback when the registry is down)"
    )
    bootstrap_dir: Path = Field(
        Path("../models/bootstrap"),
        description="the model served before the first champion (`fraudguard model bootstrap` makes it)",
    )


class DatasetsSettings(Section):
    """Imported datasets (`fraudguard data import`): how a model is trained on one."""

    classifier: Classifier = Field(
        "logistic_regression", description="StandardScaler + logistic regression, as the credit-card seed"
    )
    validation_share: Annotated[float, Field(gt=0, lt=0.5)] = Field(
        0.15, description="rows that pick the threshold (the next-to-last by time, or drawn at random)"
    )
    test_share: Annotated[float, Field(gt=0, lt=0.5)] = Field(
        0.2, description="rows only ever scored (the last by time, or drawn at random)"
    )
    split_seed: int = Field(42, description="the random split of a dataset without time")


class StreamSettings(Section):
    """The streaming scoring job (`fraudguard stream`)."""

    max_rows_per_batch: Annotated[int, Field(ge=1)] = Field(
        20_000, description="admission control: input rows per micro-batch at most"
    )
    trigger_interval_s: Annotated[float, Field(ge=0)] = Field(
        0.5, description="a micro-batch starts at most this often (0: as soon as the previous ends)"
    )
    starting_offsets: Literal["earliest", "latest"] = Field(
        "earliest", description="where a new job (no checkpoint yet) starts reading"
    )
    model_poll_s: Annotated[float, Field(gt=0)] = Field(
        30, description="how often the job asks the registry for a new champion"
    )
    start_timeout_s: Annotated[float, Field(gt=0)] = Field(
        180, description="`stream start --detach` waits this long for Spark, the model and the query"
    )
    stop_timeout_s: Annotated[float, Field(gt=0)] = Field(
        120, description="`stream stop` waits this long for the current batch, then kills the job"
    )
    scored_history_dir: Path = Field(
        Path(f"{RUNTIME_DIR}/scored"), description="every scored transaction, Parquet by day"
    )
    state_uri: str = Field(
        f"{RUNTIME_DIR}/stream/state",
        description="checkpoint, per-user state, record tables and batch plans: a location every Spark "
        "node sees (a URI: file:, hdfs:, s3a:, or a local path)",
    )
    session_wait_s: Annotated[float, Field(ge=0)] = Field(
        10,
        description="an online payment whose browsing events have not arrived waits this long for them "
        "(processing time), then is scored without session features",
    )
    top_products_window_s: Annotated[int, Field(ge=1, le=86_400)] = Field(
        30, description="the live aggregates' event-time window for the products most bought without an alert"
    )
    alerts_window_s: Annotated[int, Field(ge=1, le=86_400)] = Field(
        10, description="the live aggregates' event-time window for the alert count"
    )
    user_state_ttl_days: Annotated[float, Field(gt=0)] = Field(
        45, description="a user not seen for this long (processing time) is forgotten by the state store"
    )
    dataset: Annotated[str, Field(pattern=DATASET_NAME_PATTERN)] | None = Field(
        None,
        description="score an imported dataset's replay with its own champion (`stream start --dataset`); "
        "null = the simulated world",
    )


class WebhookSettings(Section):
    """HTTP POST of each new alert's JSON to a URL (off while `url` is null)."""

    url: str | None = Field(None, description="where to POST each new alert; null = no webhook")
    token: SecretStr | None = Field(None, description="sent as `Authorization: Bearer`; from the environment")
    timeout_s: Annotated[float, Field(gt=0)] = 5.0
    max_attempts: Annotated[int, Field(ge=1)] = Field(
        5, description="after this many failed attempts the alert goes to the notification dead letters"
    )
    backoff_s: Annotated[float, Field(ge=0)] = Field(
        1.0, description="wait before the first retry; doubles after every failure"
    )


class EmailSettings(Section):
    """A digest e-mail of new alerts over SMTP, at most one per interval (off while `smtp_host` is null)."""

    smtp_host: str | None = Field(None, description="null = no e-mail")
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = Field(False, description="upgrade to TLS, the server's certificate verified")
    ca_file: str | None = Field(
        None, description="PEM CA bundle to verify the server (default: the system's)"
    )
    username: str | None = None
    password: SecretStr | None = Field(None, description="set it from the environment")
    login_without_tls: bool = Field(
        False, description="allow sending the password unencrypted (a server on this machine only)"
    )
    sender: str = "fraudguard@localhost"
    recipients: list[str] = Field(default_factory=list, description="who receives the digest")
    digest_interval_s: Annotated[float, Field(gt=0)] = Field(
        300, description="at most one e-mail per interval, however many alerts arrive"
    )
    max_alerts_listed: Annotated[int, Field(ge=1)] = Field(
        50, description="a digest lists the highest-scored alerts up to this many, then counts the rest"
    )
    max_attempts: Annotated[int, Field(ge=1)] = 5
    backoff_s: Annotated[float, Field(ge=0)] = 30.0

    @model_validator(mode="after")
    def _needs_recipients(self) -> EmailSettings:
        if self.smtp_host and not self.recipients:
            raise ValueError("expected recipients (a list of addresses) when smtp_host is set")
        if self.username and not self.starttls and not self.login_without_tls:
            raise ValueError(
                "expected starttls: true when a username is set (the password would travel in clear text;"
                " login_without_tls: true allows it)"
            )
        return self


class AlertsSettings(Section):
    """The alert consumer service (`fraudguard alerts`): store, notifications, API and dashboard."""

    database_url: str = Field(
        f"sqlite:///{RUNTIME_DIR}/alerts/alerts.db",
        description="any SQLAlchemy URL. A URL with a password belongs in FRAUDGUARD__ALERTS__DATABASE_URL",
    )
    consumer_group: str = "fraudguard-alerts"
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = Field(
        1000, description="messages stored per database transaction (and per offset commit) at most"
    )
    host: str = Field("127.0.0.1", description="the API and dashboard listen here (loopback by default)")
    start_timeout_s: Annotated[float, Field(gt=0)] = Field(
        60, description="`alerts serve --detach` waits this long for the API to answer"
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="host names the API answers to (others get 400); add the name users reach it by",
    )
    port: Annotated[int, Field(ge=0, le=65535)] = 8765
    api_token: SecretStr | None = Field(
        None,
        description="a Bearer token for scripts with a reviewer's rights (users' own tokens are revocable)",
    )
    admin_user: str = Field("admin", description="the first admin, created on the first start without users")
    admin_password: SecretStr | None = Field(
        None,
        min_length=12,
        description="the first admin's password (at least 12 characters); unset = no first admin",
    )
    session_secret: SecretStr | None = Field(
        None, description="signs the sign-in cookies; unset = a random key kept in the runtime folder"
    )
    secure_cookies: bool = Field(False, description="send cookies over HTTPS only (set it behind TLS)")
    sign_in_attempts_per_minute: Annotated[int, Field(ge=1)] = Field(
        5, description="failed sign-ins allowed per user name and per client address, then 429"
    )
    labels_path: Path = Field(
        Path(f"{RUNTIME_DIR}/alerts/confirmed_labels.parquet"),
        description="confirmed review labels for retraining (Parquet)",
    )
    webhook: WebhookSettings = WebhookSettings()
    email: EmailSettings = EmailSettings()


class MlflowSettings(Section):
    """Where runs and the model registry live; default: a SQLite store in the runtime folder."""

    tracking_uri: str = Field(
        f"sqlite:///{RUNTIME_DIR}/mlflow/mlflow.db", description="the MLflow store: a database URL or http://"
    )
    experiment: str = "fraudguard"
    ui_host: str = Field("127.0.0.1", description="`fraudguard run` serves the MLflow UI here")
    ui_port: Annotated[int, Field(ge=0, le=65535)] = Field(5000, description="0 = no MLflow UI")
    ui_start_timeout_s: Annotated[float, Field(gt=0)] = 90


class ScenarioMix(Section):
    """Share of all fraudulent transactions produced by each fraud scenario (they sum to 1)."""

    account_takeover: Annotated[float, Field(ge=0)] = 0.30
    card_testing: Annotated[float, Field(ge=0)] = 0.25
    compromised_merchant: Annotated[float, Field(ge=0)] = 0.20
    impossible_travel: Annotated[float, Field(ge=0)] = 0.10
    fresh_account_abuse: Annotated[float, Field(ge=0)] = 0.15

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> ScenarioMix:
        total = sum(self.model_dump().values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"expected the scenario shares to sum to 1, got {total:g}")
        return self


class SimulatorSettings(Section):
    """The Faker world: its size, growth, fraud prevalence and scenario mix."""

    seed: int = 42
    start_date: date = date(2026, 1, 1)
    days: Annotated[int, Field(ge=1)] = 30
    users: Annotated[int, Field(ge=10)] = 5000
    merchants: Annotated[int, Field(ge=20)] = 1000
    countries: list[str] = Field(
        default_factory=lambda: ["US", "GB", "DE", "FR", "IT", "ES"],
        description="ISO codes of the countries users and merchants live in",
    )
    new_users_per_day: Annotated[float, Field(ge=0)] = 10.0
    new_merchants_per_day: Annotated[float, Field(ge=0)] = 2.0
    moves_per_day: Annotated[float, Field(ge=0)] = 3.0
    fraud_rate: Annotated[float, Field(gt=0, lt=0.5)] = 0.01
    chargeback_delay_days: Annotated[float, Field(ge=0)] = Field(
        4.0, description="mean days from a fraud to its chargeback on the labels topic"
    )
    unreported_fraud_share: Annotated[float, Field(ge=0, le=1)] = Field(
        0.1,
        description="share of frauds never reported (they stay unlabelled); 1: none confirmed yet, "
        "so `fraudguard run` starts with an isolation forest",
    )
    scenario_mix: ScenarioMix = ScenarioMix()
    live_rate: Annotated[float, Field(gt=0)] = Field(200.0, description="transactions per second")
    id_prefix: str = Field(
        "",
        description="prepended to user and merchant ids, so that worlds sharing topics and the stream's "
        "per-user state share no id (`fraudguard run` gives each run's world its own)",
    )


class TrainingSettings(Section):
    """The nightly retraining DAG (`fraud_model_training`): schedule, data and the checks it passes."""

    schedule: str = Field("0 2 * * *", description="cron expression (in `timezone`) of the nightly run")
    timezone: str = "UTC"
    window_days: Annotated[int, Field(ge=2)] = Field(
        30, description="days of new synthetic data per run, ending where the run's data interval ends"
    )
    include_scored_history: bool = Field(True, description="add the stream's scored history")
    include_confirmed_labels: bool = Field(
        True,
        description="analysts' verdicts on the labels topic count (the latest label of a transaction wins)",
    )
    min_transactions: Annotated[int, Field(ge=1)] = Field(
        10_000, description="validation: the training set has at least this many transactions"
    )
    min_fraud_share: Annotated[float, Field(ge=0, lt=1)] = 0.001
    max_fraud_share: Annotated[float, Field(gt=0, le=1)] = 0.2
    max_unknown_entity_share: Annotated[float, Field(ge=0, le=1)] = Field(
        0.01, description="validation: transactions whose user or merchant has no record, at most"
    )


class AirflowSettings(Section):
    """Local Airflow (`fraudguard airflow start`): its components, run separately, on loopback."""

    home: Path = Field(Path(f"{RUNTIME_DIR}/airflow"), description="AIRFLOW_HOME")
    dags_folder: Path = Field(Path("../dags"), description="the project's DAG files")
    host: str = Field("127.0.0.1", description="the UI and REST API listen here (loopback by default)")
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    parallelism: Annotated[int, Field(ge=1)] = Field(
        4, description="task processes at most (each idle one costs memory)"
    )
    start_timeout_s: Annotated[float, Field(gt=0)] = 180
    stop_timeout_s: Annotated[float, Field(gt=0)] = Field(
        30, description="`airflow stop` waits this long for the components, then kills what remains"
    )


class Settings(Section):
    """The whole platform configuration."""

    runtime_dir: Path = Field(
        Path("../var"),
        description="runtime state (broker address, stores, checkpoints, logs); "
        "relative to the config file's folder",
    )
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicsSettings = TopicsSettings()
    jvm: JvmSettings = JvmSettings()
    local_broker: LocalBrokerSettings = LocalBrokerSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    spark: SparkSettings = SparkSettings()
    features: FeatureSettings = FeatureSettings()
    model: ModelSettings = ModelSettings()
    datasets: DatasetsSettings = DatasetsSettings()
    stream: StreamSettings = StreamSettings()
    mlflow: MlflowSettings = MlflowSettings()
    alerts: AlertsSettings = AlertsSettings()
    training: TrainingSettings = TrainingSettings()
    airflow: AirflowSettings = AirflowSettings()
