"""A separate Kafka client process for integration tests: produce or consume with the platform's factories.

python kafka_peer.py produce TOPIC COUNT [START]          -> {"delivered": n}
python kafka_peer.py consume TOPIC GROUP MAX IDLE_S       -> {"values": [...]} (commits after each)
"""

from __future__ import annotations

import json
import sys
import time

from fraudguard.config import load_settings
from fraudguard.kafka.clients import make_consumer, make_producer


def produce(topic: str, count: int, start: int = 0) -> dict:
    producer = make_producer(load_settings())
    delivered = []
    for number in range(start, start + count):
        producer.produce(
            topic,
            key=str(number % 17),
            value=str(number),
            on_delivery=lambda error, _msg: delivered.append(error is None),
        )
        producer.poll(0)
    producer.flush(30)
    return {"delivered": sum(delivered), "failed": delivered.count(False)}


def consume(topic: str, group: str, limit: int, idle_s: float) -> dict:
    consumer = make_consumer(load_settings(), group_id=group)
    consumer.subscribe([topic])
    values: list[str] = []
    last_message = time.monotonic()
    try:
        while len(values) < limit and time.monotonic() - last_message < idle_s:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            values.append(message.value().decode())
            consumer.commit(message=message, asynchronous=False)
            last_message = time.monotonic()
    finally:
        consumer.close()
    return {"values": values}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "produce":
        result = produce(args[0], int(args[1]), int(args[2]) if len(args) > 2 else 0)
    else:
        result = consume(args[0], args[1], int(args[2]), float(args[3]))
    print(json.dumps(result))
