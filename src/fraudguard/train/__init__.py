"""Training: datasets and splits, the MLlib pipeline, evaluation, MLflow registration and promotion."""
