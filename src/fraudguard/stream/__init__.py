"""The Structured Streaming scoring job: Kafka in, per-user state, champion scoring, alerts out."""
