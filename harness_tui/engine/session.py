"""SessionState: a pure fold over one session's events.

The loop, the faces and recovery all read a session through this projection, so a
restart that replays the log sees exactly what the running process saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from harness_tui import events as ev
from harness_tui.events import Event
from harness_tui.providers.base import Message, ToolCall, summary_message
from harness_tui.store import Lease


@dataclass(slots=True)
class PendingApproval:
    approval_id: str
    session_id: str
    call_id: str
    tool: str
    summary: str
    reason: str
    risk: str
    rule_id: str | None
    diff: str | None
    requested_seq: int
    requested_at: datetime
    # For "allow always" on a shell command: the argv of each segment that prompted.
    segments: list[list[str]] = field(default_factory=list)


@dataclass(slots=True)
class TaskState:
    task_id: str
    kind: str
    title: str
    status: str = "running"  # running | completed | failed | cancelled
    exit_code: int | None = None
    summary: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # task.started's data: owner, process group and output file.
    started: dict[str, Any] = field(default_factory=dict)

    @property
    def owner(self) -> dict[str, Any] | None:
        return self.started.get("owner")


@dataclass(slots=True)
class SessionWorktree:
    """A worktree session's own git worktree: planned in session.created, made by
    worktree.created, its work recorded by worktree.committed, gone after
    worktree.removed. The branch outlives it."""

    branch: str
    base: str
    path: str  # where it is (or will be) checked out
    # Whether the worktree is removed when the session ends, as configured when the
    # session started, so a later change of [git] cleanup does not reach back.
    cleanup: bool = True
    priority: int | None = None
    created: bool = False
    base_commit: str | None = None
    committed: bool = False
    # The commit made at the end (None when nothing was left uncommitted).
    commit: str | None = None
    # What the branch changed since its base: files, insertions, deletions.
    files: int = 0
    insertions: int = 0
    deletions: int = 0
    removed: bool = False

    @property
    def present(self) -> bool:
        return self.created and not self.removed


@dataclass(slots=True)
class SessionState:
    session_id: str
    title: str = ""
    project: str = ""
    workspace: str = ""
    provider: str = ""
    model: str = ""
    # The built-in offline demo (or its subagent), on a seeded copy of its own project.
    offline_demo: bool = False
    parent_id: str | None = None
    preset: str | None = None
    approval_mode: str | None = None
    # The sandbox its commands run in, chosen when it started (session.created's
    # `sandbox`): read-only, workspace-write or danger-full-access, and whether they may
    # use the network. None for a session logged before sandboxes: the config decides.
    sandbox_mode: str | None = None
    sandbox_network: bool = False
    # The external agent it runs on ([agents.NAME], session.created's `backend`) and
    # its protocol; empty for our own loop.
    backend: str = ""
    protocol: str = ""
    # What the agent's process last said of itself (agent.started): its own session id,
    # for a resume, and whether it asks before it runs tools.
    agent_session_id: str | None = None
    agent_asks: bool = True
    # 0 for a session a person started, parent's depth + 1 for a subagent.
    depth: int = 0
    status: str = ""  # empty until the first session.status
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_seq: int = 0
    last_position: int = 0
    turns: int = 0
    turn_active: bool = False
    turn_owner: dict[str, Any] | None = None
    last_turn_reason: str | None = None
    last_error: str | None = None
    final_text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    # Replies whose cost nobody knows (a server that reported no usage): a cost budget
    # cannot count them.
    uncosted_replies: int = 0
    last_input_tokens: int = 0
    messages: list[Message] = field(default_factory=list)
    # The seq of the event each message came from, in step with `messages`.
    message_seqs: list[int] = field(default_factory=list)
    # Calls the model asked for that have no result yet, by call_id.
    open_calls: dict[str, ToolCall] = field(default_factory=dict)
    approvals: dict[str, PendingApproval] = field(default_factory=dict)
    # Commands started and not yet ended on the record (tool.started, validation.started
    # data, by call id or "validation PGID"): what recovery stops after a crash.
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, TaskState] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    # The process that last took charge of the session (its creation, its worktree, a
    # turn): recovery finishes a worktree session only once that process is gone.
    owner: dict[str, Any] | None = None
    worktree: SessionWorktree | None = None
    # 1-based place in the worktree queue while the status is "queued".
    queue_position: int | None = None
    # Validation runs that failed; each one sent back to the agent counts as a retry.
    validation_failures: int = 0
    # Not from the log: the session's lease as the store had it when the state was
    # loaded (None: nobody held it), which says whether the owners above are alive.
    lease: Lease | None = None

    @classmethod
    def from_events(cls, session_id: str, events: list[Event]) -> SessionState:
        state = cls(session_id)
        for event in events:
            state.apply(event)
        return state

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def running_tasks(self) -> list[TaskState]:
        return [task for task in self.tasks.values() if task.status == "running"]

    def add_message(self, seq: int, message: Message) -> None:
        self.messages.append(message)
        self.message_seqs.append(seq)

    def apply(self, event: Event) -> None:
        data = event.data
        self.last_seq = event.seq
        if event.position is not None:
            self.last_position = event.position
        self.updated_at = event.ts
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event, data)


def _created(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.title = data.get("title", "")
    state.project = data.get("project", "")
    state.workspace = data.get("workspace", "")
    state.provider = data.get("provider", "")
    state.model = data.get("model", "")
    state.offline_demo = bool(data.get("offline_demo", False))
    state.parent_id = data.get("parent_id")
    state.preset = data.get("preset")
    state.approval_mode = data.get("approval_mode")
    sandbox = data.get("sandbox")
    if isinstance(sandbox, dict) and isinstance(sandbox.get("mode"), str):
        state.sandbox_mode = sandbox["mode"]
        state.sandbox_network = bool(sandbox.get("network", False))
    state.depth = int(data.get("depth", 0))
    state.backend = data.get("backend") or ""
    state.protocol = data.get("protocol") or ""
    state.created_at = event.ts
    state.owner = data.get("owner")
    planned = data.get("worktree")
    if isinstance(planned, dict):
        state.worktree = SessionWorktree(
            branch=planned["branch"],
            base=planned["base"],
            path=planned["path"],
            cleanup=bool(planned.get("cleanup", True)),
            priority=planned.get("priority"),
        )


def _status(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.status = data["status"]
    if state.status in ev.TERMINAL_STATUSES:
        _validation_over(state)
    state.queue_position = data.get("position") if data["status"] == "queued" else None
    # A status that claims the session (a worktree session taking its slot) names its owner.
    state.owner = data.get("owner") or state.owner
    if data.get("error"):
        state.last_error = data["error"]


def _input(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.add_message(event.seq, Message(role="user", content=data["text"]))


def _turn_started(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    _validation_over(state)
    state.turns += 1
    state.turn_active = True
    state.turn_owner = data.get("owner")
    state.owner = data.get("owner") or state.owner
    state.last_error = None


def _turn_resumed(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.turn_owner = data.get("owner")
    state.owner = data.get("owner") or state.owner


def _approval_mode(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.approval_mode = data["approval_mode"]


def _turn_completed(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.turn_active = False
    state.last_turn_reason = data.get("reason")
    if data.get("error"):
        state.last_error = data["error"]
    if data.get("usage"):
        _turn_usage(state, data)


def _model_completed(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    calls = tuple(
        ToolCall(id=call["id"], name=call["name"], arguments=call.get("arguments") or {})
        for call in data.get("tool_calls", ())
    )
    text = data.get("text", "")
    provider_content = data.get("provider_content")
    state.add_message(
        event.seq,
        Message(
            role="assistant",
            content=text,
            tool_calls=calls,
            provider_content=tuple(provider_content) if provider_content else None,
        ),
    )
    for call in calls:
        state.open_calls[call.id] = call
    if text:
        state.final_text = text
    usage = data.get("usage") or {}
    state.last_input_tokens = int(usage.get("input_tokens", 0)) + int(
        usage.get("cache_read_tokens", 0)
    )
    state.input_tokens += int(usage.get("input_tokens", 0))
    state.output_tokens += int(usage.get("output_tokens", 0))
    state.cost_usd += float(usage.get("cost_usd") or 0.0)
    if usage.get("cost_usd") is None:
        state.uncosted_replies += 1


def _model_failed(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.last_error = data.get("error")


def _tool_started(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.processes[data["call_id"]] = data


def _tool_completed(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.open_calls.pop(data["call_id"], None)
    state.processes.pop(data["call_id"], None)
    state.add_message(
        event.seq,
        Message(
            role="tool",
            content=data.get("result", ""),
            tool_call_id=data["call_id"],
            is_error=bool(data.get("is_error")),
        ),
    )


def _tool_failed(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.open_calls.pop(data["call_id"], None)
    state.processes.pop(data["call_id"], None)
    state.add_message(
        event.seq,
        Message(
            role="tool",
            content=f"error: {data.get('error', '')}",
            tool_call_id=data["call_id"],
            is_error=True,
        ),
    )


def _approval_requested(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.approvals[data["approval_id"]] = PendingApproval(
        approval_id=data["approval_id"],
        session_id=event.session_id,
        call_id=data["call_id"],
        tool=data.get("tool", ""),
        summary=data.get("summary", ""),
        reason=data.get("reason", ""),
        risk=data.get("risk", ""),
        rule_id=data.get("rule_id"),
        diff=data.get("diff"),
        requested_seq=event.seq,
        requested_at=event.ts,
        segments=data.get("segments", []),
    )


def _approval_resolved(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.approvals.pop(data["approval_id"], None)


def _task_started(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.tasks[data["task_id"]] = TaskState(
        task_id=data["task_id"],
        kind=data.get("kind", "shell"),
        title=data.get("title", ""),
        started_at=event.ts,
        started=data,
    )


def _task_ended(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    task = state.tasks.get(data["task_id"])
    if task is None:
        return
    task.status = event.type.removeprefix("task.")
    task.exit_code = data.get("exit_code")
    task.summary = data.get("summary", "")
    task.ended_at = event.ts


def _subagent_spawned(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.children.append(data["child_session_id"])


def _compaction(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    # Large old tool outputs first become stubs that say where the full text is.
    stubs = {item["call_id"]: item["stub"] for item in data.get("elided", [])}
    if stubs:
        state.messages = [
            replace(m, content=stubs[m.tool_call_id])
            if m.role == "tool" and m.tool_call_id in stubs
            else m
            for m in state.messages
        ]
    # Then, if there is a summary, it stands in for everything up to covered_until_seq.
    covered = data.get("covered_until_seq", 0)
    if data.get("summary") and covered:
        kept = [
            (s, m) for s, m in zip(state.message_seqs, state.messages, strict=True) if s > covered
        ]
        state.messages = [summary_message(data["summary"], data.get("replies_covered", 0))]
        state.message_seqs = [covered]
        for seq, message in kept:
            state.add_message(seq, message)


def _worktree_created(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    worktree = state.worktree
    if worktree is None:  # a log written before the plan was recorded in session.created
        worktree = state.worktree = SessionWorktree(
            branch=data["branch"], base=data.get("base", ""), path=data["path"]
        )
    worktree.created = True
    worktree.path = data["path"]
    worktree.base_commit = data.get("base_commit")
    # Tools, the policy gate and the system prompt all work in the worktree from now on.
    state.workspace = data["path"]
    state.owner = data.get("owner") or state.owner


def _worktree_committed(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    if state.worktree is None:
        return
    state.worktree.committed = True
    state.worktree.commit = data.get("commit") or state.worktree.commit
    state.worktree.files = int(data.get("files", 0))
    state.worktree.insertions = int(data.get("insertions", 0))
    state.worktree.deletions = int(data.get("deletions", 0))


def _worktree_removed(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    if state.worktree is not None:
        state.worktree.removed = True


def _validation_started(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.processes[f"validation {data['pgid']}"] = data


def _validation_over(state: SessionState) -> None:
    """Validation commands run one after another, and their results are recorded once
    the last has ended: from the first result (or a new turn, or the session's end, when
    a cancel cut validation short) none of them runs any more."""
    for key in [key for key in state.processes if key.startswith("validation ")]:
        del state.processes[key]


def _validation(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    _validation_over(state)
    if data.get("exit_code") != 0 or data.get("timed_out"):
        state.validation_failures += 1


# An agent's process is on record, like a command's, until it ended: recovery stops the
# group of one whose engine died (engine.recovery).
AGENT_PROCESS = "agent"


def _agent_started(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.agent_session_id = data.get("agent_session_id") or state.agent_session_id
    state.agent_asks = bool(data.get("asks_permission", True))
    state.processes[AGENT_PROCESS] = data


def _agent_exited(state: SessionState, event: Event, data: dict[str, Any]) -> None:
    state.processes.pop(AGENT_PROCESS, None)


def _turn_usage(state: SessionState, data: dict[str, Any]) -> None:
    """An agent's own account of a turn's cost (turn.completed's usage), where it gives
    one in total rather than per message."""
    usage = data.get("usage") or {}
    state.input_tokens += int(usage.get("input_tokens", 0))
    state.output_tokens += int(usage.get("output_tokens", 0))
    state.cost_usd += float(usage.get("cost_usd") or 0.0)


_HANDLERS = {
    ev.AGENT_STARTED: _agent_started,
    ev.AGENT_EXITED: _agent_exited,
    ev.SESSION_CREATED: _created,
    ev.SESSION_STATUS: _status,
    ev.INPUT_RECEIVED: _input,
    ev.TURN_STARTED: _turn_started,
    ev.TURN_COMPLETED: _turn_completed,
    ev.TURN_RESUMED: _turn_resumed,
    ev.SESSION_APPROVAL_MODE: _approval_mode,
    ev.MODEL_COMPLETED: _model_completed,
    ev.MODEL_FAILED: _model_failed,
    ev.TOOL_STARTED: _tool_started,
    ev.TOOL_COMPLETED: _tool_completed,
    ev.TOOL_FAILED: _tool_failed,
    ev.APPROVAL_REQUESTED: _approval_requested,
    ev.APPROVAL_RESOLVED: _approval_resolved,
    ev.TASK_STARTED: _task_started,
    ev.TASK_COMPLETED: _task_ended,
    ev.TASK_FAILED: _task_ended,
    ev.TASK_CANCELLED: _task_ended,
    ev.SUBAGENT_SPAWNED: _subagent_spawned,
    ev.COMPACTION_COMPLETED: _compaction,
    ev.WORKTREE_CREATED: _worktree_created,
    ev.WORKTREE_COMMITTED: _worktree_committed,
    ev.WORKTREE_REMOVED: _worktree_removed,
    ev.VALIDATION_STARTED: _validation_started,
    ev.VALIDATION_COMPLETED: _validation,
}
