"""The development broker: librdkafka's in-memory mock Kafka cluster hosted by a platform process.

It speaks the real Kafka protocol over TCP on 127.0.0.1, so every component uses it exactly as it
would use a cluster. It is for one machine only: data lives in memory (gone when it stops) and each
partition keeps only about the last 5 MB. Point `kafka.bootstrap_servers` at a real cluster otherwise.
"""
