"""Kafka plumbing: client factories, the topic registry and consumer groups on a cluster, the local broker."""
