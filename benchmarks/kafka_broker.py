"""Local Kafka figures: start-up (first, with the storage format, and again), RSS idle and after load,
produce rate from one Python process, produce-to-consume latency, stop time, what is left running.

.venv/bin/python benchmarks/kafka_broker.py [--messages 200000] [--size 200] [--latency-rate 1000]
    -> one JSON object
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time

import numpy as np
import psutil
from local_kafka import FREE_PORTS, local_kafka

from fraudguard.config import TopicRole, default_config_path, load_settings
from fraudguard.kafka.clients import make_consumer, make_producer
from fraudguard.kafka.local_broker import control


def produce_rate(settings, topic: str, messages: int, size: int) -> float:
    producer = make_producer(settings)
    payload = b"x" * size
    started = time.perf_counter()
    for number in range(messages):
        while True:
            try:
                producer.produce(topic, key=str(number % 10_000), value=payload)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(120) == 0
    return messages / (time.perf_counter() - started)


def latencies(settings, topic: str, rate: float, seconds: float) -> list[float]:
    """Seconds from produce() to the consumer's poll() returning it, for messages sent at `rate` once both
    clients are connected (a first message has gone through)."""
    consumer = make_consumer(settings, "latency", **{"auto.offset.reset": "latest"})
    consumer.subscribe([topic])
    producer = make_producer(settings)
    while True:
        producer.produce(topic, value=b"warm-up")
        producer.flush(10)
        message = consumer.poll(1.0)
        if message is not None and not message.error():
            break
    while consumer.poll(0.5) is not None:  # the rest of the warm-up
        pass
    received: list[float] = []
    count = int(rate * seconds)

    def consume() -> None:
        deadline = time.monotonic() + seconds + 30
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None and not message.error():
                received.append(time.time() - float(message.value()))

    reader = threading.Thread(target=consume)
    reader.start()
    began = time.monotonic()
    for number in range(count):
        time.sleep(max(0.0, began + number / rate - time.monotonic()))
        producer.produce(topic, value=repr(time.time()).encode())
        producer.poll(0)
    producer.flush(30)
    reader.join()
    consumer.close()
    return received


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--latency-rate", type=float, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runtime:
        settings = load_settings(
            default_config_path(), environ={"FRAUDGUARD__RUNTIME_DIR": runtime, **FREE_PORTS}
        )
        with local_kafka(settings) as first:
            pass
        started = time.perf_counter()
        with local_kafka(settings) as again:
            restart_s = time.perf_counter() - started
            (pid,) = control.running_nodes(settings).values()
            process = psutil.Process(pid)
            time.sleep(5)
            rss_idle = process.memory_info().rss
            topic = settings.topics.get(TopicRole.TRANSACTIONS).name
            rate = produce_rate(settings, topic, args.messages, args.size)
            rss_loaded = process.memory_info().rss
            seen = latencies(settings, settings.topics.get(TopicRole.ALERTS).name, args.latency_rate,
                             args.latency_seconds)  # fmt: skip
            started = time.perf_counter()
        stop_s = time.perf_counter() - started
        left = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    print(
        json.dumps(
            {
                "benchmark": "kafka_broker",
                "kafka_nodes": len(again.layout.nodes),
                "heap": settings.local_broker.heap,
                "first_start_s": round(first.seconds, 2),
                "restart_s": round(restart_s, 2),
                "rss_idle_mb": round(rss_idle / 2**20, 1),
                "messages": args.messages,
                "message_bytes": args.size,
                "produce_msgs_per_s": round(rate),
                "rss_after_load_mb": round(rss_loaded / 2**20, 1),
                "latency_rate_per_s": args.latency_rate,
                "latency_messages": len(seen),
                "latency_p50_ms": round(float(np.percentile(seen, 50)) * 1000, 2),
                "latency_p99_ms": round(float(np.percentile(seen, 99)) * 1000, 2),
                "stop_s": round(stop_s, 2),
                "left_running": left,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
