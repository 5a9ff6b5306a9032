"""Datasets a team brings: the public fraud datasets and any labelled CSV or Parquet file."""
