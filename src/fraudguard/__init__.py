"""fraudguard: real-time fraud detection on Kafka, Spark, MLflow and Airflow."""

__version__ = "0.1.0"
