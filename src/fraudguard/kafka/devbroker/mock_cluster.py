"""ctypes binding to librdkafka's mock Kafka cluster, the library bundled in the confluent-kafka wheel.

The mock cluster serves the real Kafka protocol on 127.0.0.1 TCP listeners, so any client in any
process can use it. It keeps data in memory only and about the last 5 MB per partition; it does not
implement the CreateTopics Admin API, which is why topics are created here through its C API.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import confluent_kafka

_RD_KAFKA_PRODUCER = 0


def _load_librdkafka() -> ctypes.CDLL:
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    candidates = sorted(libs.glob("librdkafka*.so*"))
    if not candidates:
        raise RuntimeError(f"librdkafka not found in {libs}: is confluent-kafka installed from a wheel?")
    lib = ctypes.CDLL(str(candidates[0]))
    p, i, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    signatures = {
        "rd_kafka_conf_new": ([], p),
        "rd_kafka_conf_set": ([p, s, s, s, ctypes.c_size_t], i),
        "rd_kafka_new": ([i, p, s, ctypes.c_size_t], p),
        "rd_kafka_destroy": ([p], None),
        "rd_kafka_mock_cluster_new": ([p, i], p),
        "rd_kafka_mock_cluster_destroy": ([p], None),
        "rd_kafka_mock_cluster_bootstraps": ([p], s),
        "rd_kafka_mock_topic_create": ([p, s, i, i], i),
        "rd_kafka_mock_broker_set_down": ([p, ctypes.c_int32], i),
        "rd_kafka_mock_broker_set_up": ([p, ctypes.c_int32], i),
        "rd_kafka_err2str": ([i], s),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    return lib


class MockCluster:
    """An in-memory Kafka cluster of `brokers` brokers (ids 1..brokers) living in this process."""

    def __init__(self, brokers: int) -> None:
        self._lib = _load_librdkafka()
        self.brokers = brokers
        conf = self._lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(512)
        # This handle never connects anywhere: silence its "no bootstrap.servers" notice.
        self._lib.rd_kafka_conf_set(conf, b"log_level", b"4", errstr, len(errstr))
        # The mock cluster needs an rd_kafka_t for book keeping; it never produces anything.
        self._handle = self._lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, len(errstr))
        if not self._handle:
            raise RuntimeError(f"rd_kafka_new failed: {errstr.value.decode()}")
        self._cluster = self._lib.rd_kafka_mock_cluster_new(self._handle, brokers)
        if not self._cluster:
            self._lib.rd_kafka_destroy(self._handle)
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        self.bootstrap_servers: str = self._lib.rd_kafka_mock_cluster_bootstraps(self._cluster).decode()

    def create_topic(self, name: str, partitions: int, replication_factor: int) -> None:
        self._check(
            self._lib.rd_kafka_mock_topic_create(
                self._cluster, name.encode(), partitions, replication_factor
            ),
            f"create topic {name}",
        )

    def set_broker_down(self, broker_id: int) -> None:
        """Close the broker's connections and refuse new ones (no leader change): a test hook."""
        self._check(self._lib.rd_kafka_mock_broker_set_down(self._cluster, broker_id), "broker down")

    def set_broker_up(self, broker_id: int) -> None:
        self._check(self._lib.rd_kafka_mock_broker_set_up(self._cluster, broker_id), "broker up")

    def close(self) -> None:
        if self._cluster:
            self._lib.rd_kafka_mock_cluster_destroy(self._cluster)
            self._lib.rd_kafka_destroy(self._handle)
            self._cluster = self._handle = None

    def _check(self, code: int, what: str) -> None:
        if code != 0:
            raise RuntimeError(f"{what}: {self._lib.rd_kafka_err2str(code).decode()}")
