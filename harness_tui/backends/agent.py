"""An external agent behind a session: the connection each protocol driver implements
(`acp`, `claude`, `codex`), and the side of the session it reports to.

A driver speaks one protocol to one agent process. It knows nothing of our log, our
policy or our inbox: it turns what the agent says into events in our vocabulary
(`AgentSide.emit`) and turns the agent's permission requests into a `PermissionRequest`
whose answer (`AgentSide.permission`) our policy gave, or a person through the inbox.
`backends.external.ExternalSession` is the SessionBackend that owns a connection and
does the rest: turns, queued input, the record of their ends.

Events a driver emits, in our vocabulary (the dashboard, `tail`, `--json` and GC read
them unchanged):
- `model.completed {text, tool_calls: [], usage{input_tokens, output_tokens,
  cost_usd?}}`: one per agent message (text and usage; its tool calls are recorded as
  they happen, below, never as open calls of our loop);
- `tool.requested {call_id, tool, args}` when the agent starts a tool call, and
  `tool.completed {call_id, result}` / `tool.failed {call_id, error}` when it ends;
- `task.started {task_id, kind, title}` / `task.output` / `task.completed|failed`
  for the agent's own background work, where its protocol reports any.
Permission requests are not emitted by the driver: `ExternalSession` records their
`policy.decided` and `approval.*` events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

PROTOCOLS = ("acp", "claude", "codex")

# Tool names the policy knows, which drivers map the agent's tools onto where one fits:
# bash {command}, write_file {path, content}, edit_file {path, old, new}, read_file
# {path}. Anything else keeps the agent's own name and, for an external agent, prompts
# unless the policy allows it by name (the gate cannot see what it does).
SHELL_TOOL = "bash"


class AgentError(Exception):
    """The agent could not be started or stopped answering: one line that names the
    agent and what went wrong (its command, its last words on stderr)."""


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """How to start one agent, resolved from its `[agents.NAME]` entry."""

    name: str
    protocol: str  # one of PROTOCOLS
    argv: tuple[str, ...]  # command and arguments
    env: dict[str, str]  # the whole environment the process gets (see runtimes.agent_env)
    cwd: Path  # the session's workspace
    model: str = ""  # empty: the agent's own default
    # The agent's own session id to carry on (Claude `--resume`, Codex `thread/resume`,
    # ACP `session/load`), from the log; None for a new conversation.
    resume_id: str | None = None


@dataclass(frozen=True, slots=True)
class PermissionRequest:
    """What an agent asks leave to do, in the policy's terms."""

    call_id: str  # the agent's id for the tool call (as in tool.requested)
    tool: str  # our tool name where one fits (SHELL_TOOL, write_file, ...), else the agent's
    args: dict[str, Any]
    # The agent's own words for it ("Run `rm -rf build`"), shown in the inbox.
    title: str = ""
    # For a file change: the diff a person approving it reads.
    diff: str | None = None


@dataclass(frozen=True, slots=True)
class PermissionAnswer:
    """Our answer to a permission request: the driver turns it into its protocol's
    reply (an option chosen by kind, `{"behavior": …}`, `{"decision": …}`)."""

    allow: bool
    # A person chose "allow always": the driver may tell the agent so (allow_always,
    # acceptForSession) where its protocol can; our own rule was written already.
    always: bool = False
    reason: str = ""
    # The arguments as a person edited them (a shell command), where the protocol can
    # carry them (Claude Code's updatedInput); a driver that cannot denies instead.
    edited_args: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """How a turn ended: a reason of turn.completed (no_tool_calls when the agent
    finished its answer, cancelled, failed) and what went wrong."""

    reason: str
    error: str | None = None
    # The agent's own account of the turn's cost, where it gives one in total (Claude
    # Code's `result`) rather than per message.
    usage: dict[str, Any] = field(default_factory=dict)


class AgentSide(Protocol):
    """The session's side, as a driver sees it."""

    async def emit(self, type_: str, data: dict[str, Any]) -> None:
        """Record one event of the running turn (see the module's list)."""
        ...

    async def permission(self, request: PermissionRequest) -> PermissionAnswer:
        """Judge a permission request: our policy first (forbid answers no without
        asking, allow answers yes), then, when it says prompt, a person in the inbox.
        Returns once answered. Cancelled when the turn is cancelled."""
        ...


class AgentConnection(Protocol):
    """One agent process speaking one protocol. `start` once, then turns one at a time;
    `close` when the session leaves this engine."""

    @property
    def pid(self) -> int | None:
        """The agent's pid once started: it leads the agent's process group."""
        ...

    @property
    def can_steer(self) -> bool:
        """Whether text can join a running turn (Claude Code, Codex); ACP cannot."""
        ...

    @property
    def asks_permission(self) -> bool:
        """Whether the agent, as started, asks before it runs tools; False for a mode
        that never asks (shown as "this agent runs tools without asking")."""
        ...

    async def start(self) -> str:
        """Start the process and open (or resume) its conversation; returns the agent's
        own session id, recorded for a later resume. Raises AgentError."""
        ...

    async def prompt(self, text: str) -> TurnEnd:
        """Run one turn with `text` as the user's message, until the agent ends it.
        Raises AgentError when the process died or broke the protocol."""
        ...

    async def steer(self, text: str) -> bool:
        """Give the running turn more input; False when the protocol cannot (the text
        then waits for the next turn)."""
        ...

    async def interrupt(self) -> None:
        """Ask the running turn to stop; `prompt` then returns TurnEnd("cancelled")."""
        ...

    async def close(self) -> None:
        """End the agent: its whole process group, promptly (TERM, then KILL)."""
        ...


# How a driver is made: one per protocol, registered in backends.drivers.
Connector = Callable[[AgentSpec, AgentSide], AgentConnection]
