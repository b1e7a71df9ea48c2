#!/usr/bin/python3
"""Reads every message of a topic with kafka-python (Debian python3-kafka), a
Kafka client independent of librdkafka, and prints one JSON object per
message: partition, offset, key, headers and value (text).

usage: read_topic.py BOOTSTRAP TOPIC EXPECTED [TIMEOUT_S]
Stops once EXPECTED messages were read or TIMEOUT_S (default 60) passed."""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def main():
    bootstrap, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    deadline = time.monotonic() + timeout
    partitions = None
    while partitions is None and time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            time.sleep(0.2)
    if partitions is None:
        sys.exit(f"read_topic.py: topic {topic} not found")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    seen = 0
    while seen < expected and time.monotonic() < deadline:
        for m in consumer:
            print(json.dumps({
                "partition": m.partition,
                "offset": m.offset,
                "key": None if m.key is None else m.key.decode("utf-8", "replace"),
                "headers": {k: v.decode("utf-8", "replace") for k, v in (m.headers or [])},
                "value": m.value.decode("utf-8"),
            }), flush=True)
            seen += 1
            if seen >= expected:
                break
    consumer.close()


if __name__ == "__main__":
    main()
