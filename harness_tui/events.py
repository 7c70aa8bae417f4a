"""The event envelope and the event vocabulary.

Every state change is one `Event` appended to the store. The envelope is the same in
SQLite, PostgreSQL and the `--json` output: position, session_id, seq, ts, type, data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

# The vocabulary. Names are stable once shipped: scripts read them from --json output.
SESSION_CREATED = "session.created"
SESSION_STATUS = "session.status"
INPUT_RECEIVED = "input.received"
TURN_STARTED = "turn.started"
TURN_COMPLETED = "turn.completed"
# A turn another process left waiting for an approval, carried on by this one.
TURN_RESUMED = "turn.resumed"
SESSION_APPROVAL_MODE = "session.approval_mode"
MODEL_COMPLETED = "model.completed"
MODEL_FAILED = "model.failed"
TOOL_REQUESTED = "tool.requested"
POLICY_DECIDED = "policy.decided"
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_RESOLVED = "approval.resolved"
# A command a tool call started, held until this is committed: {call_id, pgid,
# pgid_start, owner}. Recovery stops the group if its owner died before the call ended.
TOOL_STARTED = "tool.started"
TOOL_COMPLETED = "tool.completed"
TOOL_FAILED = "tool.failed"
TASK_STARTED = "task.started"
TASK_OUTPUT = "task.output"
TASK_COMPLETED = "task.completed"
TASK_FAILED = "task.failed"
TASK_CANCELLED = "task.cancelled"
SUBAGENT_SPAWNED = "subagent.spawned"
ARTIFACT_CREATED = "artifact.created"
COMPACTION_COMPLETED = "compaction.completed"
WORKTREE_CREATED = "worktree.created"
# A worktree session's end: its work committed on its branch, what the branch changed.
WORKTREE_COMMITTED = "worktree.committed"
WORKTREE_REMOVED = "worktree.removed"
# A validation command started (held until this is committed): {command, pgid,
# pgid_start, owner}, for recovery as tool.started.
VALIDATION_STARTED = "validation.started"
VALIDATION_COMPLETED = "validation.completed"
# Start-up recovery could not finish what a dead process left of this session:
# {error, by: owner}. The session is left as it was, for a later recovery.
RECOVERY_FAILED = "recovery.failed"
GC_SIGNAL = "gc.signal"
GC_DRAFT_CREATED = "gc.draft.created"
GC_DRAFT_ADOPTED = "gc.draft.adopted"
GC_DRAFT_REJECTED = "gc.draft.rejected"
GC_COMPLETED = "gc.completed"
# Code-rule guards ran: {violations: [...], errors: [...]}.
RULES_CHECKED = "rules.checked"
# Said once by each engine that runs a session's commands unconfined: the session's mode
# is danger-full-access ({mode, reason}), or its sandbox cannot start here ({mode,
# reason, fallback}: the policy alone judges, and commands no rule allows prompt).
SANDBOX_DISABLED = "sandbox.disabled"
SANDBOX_UNAVAILABLE = "sandbox.unavailable"
# An external agent's process started for a session ({agent, protocol, agent_session_id,
# pid, pgid, pgid_start, owner, asks_permission, can_steer}; agent_session_id is what a
# later resume names), and ended ({agent, reason, error?}).
AGENT_STARTED = "agent.started"
AGENT_EXITED = "agent.exited"

VOCABULARY = frozenset(
    value for name, value in list(globals().items()) if name.isupper() and isinstance(value, str)
)

# What is said of a session whose external agent runs its tools without asking us (its
# mode never asks), wherever the session is shown.
AGENT_NEVER_ASKS = "this agent runs tools without asking"

# Session statuses carried by `session.status`.
STATUSES = ("idle", "running", "waiting", "queued", "done", "failed", "cancelled")
TERMINAL_STATUSES = frozenset({"done", "failed", "cancelled"})

TASK_TERMINAL_TYPES = frozenset({TASK_COMPLETED, TASK_FAILED, TASK_CANCELLED})


def will_retry(failure: dict[str, Any]) -> bool:
    """Whether another attempt follows a `model.failed` (its data). Logs written before
    the event said so carry only `retryable`, the nearest they have."""
    return bool(failure.get("will_retry", failure.get("retryable")))


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(ts: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z, the form used in --json output."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the log.

    `position` is None until the store assigns it on append; `seq` is assigned by the
    session's single writer, and the store rejects a duplicate `(session_id, seq)`.
    """

    session_id: str
    seq: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: datetime = field(default_factory=utcnow)
    position: int | None = None

    def with_position(self, position: int) -> Event:
        return replace(self, position=position)

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "session_id": self.session_id,
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "type": self.type,
            "data": self.data,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        return cls(
            session_id=raw["session_id"],
            seq=int(raw["seq"]),
            type=raw["type"],
            data=dict(raw.get("data") or {}),
            ts=parse_ts(raw["ts"]) if isinstance(raw.get("ts"), str) else raw.get("ts") or utcnow(),
            position=raw.get("position"),
        )

    @classmethod
    def from_json(cls, text: str) -> Event:
        return cls.from_dict(json.loads(text))


def runs_on(created: dict[str, Any]) -> str:
    """What a session runs on, from its session.created: `provider/model`, or the
    external agent (`agent claude`, with its model when one was chosen)."""
    if created.get("backend"):
        model = created.get("model")
        return f"agent {created['backend']}" + (f" · {model}" if model else "")
    return f"{created.get('provider', '?')}/{created.get('model', '?')}"
