"""The platform's local Apache Kafka: a KRaft cluster of one node (three for fault tests) on 127.0.0.1.

Its jars come from Maven Central (`fraudguard.jvm`), its data and cluster layout live under
`<runtime_dir>/kafka` and survive restarts, its logs go to `<runtime_dir>/logs/kafka-N.log`. Topics are
made through the Admin API (`fraudguard.kafka.topics`), as on any cluster: point
`kafka.bootstrap_servers` at one and nothing else changes.
"""
