"""What a tool is: a JSON schema the model sees and an async `run`.

Tools know nothing of events or the store: the loop records `tool.requested`,
runs the tool, and records `tool.completed` / `tool.failed` (and `artifact.created`
when the result carries an artifact).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness_tui.policy.redact import Redactor
from harness_tui.providers.base import ToolSpec
from harness_tui.sandbox import Sandbox


class ToolError(Exception):
    """A tool call that could not be carried out; the message goes back to the model."""


@dataclass(frozen=True, slots=True)
class Artifact:
    artifact_id: str
    path: Path
    bytes: int
    mime: str
    source: str  # e.g. "bash: pytest -q" or "read_file: src/app.py"


DEFAULT_OUTPUT_STORE_MAX_BYTES = 1024 * 1024
"""[tools] output_store_max_bytes: the most of one command's output kept in memory and
in the event log; the rest goes only to the command's artifact file."""


@dataclass(frozen=True, slots=True)
class ToolLimits:
    bash_timeout_s: float = 600.0
    output_limit_bytes: int = 30_000
    max_read_lines: int = 2000
    output_store_max_bytes: int = DEFAULT_OUTPUT_STORE_MAX_BYTES


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What the task tools tell the model about a background task."""

    task_id: str
    kind: str  # shell | subagent
    title: str
    status: str  # running | completed | failed | cancelled
    exit_code: int | None = None
    summary: str = ""


class TaskHost(Protocol):
    """The session's background tasks, as the tools see them (the engine provides it)."""

    inline_ms: int

    async def adopt_shell(self, shell: Any, title: str, timeout_s: float) -> str:
        """Take over a running ShellProcess as a background task; returns its id."""
        ...

    async def read(self, task_id: str, since: int) -> tuple[str, int, TaskInfo]:
        """Output from byte offset `since`, the next offset, and the task's state."""
        ...

    async def wait(self, task_id: str, timeout_s: float) -> TaskInfo: ...

    async def cancel(self, task_id: str) -> TaskInfo: ...

    async def spawn_subagent(self, prompt: str, preset: str, background: bool) -> TaskInfo: ...


@dataclass(slots=True)
class ToolContext:
    session_id: str
    workspace: Path
    artifacts_dir: Path
    # The environment subprocesses run with: the sandbox's allowlist, or (no sandbox by
    # choice) the engine's scrubbed of secrets.
    env: Mapping[str, str]
    limits: ToolLimits = field(default_factory=ToolLimits)
    # Live output for subscribers, called as on_output(stream, text); not persisted.
    on_output: Callable[[str, str], None] | None = None
    # Background tasks and subagents; None where the session cannot have them.
    tasks: TaskHost | None = None
    # Awaited with the process group of each command a tool starts, before the command
    # runs anything: the engine records it, so a crash cannot leave it running unseen.
    process_started: Callable[[int], Awaitable[None]] | None = None
    # Secrets are taken out of what goes to artifact files with it, as the engine takes
    # them out of events; None writes output as it is (tests of the tools alone).
    redactor: Redactor | None = None
    # What shell commands run inside (None: nothing confines them; `env` is then all
    # they get of the engine's environment).
    sandbox: Sandbox | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    content: str
    is_error: bool = False
    artifact: Artifact | None = None
    # Small structured facts for the event (exit_code, path, matches...).
    metadata: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    spec: ToolSpec

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run one call. Raise ToolError for a call that cannot be carried out.

        Cancellation (asyncio.CancelledError) must leave nothing running: a tool that
        starts a subprocess kills its whole process group before re-raising.
        """
        ...
