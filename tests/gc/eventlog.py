"""Event logs built the way the engine writes them: per-session seq, store positions,
tool calls as tool.requested → policy.decided → (approval) → tool.completed/failed."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness_tui import events as ev
from harness_tui.events import Event

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Call:
    """Where one tool call's events landed in the log."""

    requested: int
    decided: int
    approval_resolved: int | None = None
    result: int | None = None


@dataclass
class Log:
    # Positions start high and step by 3, like a shared store where other projects'
    # events sit in between: evidence must be real positions, not list indices.
    first_position: int = 1001
    step: int = 3
    events: list[Event] = field(default_factory=list)
    clock: datetime = T0
    seqs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, session: str, type_: str, after_s: float = 1.0, **data: Any) -> int:
        self.clock += timedelta(seconds=after_s)
        self.seqs[session] += 1
        position = self.first_position + self.step * len(self.events)
        self.events.append(Event(session, self.seqs[session], type_, data, self.clock, position))
        return position

    def turn(self, session: str, text: str = "do it") -> None:
        self.add(session, ev.INPUT_RECEIVED, text=text, mode="prompt")
        self.add(session, ev.TURN_STARTED)

    def end_turn(self, session: str, reason: str = "no_tool_calls", **data: Any) -> int:
        return self.add(session, ev.TURN_COMPLETED, reason=reason, **data)

    def call(
        self,
        session: str,
        tool: str,
        *,
        decision: str = "allow",
        rule_id: str | None = None,
        reason: str = "no rule matched",
        approve: str | None = None,
        deny_reason: str | None = None,
        exit_code: int | None = 0,
        duration_ms: int = 40,
        error: str | None = None,
        approval_wait_s: float = 5,
        **args: Any,
    ) -> Call:
        """One tool call. `decision` prompt needs `approve` (allow_once, deny…); a
        forbidden or denied call ends in tool.failed as the engine records it; `error`
        makes the tool itself fail; exit_code is the bash tool's."""
        call_id = f"call_{next(self.ids)}"
        requested = self.add(session, ev.TOOL_REQUESTED, call_id=call_id, tool=tool, args=args)
        decided_data: dict[str, Any] = {
            "call_id": call_id,
            "decision": decision,
            "reason": reason,
            "risk": {"allow": "low", "prompt": "medium", "forbid": "high"}[decision],
        }
        if rule_id:
            decided_data["rule_id"] = rule_id
        decided = self.add(session, ev.POLICY_DECIDED, **decided_data)
        entry = Call(requested, decided)
        if decision == "forbid":
            entry.result = self.add(
                session, ev.TOOL_FAILED, call_id=call_id, error=f"forbidden: {reason}"
            )
            return entry
        if decision == "prompt":
            approval_id = f"ap_{call_id}"
            self.add(
                session,
                ev.APPROVAL_REQUESTED,
                approval_id=approval_id,
                call_id=call_id,
                summary=str(args),
                risk="medium",
                rule_id=rule_id,
            )
            resolved: dict[str, Any] = {
                "approval_id": approval_id,
                "decision": approve,
                "by": "tui",
            }
            if deny_reason:
                resolved["reason"] = deny_reason
            entry.approval_resolved = self.add(
                session, ev.APPROVAL_RESOLVED, after_s=approval_wait_s, **resolved
            )
            if approve == "deny":
                entry.result = self.add(
                    session, ev.TOOL_FAILED, call_id=call_id, error="denied by the user"
                )
                return entry
        if error is not None:
            entry.result = self.add(session, ev.TOOL_FAILED, call_id=call_id, error=error)
            return entry
        completed: dict[str, Any] = {
            "call_id": call_id,
            "result": "ok" if not exit_code else f"exit {exit_code}",
            "duration_ms": duration_ms,
        }
        if tool == "bash":
            completed["metadata"] = {"exit_code": exit_code, "duration_ms": duration_ms}
        if exit_code:
            completed["is_error"] = True
        entry.result = self.add(session, ev.TOOL_COMPLETED, after_s=duration_ms / 1000, **completed)
        return entry

    def by_session(self) -> dict[str, list[Event]]:
        out: dict[str, list[Event]] = defaultdict(list)
        for event in self.events:
            out[event.session_id].append(event)
        return dict(out)
