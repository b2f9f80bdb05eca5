"""Emit Tether's native agent events (README, "The event format") from agent
frameworks to Kafka.

    from tether_emitter import TetherCallbackHandler, kafka_sender

    handler = TetherCallbackHandler(
        send=kafka_sender("127.0.0.1:9092", "tether.events"),
        agent_id="support-bot", session_id="conv-42", principal="alice@example.com")
    with handler.session("Summarise my inbox"):
        agent.invoke(..., config={"callbacks": [handler]})
"""
from .events import Event, EventSink, new_event_id
from .kafka import kafka_sender
from .langchain import TetherCallbackHandler

__all__ = ["Event", "EventSink", "TetherCallbackHandler", "kafka_sender", "new_event_id"]
