"""Tether native events (schema_version 1) and where they go."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Optional

#: send(key, value): publish one record; the key is the root agent id, as
#: the daemon expects (one agent lineage per partition).
EventSink = Callable[[bytes, bytes], None]

Event = dict


def new_event_id() -> str:
    return uuid.uuid4().hex


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(ev: Event) -> tuple[bytes, bytes]:
    """The Kafka key and value of an event."""
    key = (ev.get("tether.root_agent.id") or ev["gen_ai.agent.id"]).encode()
    return key, json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode()


def arguments(value: Any) -> Any:
    """Tool arguments as JSON: a JSON string is decoded, other values kept."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def text(value: Any) -> Optional[str]:
    """A tool output or message content as text."""
    if value is None:
        return None
    content = getattr(value, "content", value)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        parts = [b.get("text", "") if isinstance(b, dict) else str(b) for b in content]
        return "\n".join(p for p in parts if p)
    try:
        return json.dumps(content, ensure_ascii=False, default=str)
    except TypeError:
        return str(content)
