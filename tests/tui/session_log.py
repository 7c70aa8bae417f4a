"""Hand-made sessions for the showcase stores: each event written at a fixed time, so
the same log gives the same picture on every run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness_tui import events as ev
from harness_tui.events import Event
from harness_tui.store import LeaseHolder

T0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)
# Running turns and tasks belong to an engine on another machine sharing the store,
# which holds their sessions' leases (REMOTE_HOLDER, for as long as the test runs): an
# engine opening this store leaves them running.
REMOTE_OWNER = {"host": "build-agent-7.example", "pid": 4242, "start": "1", "engine": "remote7"}
REMOTE_HOLDER = LeaseHolder("remote7", "build-agent-7.example", 4242, "1")
REMOTE_LEASE_S = 3600.0


@dataclass
class SessionLog:
    session_id: str
    events: list[Event] = field(default_factory=list)

    def add(self, at: float, type_: str, **data: Any) -> None:
        """`at`: minutes after T0."""
        seq = len(self.events) + 1
        self.events.append(Event(self.session_id, seq, type_, data, ts=T0 + timedelta(minutes=at)))


def created(
    session: SessionLog,
    at: float,
    title: str,
    *,
    provider: str = "anthropic",
    model: str = "claude-sonnet-5-5",
    mode: str = "untrusted",
    **extra: Any,
) -> None:
    session.add(
        at,
        ev.SESSION_CREATED,
        title=title,
        project="/src/shop",
        workspace="/src/shop",
        provider=provider,
        model=model,
        approval_mode=mode,
        **extra,
    )
    session.add(at, ev.SESSION_STATUS, status="idle")


def turn(session: SessionLog, at: float, prompt: str, mode: str = "prompt") -> None:
    session.add(at, ev.INPUT_RECEIVED, text=prompt, mode=mode)
    session.add(at, ev.TURN_STARTED, owner=REMOTE_OWNER)
    session.add(at, ev.SESSION_STATUS, status="running")


def reply(
    session: SessionLog,
    at: float,
    text: str,
    calls: list[tuple[str, str, dict[str, Any]]] = (),  # type: ignore[assignment]
    *,
    tokens: tuple[int, int] = (1800, 120),
    cost: float = 0.0072,
) -> None:
    session.add(
        at,
        ev.MODEL_COMPLETED,
        text=text,
        tool_calls=[{"id": cid, "name": name, "arguments": args} for cid, name, args in calls],
        usage={"input_tokens": tokens[0], "output_tokens": tokens[1], "cost_usd": cost},
        stop_reason="tool_use" if calls else "end_turn",
    )


def tool_call(
    session: SessionLog,
    at: float,
    call_id: str,
    tool: str,
    args: dict[str, Any],
    result: str,
    *,
    rule: str | None = None,
    ms: int = 40,
) -> None:
    session.add(at, ev.TOOL_REQUESTED, call_id=call_id, tool=tool, args=args)
    decided: dict[str, Any] = {"call_id": call_id, "decision": "allow", "risk": "low"}
    decided["reason"] = "read-only tool" if tool != "bash" else "allowed by rule"
    if rule:
        decided["rule_id"] = rule
    session.add(at, ev.POLICY_DECIDED, **decided)
    session.add(at, ev.TOOL_COMPLETED, call_id=call_id, result=result, duration_ms=ms)


def end(session: SessionLog, at: float, reason: str, status: str, error: str | None = None) -> None:
    data: dict[str, Any] = {"reason": reason}
    if error:
        data["error"] = error
    session.add(at, ev.TURN_COMPLETED, **data)
    session.add(at, ev.SESSION_STATUS, status=status)
