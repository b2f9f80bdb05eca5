"""A LangChain callback handler that emits Tether events.

Every chat-model call, tool call and tool result of the runs it is attached
to becomes a Tether event of one agent session:

  session(user_text)     session_start (content: the user's request) ... session_end
  chat model start       message (role user) when the last input message is the user's
  chat model end         reasoning (the assistant's text), with the model name
  tool start / end       tool_call (gen_ai.tool.name, .call.id, .call.arguments) /
                         tool_result (gen_ai.tool.call.result)
  tool error             tool_result with tether.error and error.type (the exception class)

A sub-agent gets its own handler made with handler.child(agent_id,
session_id): its events carry the lineage, and the parent records an
agent_spawn.
"""
from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, Optional
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import LLMResult

from .events import Event, EventSink, arguments, encode, new_event_id, rfc3339, text


class TetherCallbackHandler(BaseCallbackHandler):
    raise_error = True  # a failing sink surfaces instead of silently dropping events

    def __init__(self, send: EventSink, agent_id: str, session_id: str, *, agent_name: str = "",
                 principal: str = "", provider: str = "", model: str = "",
                 root_agent_id: str = "", parent_agent_id: str = "", parent_session_id: str = "",
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 new_id: Callable[[], str] = new_event_id):
        self.send, self.clock, self.new_id = send, clock, new_id
        self.agent_id, self.session_id = agent_id, session_id
        self.agent_name, self.principal, self.provider, self.model = agent_name, principal, provider, model
        self.root_agent_id, self.parent_agent_id, self.parent_session_id = root_agent_id, parent_agent_id, parent_session_id
        self.step = 0
        self._tools: Dict[UUID, Dict[str, Any]] = {}

    # --- events -----------------------------------------------------------

    def emit(self, kind: str, **fields: Any) -> Event:
        ev: Event = {"schema_version": 1, "event_id": self.new_id(), "kind": kind, "time": rfc3339(self.clock()),
                     "gen_ai.agent.id": self.agent_id, "gen_ai.conversation.id": self.session_id,
                     "tether.step": self.step}
        self.step += 1
        for k, v in (("gen_ai.agent.name", self.agent_name), ("tether.principal", self.principal),
                     ("gen_ai.provider.name", self.provider), ("gen_ai.request.model", self.model),
                     ("tether.root_agent.id", self.root_agent_id), ("tether.parent_agent.id", self.parent_agent_id),
                     ("tether.parent_session.id", self.parent_session_id)):
            if v:
                ev[k] = v
        ev.update({k: v for k, v in fields.items() if v not in (None, "")})
        self.send(*encode(ev))
        return ev

    @contextlib.contextmanager
    def session(self, user_text: str = "") -> Iterator["TetherCallbackHandler"]:
        """session_start … session_end around one agent run."""
        self.emit("session_start", **{"tether.content": user_text})
        try:
            yield self
        finally:
            self.emit("session_end")

    def child(self, agent_id: str, session_id: str, **kw: Any) -> "TetherCallbackHandler":
        """A handler for a sub-agent; records the agent_spawn on this one."""
        self.emit("agent_spawn", **{"tether.child_agent.id": agent_id, "tether.child_session.id": session_id})
        kw.setdefault("principal", self.principal)
        kw.setdefault("provider", self.provider)
        return TetherCallbackHandler(self.send, agent_id, session_id, root_agent_id=self.root_agent_id or self.agent_id,
                                     parent_agent_id=self.agent_id, parent_session_id=self.session_id,
                                     clock=self.clock, new_id=self.new_id, **kw)

    # --- LangChain callbacks ------------------------------------------------

    def on_chat_model_start(self, serialized: Dict[str, Any], messages: List[List[BaseMessage]], *,
                            run_id: UUID, **kwargs: Any) -> None:
        batch = messages[0] if messages else []
        if batch and isinstance(batch[-1], HumanMessage):
            self.emit("message", **{"tether.role": "user", "tether.content": text(batch[-1])})

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        for gens in response.generations:
            for g in gens:
                msg = getattr(g, "message", None)
                content = text(msg) if isinstance(msg, AIMessage) else g.text
                model = ""
                if msg is not None:
                    meta = getattr(msg, "response_metadata", {}) or {}
                    model = meta.get("model_name") or meta.get("model") or ""
                if content:
                    self.emit("reasoning", **{"tether.role": "assistant", "tether.content": content,
                                              "gen_ai.request.model": model or self.model})

    def on_tool_start(self, serialized: Dict[str, Any], input_str: str, *, run_id: UUID,
                      inputs: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        name = (serialized or {}).get("name") or kwargs.get("name") or "unknown"
        call_id = kwargs.get("tool_call_id") or str(run_id)
        self._tools[run_id] = {"name": name, "call_id": call_id}
        self.emit("tool_call", **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                                  "gen_ai.tool.call.id": call_id,
                                  "gen_ai.tool.call.arguments": inputs if inputs is not None else arguments(input_str)})

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        t = self._tools.pop(run_id, {"name": kwargs.get("name") or "unknown", "call_id": str(run_id)})
        call_id = getattr(output, "tool_call_id", None) or t["call_id"]
        self.emit("tool_result", **{"gen_ai.tool.name": t["name"], "gen_ai.tool.call.id": call_id,
                                    "gen_ai.tool.call.result": text(output)})

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        t = self._tools.pop(run_id, {"name": kwargs.get("name") or "unknown", "call_id": str(run_id)})
        self.emit("tool_result", **{"gen_ai.tool.name": t["name"], "gen_ai.tool.call.id": t["call_id"],
                                    "tether.error": str(error) or type(error).__name__,
                                    "error.type": type(error).__name__})
