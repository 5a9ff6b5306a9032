"""What the Airflow DAGs run, one function per task, testable without Airflow; and local Airflow."""
