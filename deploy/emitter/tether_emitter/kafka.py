"""A Kafka EventSink (confluent-kafka, optional dependency)."""
from __future__ import annotations

from .events import EventSink


def kafka_sender(bootstrap: str, topic: str = "tether.events", **config) -> EventSink:
    """Return send(key, value) producing to topic with confluent-kafka
    (pip install 'tether-emitter[kafka]'); call .flush() on the returned
    function's producer before exiting: send.flush()."""
    from confluent_kafka import Producer  # imported lazily: optional

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, **config})

    def send(key: bytes, value: bytes) -> None:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)

    send.flush = producer.flush  # type: ignore[attr-defined]
    return send
