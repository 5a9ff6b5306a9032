-- One PostgreSQL server, one database per component (the password is the server's, from the environment).
CREATE DATABASE airflow;
CREATE DATABASE mlflow;
CREATE DATABASE alerts;
