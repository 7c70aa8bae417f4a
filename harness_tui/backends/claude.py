"""Claude Code, native: its stream-json control protocol over the CLI's stdio.

`claude -p --input-format stream-json --output-format stream-json --verbose
--permission-prompt-tool stdio --replay-user-messages --settings ASK` reads user messages and
`control_request`s one JSON object per line and writes the conversation (system/init,
one `assistant` line per content block, `user` tool results, `system/task_*`, one
`result` per turn) with its own `control_request can_use_tool` whenever a tool needs
leave. The session opens as the official SDKs open it, with `control_request
initialize`; a new conversation gets the id we choose (`--session-id`), so `start`
knows it before the first turn (the CLI's system/init only comes with one).

Facts this relies on, checked against Claude Code 2.1.197 (AGENT-PROTOCOLS.md):
- A user message written while a turn runs joins that turn; one written after its
  `result` starts a new turn. `--replay-user-messages` echoes each user message when
  the CLI takes it (`isReplay`), which is how a late steer is told apart.
- `assistant` lines carry the usage of the model request at the start of its stream
  (output tokens not yet counted), repeated on every line of one message; the turn's
  `result` carries the turn's true usage and `total_cost_usd`, the process's running
  total.
- The CLI runs what it judges read-only (`echo`, `ls`, Read) without asking unless a
  settings "ask" rule names the tool: `--settings` gives it one for the tools that
  touch the machine (ASKED_TOOLS), so our policy judges each of their calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness_tui.backends.agent import (
    SHELL_TOOL,
    AgentError,
    AgentSide,
    AgentSpec,
    PermissionAnswer,
    PermissionRequest,
    TurnEnd,
)
from harness_tui.backends.changes import change_diff, workspace_name
from harness_tui.backends.process import AgentProcess

# Claude Code's tools that have a name our policy knows, and how their arguments map:
# (our tool, {our argument: Claude's}). Our names are our own tools' (tools/files.py),
# so the policy judges, jails and diffs the agent's call as it would ours.
TOOL_MAP: dict[str, tuple[str, dict[str, str]]] = {
    "Bash": (SHELL_TOOL, {"command": "command"}),
    "Write": ("write_file", {"path": "file_path", "content": "content"}),
    "Edit": (
        "edit_file",
        {
            "path": "file_path",
            "old_string": "old_string",
            "new_string": "new_string",
            "replace_all": "replace_all",
        },
    ),
    "Read": ("read_file", {"path": "file_path"}),
    "Glob": ("glob", {"pattern": "pattern", "path": "path"}),
    "Grep": ("grep", {"pattern": "pattern", "path": "path", "glob": "glob"}),
}
# Tools the CLI is told to ask about every time (a settings "ask" rule): by itself it
# runs what it judges read-only (`echo`, `ls`, a Read) without asking, which our
# policy would then never see. Its own bookkeeping tools (tasks, plans) still run
# unasked; anything else it asks about by its own rules reaches us too.
ASKED_TOOLS = ("Bash", "Read", "Write", "Edit", "NotebookEdit", "Glob", "Grep")
# Arguments that name a file: workspace-relative in ours, absolute in Claude's.
PATH_ARGS = ("path",)

# Modes in which the CLI never asks before it runs a tool. acceptEdits still asks
# for shell commands, so it counts as asking.
NEVER_ASKS = ("--dangerously-skip-permissions", "--permission-mode=bypassPermissions")

# How long the CLI may take to answer `initialize` (it loads its settings, plugins and
# MCP servers first: about 3 s here) and an interrupt.
INITIALIZE_TIMEOUT_S = 60.0
INTERRUPT_TIMEOUT_S = 10.0
# How long an interrupted turn waits for the turn a late steer started (the CLI takes
# a message it holds as soon as the interrupted turn ends).
LATE_STEER_S = 5.0
# How long an agent whose stdout closed has to exit and finish its stderr.
EXIT_WAIT_S = 2.0

# What our reader hands a turn when stdout closed, and a can_use_tool request.
_EOF: dict[str, Any] = {"type": "__eof__"}
_CAN_USE_TOOL = "__can_use_tool__"


def claude_argv(spec: AgentSpec, session_id: str) -> list[str]:
    """The command line: the entry's command and arguments, then the flags of the
    control protocol, the model and the conversation to open."""
    argv = [
        *spec.argv,
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-prompt-tool",
        "stdio",
        "--replay-user-messages",
    ]
    if "--settings" not in spec.argv and not any(a.startswith("--settings=") for a in spec.argv):
        # An entry that brings its own settings decides what is asked itself.
        argv += ["--settings", json.dumps({"permissions": {"ask": list(ASKED_TOOLS)}})]
    if spec.model:
        argv += ["--model", spec.model]
    if spec.resume_id:
        argv += ["--resume", spec.resume_id]
    else:
        argv += ["--session-id", session_id]
    return argv


def never_asks(args: tuple[str, ...]) -> bool:
    """Whether the entry's arguments start the CLI in a mode that never asks."""
    joined = [*args, ""]
    for i, arg in enumerate(args):
        if arg in NEVER_ASKS:
            return True
        if arg == "--permission-mode" and joined[i + 1] == "bypassPermissions":
            return True
    return False


def map_tool(name: str, tool_input: dict[str, Any], cwd: Path) -> tuple[str, dict[str, Any]]:
    """Claude Code's tool call in our terms: (tool, args). A file inside the workspace
    is named relative to it, as our own tools name it."""
    mapped = TOOL_MAP.get(name)
    if mapped is None:
        return name, dict(tool_input)
    tool, names = mapped
    args = {ours: tool_input[theirs] for ours, theirs in names.items() if theirs in tool_input}
    for key in PATH_ARGS:
        if isinstance(args.get(key), str):
            args[key] = workspace_name(args[key], cwd)
    return tool, args


def unmap_args(
    name: str, tool_input: dict[str, Any], edited: dict[str, Any], cwd: Path
) -> dict[str, Any]:
    """The CLI's input for a call whose arguments a person edited in our terms: the
    agent's own keys we do not show (a description, a timeout) are kept."""
    mapped = TOOL_MAP.get(name)
    if mapped is None:
        return {**tool_input, **edited}
    _, names = mapped
    theirs = {names[k]: v for k, v in edited.items() if k in names}
    for key in PATH_ARGS:
        if key in names and isinstance(theirs.get(names[key]), str):
            theirs[names[key]] = str(cwd / theirs[names[key]])  # an absolute one stays
    return {**tool_input, **theirs}


def call_diff(name: str, tool_input: dict[str, Any], cwd: Path) -> str | None:
    """The unified diff a Write or Edit would make, for the person who approves it."""
    if name not in ("Write", "Edit") or not isinstance(tool_input.get("file_path"), str):
        return None
    path = Path(tool_input["file_path"])
    if not path.is_absolute():
        path = cwd / path
    try:
        before = path.read_text()
    except (OSError, UnicodeDecodeError):
        before = ""
    if name == "Write":
        after = str(tool_input.get("content", ""))
    else:
        old, new = str(tool_input.get("old_string", "")), str(tool_input.get("new_string", ""))
        if old and old in before:
            count = -1 if tool_input.get("replace_all") else 1
            after = before.replace(old, new, count)
        else:  # the file is not readable here or changed: show the edit itself
            before, after = old, new
    return change_diff(str(path), before, after, cwd)


def result_text(content: Any) -> str:
    """A tool_result's content (a string, or text blocks) as one string."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def our_usage(usage: dict[str, Any]) -> dict[str, int]:
    """Anthropic's usage keys in ours."""
    return {
        "input_tokens": int(usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cache_read_tokens": int(usage.get("cache_read_input_tokens") or 0),
        "cache_write_tokens": int(usage.get("cache_creation_input_tokens") or 0),
    }


class ClaudeConnection:
    """One `claude` process and its conversation."""

    def __init__(self, spec: AgentSpec, side: AgentSide) -> None:
        self.spec = spec
        self.side = side
        self.session_id = spec.resume_id or str(uuid.uuid4())
        self.process: AgentProcess | None = None
        self._messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        # Our own control requests (initialize, interrupt) awaiting the CLI's answer.
        self._requests: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._request_count = 0
        # The CLI's can_use_tool requests being judged, by request id.
        self._permissions: dict[str, asyncio.Task[None]] = {}
        # Those the CLI withdrew (control_cancel_request): never answered.
        self._withdrawn: set[str] = set()
        self._in_turn = False
        self._interrupted = False
        # User messages written, and how many of them the CLI took (replayed); whether
        # it replays them at all (a CLI that does not is never waited on).
        self._written = 0
        self._taken = 0
        self._replaying = False
        # What this turn's model.completed events counted, and the CLI's running
        # total cost when the turn began (its result reports the process's total).
        self._counted: dict[str, int] = {}
        self._usage_seen: set[str] = set()
        self._cost_total = 0.0
        self._gone: AgentError | None = None

    @property
    def pid(self) -> int | None:
        """The agent's pid, which leads its process group (recorded in agent.started)."""
        return self.process.pid if self.process is not None else None

    @property
    def can_steer(self) -> bool:
        return True

    @property
    def asks_permission(self) -> bool:
        return not never_asks(self.spec.argv[1:])

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> str:
        spec = self.spec
        self.process = await AgentProcess.start(
            AgentSpec(
                name=spec.name,
                protocol=spec.protocol,
                argv=tuple(claude_argv(spec, self.session_id)),
                env=spec.env,
                cwd=spec.cwd,
                model=spec.model,
                resume_id=spec.resume_id,
            )
        )
        self._reader = asyncio.create_task(self._read(), name=f"claude-reader-{spec.name}")
        try:
            await self._control({"subtype": "initialize", "hooks": None}, INITIALIZE_TIMEOUT_S)
        except AgentError:
            await self.close()
            raise
        return self.session_id

    async def close(self) -> None:
        for task in list(self._permissions.values()):
            task.cancel()
        if self.process is not None:
            await self.process.stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._permissions.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- turns -------------------------------------------------------------------

    async def prompt(self, text: str) -> TurnEnd:
        process = self._running()
        self._in_turn = True
        self._interrupted = False
        self._counted = {}
        self._usage_seen = set()
        turn_usage: dict[str, int] = {}
        cost_before = self._cost_total
        last: dict[str, Any] = {}
        try:
            await self._write_user(process, text)
            while True:
                message = await self._next_message(process, late=bool(last))
                if message is None:  # the late steer never came back: nothing runs
                    self._taken = self._written
                    return self._turn_end(last, turn_usage, self._cost_total - cost_before)
                if message.get("type") != "result":
                    if message.get("isReplay") and last and self._interrupted:
                        # The late steer's turn began after the one it joined was
                        # interrupted: it stops too, and the CLI is idle again.
                        with contextlib.suppress(AgentError):
                            await self._control({"subtype": "interrupt"}, INTERRUPT_TIMEOUT_S)
                    await self._on_message(message)
                    continue
                last = message
                for key, value in our_usage(message.get("usage") or {}).items():
                    turn_usage[key] = turn_usage.get(key, 0) + value
                if isinstance(message.get("total_cost_usd"), int | float):
                    self._cost_total = float(message["total_cost_usd"])
                # A steer the CLI took only after this result starts a turn of its
                # own: that turn is still this one, which ends with its result.
                if self._replaying and self._taken < self._written:
                    continue
                return self._turn_end(message, turn_usage, self._cost_total - cost_before)
        finally:
            self._in_turn = False

    async def _next_message(self, process: AgentProcess, *, late: bool) -> dict[str, Any] | None:
        """The CLI's next message of the turn. Waiting on a late steer's turn after an
        interrupt is bounded: None if it does not come."""
        if late and self._interrupted:
            try:
                message = await asyncio.wait_for(self._messages.get(), LATE_STEER_S)
            except TimeoutError:
                return None
        else:
            message = await self._messages.get()
        if message is _EOF:
            self._messages.put_nowait(_EOF)  # for whoever reads next
            raise self._gone or process.gone("it exited")
        return message

    async def steer(self, text: str) -> bool:
        if not self._in_turn or self._interrupted:
            return False
        await self._write_user(self._running(), text)
        return True

    async def interrupt(self) -> None:
        if not self._in_turn or self.process is None:
            return
        self._interrupted = True
        with contextlib.suppress(AgentError):
            await self._control(
                {"subtype": "interrupt"}, INTERRUPT_TIMEOUT_S, then=self._deny_pending
            )

    def _deny_pending(self) -> None:
        """A pending question is answered no (after the interrupt was sent, so the CLI
        stops the turn rather than carry on with the refusal)."""
        for task in list(self._permissions.values()):
            task.cancel()

    # -- the turn's messages -----------------------------------------------------

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == _CAN_USE_TOOL:
            # Judged beside the turn: a person may take minutes, and the CLI's other
            # messages (an interrupt's answer, a withdrawal) must still be read.
            request_id = str(message["request_id"])
            if request_id in self._withdrawn:
                return
            task = asyncio.create_task(self._judge(request_id, message))
            self._permissions[request_id] = task
            task.add_done_callback(lambda _: self._permissions.pop(request_id, None))
        elif kind == "assistant":
            await self._on_assistant(message.get("message") or {})
        elif kind == "user":
            if message.get("isReplay"):
                self._replaying = True
                self._taken += 1
                return
            await self._on_user(message.get("message") or {})
        elif kind == "system":
            await self._on_system(message)

    async def _on_assistant(self, body: dict[str, Any]) -> None:
        blocks = [b for b in body.get("content") or [] if isinstance(b, dict)]
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if text:
            # The CLI repeats one message's usage on each of its lines: counted once.
            message_id = str(body.get("id", ""))
            usage: dict[str, Any] = {}
            if message_id not in self._usage_seen:
                self._usage_seen.add(message_id)
                usage = our_usage(body.get("usage") or {})
                for key, value in usage.items():
                    self._counted[key] = self._counted.get(key, 0) + value
            # Its cost is known only for the whole turn (TurnEnd.usage).
            usage["cost_usd"] = 0.0
            await self.side.emit(
                "model.completed", {"text": text, "tool_calls": [], "usage": usage}
            )
        for block in blocks:
            if block.get("type") == "tool_use":
                tool, args = map_tool(
                    str(block.get("name", "")), block.get("input") or {}, self.spec.cwd
                )
                await self.side.emit(
                    "tool.requested",
                    {"call_id": str(block.get("id", "")), "tool": tool, "args": args},
                )

    async def _on_user(self, body: dict[str, Any]) -> None:
        content = body.get("content")
        if not isinstance(content, list):
            return
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            call_id = str(block.get("tool_use_id", ""))
            output = result_text(block.get("content"))
            if block.get("is_error"):
                await self.side.emit("tool.failed", {"call_id": call_id, "error": output})
            else:
                await self.side.emit("tool.completed", {"call_id": call_id, "result": output})

    async def _on_system(self, message: dict[str, Any]) -> None:
        subtype = message.get("subtype")
        task_id = str(message.get("task_id", ""))
        if subtype == "init":
            if message.get("session_id"):
                self.session_id = str(message["session_id"])
        elif subtype == "task_started":
            await self.side.emit(
                "task.started",
                {
                    "task_id": task_id,
                    "kind": str(message.get("task_type") or "agent"),
                    "title": str(message.get("description", "")),
                    "call_id": message.get("tool_use_id"),
                },
            )
        elif subtype == "task_progress":
            text = message.get("description") or message.get("summary")
            if text:
                await self.side.emit("task.output", {"task_id": task_id, "text": str(text)})
        elif subtype == "task_notification":
            status = message.get("status")
            summary = str(message.get("summary", ""))
            if status == "completed":
                await self.side.emit("task.completed", {"task_id": task_id, "summary": summary})
            elif status in ("stopped", "killed", "cancelled"):
                await self.side.emit("task.cancelled", {"task_id": task_id, "summary": summary})
            else:
                await self.side.emit(
                    "task.failed", {"task_id": task_id, "summary": summary, "error": str(status)}
                )

    def _turn_end(self, result: dict[str, Any], usage: dict[str, int], cost: float) -> TurnEnd:
        # model.completed counted each message's start-of-stream usage; the rest of
        # the turn's true usage (and its whole cost) goes with the turn's end, so the
        # two add up to the CLI's own account and nothing is counted twice.
        remainder: dict[str, Any] = {
            key: max(0, value - self._counted.get(key, 0)) for key, value in usage.items()
        }
        remainder["cost_usd"] = max(0.0, round(cost, 9))
        subtype = result.get("subtype")
        if self._interrupted:
            return TurnEnd("cancelled", usage=remainder)
        if subtype == "success" and not result.get("is_error"):
            return TurnEnd("no_tool_calls", usage=remainder)
        errors = result.get("errors")
        detail = (
            "; ".join(str(e) for e in errors)
            if isinstance(errors, list) and errors
            else str(result.get("result") or subtype or "error")
        )
        return TurnEnd("failed", error=f"agent {self.spec.name}: {detail}", usage=remainder)

    # -- permissions ---------------------------------------------------------------

    async def _judge(self, request_id: str, request: dict[str, Any]) -> None:
        """Answer one can_use_tool: our policy (and perhaps a person) decides."""
        name = str(request.get("tool_name", ""))
        tool_input = request.get("input") or {}
        tool, args = map_tool(name, tool_input, self.spec.cwd)
        question = PermissionRequest(
            call_id=str(request.get("tool_use_id", "")),
            tool=tool,
            args=args,
            title=str(request.get("description") or request.get("title") or name),
            diff=call_diff(name, tool_input, self.spec.cwd),
        )
        try:
            if self._interrupted:
                answer = PermissionAnswer(False, reason="the turn was interrupted")
            else:
                answer = await self.side.permission(question)
        except asyncio.CancelledError:
            if request_id in self._withdrawn:
                raise
            answer = PermissionAnswer(False, reason="the turn was interrupted")
        except Exception as exc:  # a judge that failed must not leave the CLI waiting
            answer = PermissionAnswer(False, reason=f"no answer: {exc}")
        if answer.allow:
            edited = answer.edited_args
            updated = (
                unmap_args(name, tool_input, edited, self.spec.cwd)
                if edited is not None
                else tool_input
            )
            response: dict[str, Any] = {"behavior": "allow", "updatedInput": updated}
        else:
            response = {"behavior": "deny", "message": answer.reason or "denied"}
        with contextlib.suppress(AgentError):
            await self._running().send(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "success",
                        "request_id": request_id,
                        "response": response,
                    },
                }
            )

    # -- the wire ------------------------------------------------------------------

    def _running(self) -> AgentProcess:
        if self.process is None:
            raise AgentError(f"agent {self.spec.name}: not started")
        return self.process

    async def _write_user(self, process: AgentProcess, text: str) -> None:
        self._written += 1
        await process.send(
            {
                "type": "user",
                "message": {"role": "user", "content": text},
                "parent_tool_use_id": None,
                "session_id": self.session_id,
            }
        )

    async def _control(
        self, request: dict[str, Any], timeout: float, then: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Send one control request (and call `then` once it is sent) and return the
        CLI's answer."""
        process = self._running()
        self._request_count += 1
        request_id = f"req_{self._request_count}_{uuid.uuid4().hex[:8]}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = future
        try:
            try:
                await process.send(
                    {"type": "control_request", "request_id": request_id, "request": request}
                )
            finally:
                if then is not None:
                    then()
            try:
                answer = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise process.gone(f"no answer to {request['subtype']} in {timeout:g}s") from None
        finally:
            self._requests.pop(request_id, None)
        if answer.get("subtype") == "error":
            raise AgentError(
                f"agent {self.spec.name}: {request['subtype']} refused: {answer.get('error')}"
            )
        return answer

    async def _read(self) -> None:
        """Route what the CLI writes: answers to our requests, its own requests, and the
        conversation, which the running turn reads."""
        process = self._running()
        try:
            async for message in process.messages():
                kind = message.get("type")
                if kind == "control_response":
                    body = message.get("response") or {}
                    future = self._requests.get(str(body.get("request_id")))
                    # The CLI also replays our own answers: those match no request.
                    if future is not None and not future.done():
                        future.set_result(body)
                elif kind == "control_request":
                    self._on_control_request(process, message)
                elif kind == "control_cancel_request":
                    request_id = str(message.get("request_id"))
                    self._withdrawn.add(request_id)
                    task = self._permissions.get(request_id)
                    if task is not None:
                        task.cancel()
                else:
                    self._messages.put_nowait(message)
        except asyncio.CancelledError:
            raise
        except AgentError as exc:
            self._fail_waiters(exc)
            return
        # stdout closed: the agent is gone. Its exit status and last words on stderr
        # make the error, so both are awaited (briefly) first.
        await process.ended(EXIT_WAIT_S)
        self._fail_waiters(process.gone("it exited"))

    def _fail_waiters(self, error: AgentError) -> None:
        for future in self._requests.values():
            if not future.done():
                future.set_exception(error)
        self._gone = error
        self._messages.put_nowait(_EOF)

    def _on_control_request(self, process: AgentProcess, message: dict[str, Any]) -> None:
        request_id = str(message.get("request_id"))
        request = message.get("request") or {}
        if request.get("subtype") == "can_use_tool":
            # Judged in the turn's order: the tool call it asks about, on the line
            # before it, is on the record first.
            self._messages.put_nowait({"type": _CAN_USE_TOOL, "request_id": request_id, **request})
            return
        # Hooks and SDK MCP servers are not ours: say so rather than leave it waiting.
        error = f"unsupported control request: {request.get('subtype')}"
        task = asyncio.create_task(self._refuse(process, request_id, error))
        self._permissions[request_id] = task
        task.add_done_callback(lambda _: self._permissions.pop(request_id, None))

    async def _refuse(self, process: AgentProcess, request_id: str, error: str) -> None:
        reply = {"subtype": "error", "request_id": request_id, "error": error}
        with contextlib.suppress(AgentError):
            await process.send({"type": "control_response", "response": reply})
