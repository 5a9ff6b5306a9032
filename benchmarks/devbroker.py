"""Development broker figures: start-up time, RSS idle and after load, produce throughput, stop time.

.venv/bin/python benchmarks/devbroker.py [--messages 200000] [--size 200]   -> one JSON object
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import psutil

from fraudguard.config import TopicRole, default_config_path, load_settings
from fraudguard.kafka.clients import make_producer
from fraudguard.kafka.devbroker import control


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runtime:
        config = default_config_path()
        settings = load_settings(config, environ={"FRAUDGUARD__RUNTIME_DIR": runtime})
        started = time.perf_counter()
        state, _ = control.start_detached(settings)
        startup_s = time.perf_counter() - started
        process = psutil.Process(state.pid)
        time.sleep(0.5)
        rss_idle = process.memory_info().rss

        producer = make_producer(settings)
        topic = settings.topics.get(TopicRole.TRANSACTIONS).name
        payload = b"x" * args.size
        started = time.perf_counter()
        for number in range(args.messages):
            while True:
                try:
                    producer.produce(topic, key=str(number % 10_000), value=payload)
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(60)
        produce_s = time.perf_counter() - started
        rss_loaded = process.memory_info().rss

        started = time.perf_counter()
        control.stop(settings)
        stop_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "benchmark": "devbroker",
                "brokers": state.brokers,
                "startup_s": round(startup_s, 3),
                "rss_idle_mb": round(rss_idle / 2**20, 1),
                "messages": args.messages,
                "message_bytes": args.size,
                "produce_msgs_per_s": round(args.messages / produce_s),
                "rss_after_load_mb": round(rss_loaded / 2**20, 1),
                "stop_s": round(stop_s, 3),
                "left_running": psutil.pid_exists(state.pid) and state.is_alive(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
