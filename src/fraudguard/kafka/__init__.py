"""Kafka plumbing: client factories, the topic registry on a cluster, the development broker."""
