"""The ACP driver: any agent that speaks the Agent Client Protocol (`opencode acp`,
`gemini --acp`, claude-agent-acp, codex-acp, ...) over stdio, through the
`agent-client-protocol` SDK's client side.

What the agent says becomes our events: its message chunks one `model.completed` per
message, its tool calls `tool.requested` and their ends `tool.completed|failed`. Its
permission requests are judged on the session's side and answered with the option of
the right *kind* (agents name their options as they like). Plans and thoughts are not
recorded: a plan is re-sent whole at every change and is not a reply of the model.

File reads and writes the agent asks of us (`fs/*`) go through the same jail as our own
file tools: nothing outside the workspace, never git's internals or `.harness/`. We do
not offer terminals: an agent runs its commands itself, after asking.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shlex
import stat
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar, cast

from acp import PROTOCOL_VERSION, RequestError, connect_to_agent, text_block
from acp.client.connection import ClientSideConnection
from acp.interfaces import Client
from acp.schema import (
    AgentMessageChunk,
    AllowedOutcome,
    ClientCapabilities,
    DeniedOutcome,
    FileEditToolCallContent,
    FileSystemCapabilities,
    Implementation,
    LoadSessionResponse,
    PermissionOption,
    ReadTextFileResponse,
    RequestPermissionResponse,
    SessionConfigOptionSelect,
    TextContentBlock,
    ToolCall,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
    UsageUpdate,
    WriteTextFileResponse,
)

from harness_tui import __version__
from harness_tui.atomic import write_atomic_at
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
from harness_tui.policy.jail import (
    JailError,
    Target,
    check_read,
    check_write,
    open_in_workspace,
    protected_reason,
)

_T = TypeVar("_T")

# What a stopReason means for turn.completed; any other reason is a failed turn.
_STOP_REASONS = {"end_turn": "no_tool_calls", "cancelled": "cancelled"}
# JSON-RPC error codes of our fs answers: a refused path, a file that is not there.
_REFUSED = -32602
_NOT_FOUND = -32002
# A tool call as started (ToolCall) or as a request or update describes it.
_Call = ToolCall | ToolCallUpdate
# A command given as argv that is a shell running a script: the script is the command.
_SHELLS = ("sh", "bash", "zsh", "dash")
_SHELL_FLAGS = ("-c", "-lc", "-ic")
# Where agents put a file's path and an edit's two texts in a tool call's raw input
# (Claude Code: file_path, old_string; opencode: filePath, oldString; ...).
_PATH_KEYS = ("path", "file_path", "filePath", "abs_path")
_OLD_KEYS = ("old_string", "oldString", "oldText", "old")
_NEW_KEYS = ("new_string", "newString", "newText", "new")
# How long the agent may take to answer each request of the handshake: npm launchers
# and adapters that start their own CLI take seconds; one that hangs must not hold the
# session forever.
START_TIMEOUT_S = 120.0
# A file the agent reads through us is text it puts in its context, not a dataset.
_READ_LIMIT = 16 * 1024 * 1024


class AcpConnection:
    """One ACP agent process and the one session we hold with it."""

    def __init__(self, spec: AgentSpec, side: AgentSide) -> None:
        self.spec = spec
        self.side = side
        self.process: AgentProcess | None = None
        self.session_id: str | None = None
        self._conn: ClientSideConnection | None = None
        self._client = _Client(self)
        # Updates are handled one at a time, in the order they came: the SDK runs each
        # notification in a task of its own, and a tool call's end must not be recorded
        # before its start. (asyncio.Lock wakes its waiters first come, first served.)
        self._updates = asyncio.Lock()
        self._turn_active = False
        self._cancelled = False
        self._text: list[str] = []
        self._message_id: str | None = None
        self._usage: dict[str, Any] = {}
        self._cost_seen = 0.0
        # The turn's open tool calls as the agent last described them; those recorded
        # (tool.requested) so far; those that ended (a late update records nothing).
        self._calls: dict[str, _Call] = {}
        self._announced: set[str] = set()
        self._done: set[str] = set()
        self._permissions: set[asyncio.Task[PermissionAnswer]] = set()

    @property
    def can_steer(self) -> bool:
        return False

    @property
    def asks_permission(self) -> bool:
        return True

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def pgid(self) -> int | None:
        return self.process.pgid if self.process else None

    # -- the session's side of the seam --------------------------------------------------

    async def start(self) -> str:
        self.process = await AgentProcess.start(self.spec)
        try:
            self.session_id = await self._handshake(self.process)
        except BaseException:
            await self.close()
            raise
        return self.session_id

    async def _handshake(self, process: AgentProcess) -> str:
        """initialize, then session/load (when asked and offered) or session/new, then
        the model when the entry names one and the agent lets it be chosen."""
        conn = self._conn = connect_to_agent(
            cast(Client, self._client), process.stdin, process.stdout
        )
        capabilities = ClientCapabilities(
            fs=FileSystemCapabilities(read_text_file=True, write_text_file=True), terminal=False
        )
        init = await self._call(
            "initialize",
            conn.initialize(
                protocol_version=PROTOCOL_VERSION,
                client_capabilities=capabilities,
                client_info=Implementation(name="harness-tui", version=__version__),
            ),
        )
        cwd = str(self.spec.cwd)
        resume = self.spec.resume_id
        offered = init.agent_capabilities is not None and bool(init.agent_capabilities.load_session)
        options: list[Any] | None = None
        session_id: str | None = None
        if resume and offered:
            loaded = await self._call("session/load", _load(conn, cwd, resume))
            if loaded is not None:
                session_id, options = resume, loaded.config_options
        if session_id is None:
            created = await self._call("session/new", conn.new_session(cwd=cwd, mcp_servers=[]))
            session_id, options = created.session_id, created.config_options
        await self._choose_model(conn, session_id, options or [])
        return session_id

    async def _choose_model(
        self, conn: ClientSideConnection, session_id: str, options: list[Any]
    ) -> None:
        """The entry's model, through the agent's "model" config option. An agent that
        offers none keeps its own default (its own config may name one)."""
        model = self.spec.model
        for option in options:
            if not model or not isinstance(option, SessionConfigOptionSelect):
                continue
            if option.category == "model" and option.current_value != model:
                await self._call(
                    "session/set_config_option",
                    conn.set_config_option(config_id=option.id, session_id=session_id, value=model),
                )
                return

    async def prompt(self, text: str) -> TurnEnd:
        conn, session_id = self._open()
        self._turn_active, self._cancelled = True, False
        self._text, self._message_id, self._usage = [], None, {}
        self._calls, self._announced, self._done = {}, set(), set()
        try:
            return await self._run_turn(conn, session_id, text)
        finally:
            self._turn_active = False
            self._cancel_permissions()

    async def _run_turn(self, conn: ClientSideConnection, session_id: str, text: str) -> TurnEnd:
        try:
            response = await conn.prompt(session_id=session_id, prompt=[text_block(text)])
        except RequestError as exc:
            await self._end_turn()
            if self._cancelled:
                return TurnEnd("cancelled")
            return TurnEnd("failed", error=f"agent {self.spec.name}: {_describe(exc)}")
        except asyncio.CancelledError:
            # Our side gave up on the turn: the agent must stop too.
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.cancel(session_id=session_id))
            raise
        except (ConnectionError, OSError) as exc:
            raise await self._gone(f"it stopped answering during a turn ({exc})") from None
        if response.usage is not None:
            self._usage["input_tokens"] = response.usage.input_tokens
            self._usage["output_tokens"] = response.usage.output_tokens
            if response.usage.cached_read_tokens:
                self._usage["cache_read_tokens"] = response.usage.cached_read_tokens
        await self._end_turn()
        stop = response.stop_reason
        if self._cancelled:
            return TurnEnd("cancelled")
        if stop in _STOP_REASONS:
            return TurnEnd(_STOP_REASONS[stop])
        return TurnEnd("failed", error=f"agent {self.spec.name} ended the turn: {stop}")

    async def _end_turn(self) -> None:
        """The last message (with the turn's usage), and an end for every tool call the
        agent left open: none of ours stays "running" after its turn."""
        async with self._updates:
            await self._end_message(at_turn_end=True)
            error = "cancelled" if self._cancelled else "not finished when the turn ended"
            for call in list(self._calls.values()):
                await self._track(call, announce=True)
                await self._tool_ended(call.tool_call_id, "tool.failed", {"error": error})

    async def steer(self, text: str) -> bool:
        return False

    async def interrupt(self) -> None:
        if not self._turn_active or self._conn is None or self.session_id is None:
            return
        self._cancelled = True
        # ACP says: answer every pending permission request `cancelled` on cancel.
        self._cancel_permissions()
        with contextlib.suppress(ConnectionError, OSError):
            await self._conn.cancel(session_id=self.session_id)

    async def close(self) -> None:
        self._cancel_permissions()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        if self.process is not None:
            await self.process.stop()

    # -- the agent's side: what it tells and asks us ---------------------------------------

    async def on_update(self, session_id: str, update: object) -> None:
        async with self._updates:
            # Outside a turn come only replays of an old conversation (session/load,
            # before its id is ours): they are in our log already, and the cost they
            # report was counted then.
            if not self._turn_active:
                if isinstance(update, UsageUpdate) and update.cost is not None:
                    self._cost_seen = update.cost.amount
                return
            if session_id != self.session_id:
                return
            if isinstance(update, AgentMessageChunk):
                if update.message_id is not None and update.message_id != self._message_id:
                    await self._end_message()
                    self._message_id = update.message_id
                if isinstance(update.content, TextContentBlock):
                    self._text.append(update.content.text)
            elif isinstance(update, ToolCallStart):
                await self._track(update)
            elif isinstance(update, ToolCallProgress):
                await self._tool_progress(update)
            elif isinstance(update, UsageUpdate):
                if update.cost is not None and update.cost.currency.upper() == "USD":
                    # The agent reports the session's cost so far; a message carries its own.
                    spent = update.cost.amount - self._cost_seen
                    self._cost_seen = update.cost.amount
                    if spent > 0:
                        self._usage["cost_usd"] = self._usage.get("cost_usd", 0.0) + spent

    async def on_permission(
        self, session_id: str, tool_call: ToolCallUpdate, options: list[PermissionOption]
    ) -> RequestPermissionResponse:
        if self._cancelled or not self._turn_active or session_id != self.session_id:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        # Whatever the agent said before asking is recorded before the question, and the
        # call asked about is on the record (announced now if it was not yet).
        async with self._updates:
            call = await self._track(tool_call, announce=True) or tool_call
        tool, args, diff = _tool_of(call, self.spec.cwd)
        request = PermissionRequest(
            call_id=tool_call.tool_call_id, tool=tool, args=args, title=call.title or "", diff=diff
        )
        waiter = asyncio.ensure_future(self.side.permission(request))
        self._permissions.add(waiter)
        try:
            answer = await waiter
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        finally:
            self._permissions.discard(waiter)
        if self._cancelled:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        option = _choose(options, answer)
        if option is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=option.option_id)
        )

    async def on_read(
        self, session_id: str, path: str, line: int | None, limit: int | None
    ) -> ReadTextFileResponse:
        self._check_session(session_id)
        return ReadTextFileResponse(content=_read_text(self.spec.cwd, path, line, limit))

    async def on_write(self, session_id: str, path: str, content: str) -> WriteTextFileResponse:
        self._check_session(session_id)
        _write_text(self.spec.cwd, path, content)
        return WriteTextFileResponse()

    # -- inside --------------------------------------------------------------------------

    def _open(self) -> tuple[ClientSideConnection, str]:
        if self._conn is None or self.session_id is None:
            raise AgentError(f"agent {self.spec.name}: not started")
        return self._conn, self.session_id

    def _check_session(self, session_id: str) -> None:
        if session_id != self.session_id:
            raise RequestError(_REFUSED, f"unknown session {session_id!r}")

    async def _call(self, method: str, request: Awaitable[_T]) -> _T:
        """A request of the handshake; its failure an AgentError naming the agent."""
        try:
            return await asyncio.wait_for(request, START_TIMEOUT_S)
        except TimeoutError:
            raise AgentError(
                f"agent {self.spec.name}: no answer to {method} within {START_TIMEOUT_S:.0f} s"
            ) from None
        except RequestError as exc:
            raise AgentError(f"agent {self.spec.name}: {method} failed: {_describe(exc)}") from None
        except (ConnectionError, OSError) as exc:
            raise await self._gone(f"it stopped answering at {method} ({exc})") from None

    async def _gone(self, what: str) -> AgentError:
        assert self.process is not None
        await self.process.ended()
        return self.process.gone(what)

    async def _end_message(self, *, at_turn_end: bool = False) -> None:
        """Record the message the chunks so far made (at a turn's end, also usage alone)."""
        text = "".join(self._text)
        self._text = []
        if not text and not (at_turn_end and self._usage):
            return
        usage, self._usage = self._usage, {}
        await self.side.emit("model.completed", {"text": text, "tool_calls": [], "usage": usage})

    async def _track(self, call: _Call, *, announce: bool = False) -> _Call | None:
        """Fold what the agent says of a tool call into what we know of it, and record it
        (tool.requested) once it says what it will do, or now with `announce`: opencode
        starts a call with no input, and gives the command in its next update. Returns
        the call as known now; None for one that ended already."""
        call_id = call.tool_call_id
        if call_id in self._done:
            return None
        known = self._calls.get(call_id)
        if known is None:
            await self._end_message()  # the message before a tool call has ended
        merged = call if known is None else _merged(known, call)
        self._calls[call_id] = merged
        if call_id not in self._announced and (announce or _described(merged)):
            self._announced.add(call_id)
            tool, args, _ = _tool_of(merged, self.spec.cwd)
            await self.side.emit("tool.requested", {"call_id": call_id, "tool": tool, "args": args})
        return merged

    async def _tool_progress(self, update: ToolCallProgress) -> None:
        ending = update.status in ("completed", "failed")
        if await self._track(update, announce=ending) is None:
            return
        call_id = update.tool_call_id
        if update.status == "completed":
            await self._tool_ended(call_id, "tool.completed", {"result": _output_of(update)})
        elif update.status == "failed":
            error = _output_of(update) or "failed"
            await self._tool_ended(call_id, "tool.failed", {"error": error})

    async def _tool_ended(self, call_id: str, type_: str, data: dict[str, Any]) -> None:
        self._calls.pop(call_id, None)
        self._announced.discard(call_id)
        self._done.add(call_id)
        await self.side.emit(type_, {"call_id": call_id, **data})

    def _cancel_permissions(self) -> None:
        for waiter in list(self._permissions):
            waiter.cancel()


class _Client:
    """What the SDK calls when the agent asks something of us (see acp.interfaces.Client:
    only these, the rest is answered "method not found")."""

    def __init__(self, connection: AcpConnection) -> None:
        self._connection = connection

    async def session_update(self, session_id: str, update: object, **_: Any) -> None:
        await self._connection.on_update(session_id, update)

    async def request_permission(
        self,
        session_id: str,
        tool_call: ToolCallUpdate,
        options: list[PermissionOption],
        **_: Any,
    ) -> RequestPermissionResponse:
        return await self._connection.on_permission(session_id, tool_call, options)

    async def read_text_file(
        self,
        session_id: str,
        path: str,
        line: int | None = None,
        limit: int | None = None,
        **_: Any,
    ) -> ReadTextFileResponse:
        return await self._connection.on_read(session_id, path, line, limit)

    async def write_text_file(
        self, session_id: str, path: str, content: str, **_: Any
    ) -> WriteTextFileResponse:
        return await self._connection.on_write(session_id, path, content)


# -- permission options -------------------------------------------------------------------


def _choose(options: list[PermissionOption], answer: PermissionAnswer) -> PermissionOption | None:
    """The agent's option for our answer, by kind; None when it offers none that fits
    (the request is then answered `cancelled`)."""
    by_kind: dict[str, PermissionOption] = {}
    for option in options:
        by_kind.setdefault(option.kind, option)
    if answer.allow and answer.edited_args is None:
        # allow_always only when a person chose it: otherwise the agent would stop
        # asking, and our policy would not see its next requests.
        wanted = ("allow_always", "allow_once") if answer.always else ("allow_once",)
    else:
        # Edited arguments cannot be carried by ACP: the call is refused instead.
        wanted = ("reject_once", "reject_always")
    for kind in wanted:
        if kind in by_kind:
            return by_kind[kind]
    if answer.allow and answer.edited_args is None:
        # Only "always" offered to a once: refusing is the answer that grants no more.
        return _choose(options, PermissionAnswer(False))
    return None


# -- tool calls in our terms --------------------------------------------------------------


def _merged(started: _Call, update: _Call) -> _Call:
    """A tool call as the agent last described it: the fields an update sets replace
    those it started with."""
    fields = {
        name: value
        for name, value in update
        if value is not None and name not in ("tool_call_id", "session_update")
    }
    return started.model_copy(update=fields)


def _tool_of(call: _Call, cwd: Path) -> tuple[str, dict[str, Any], str | None]:
    """Our tool name and arguments for the agent's tool call, and the diff a person
    approving it reads: execute -> bash {command}; edit -> write_file {path, content}
    or edit_file {path, old_string, new_string}; read -> read_file {path} (paths in the
    workspace relative to it, as our own tools name them); else the agent's kind (or
    its title) and raw input."""
    raw_args = _raw_args(call)
    kind = call.kind
    if kind == "execute":
        command = raw_args.get("command", raw_args.get("cmd"))
        if isinstance(command, list):
            parts = [str(part) for part in command]
            # `bash -lc "..."` as argv (codex-acp): the policy judges the script in it.
            if (
                len(parts) == 3
                and parts[0].rsplit("/", 1)[-1] in _SHELLS
                and parts[1] in _SHELL_FLAGS
            ):
                command = parts[2]
            else:
                command = shlex.join(parts)
        if not isinstance(command, str) or not command:
            command = call.title or ""
        return SHELL_TOOL, {"command": command}, None
    diffs = [item for item in call.content or [] if isinstance(item, FileEditToolCallContent)]
    path = _path_of(raw_args, call)
    if kind == "edit":
        if diffs:
            edit = diffs[0]
            diff = "".join(_diff(item, cwd) for item in diffs)
            name = workspace_name(edit.path, cwd)
            if edit.old_text is None:
                return "write_file", {"path": name, "content": edit.new_text}, diff
            args = {"path": name, "old_string": edit.old_text, "new_string": edit.new_text}
            return "edit_file", args, diff
        return _edit_of(raw_args, path or "", cwd)
    if kind == "read" and path:
        return "read_file", {"path": workspace_name(path, cwd)}, None
    name = kind if kind and kind != "other" else (call.title or "tool")
    return name, raw_args, None


def _raw_args(call: _Call) -> dict[str, Any]:
    raw = call.raw_input
    if raw is None:
        return {}
    return dict(raw) if isinstance(raw, dict) else {"input": raw}


def _described(call: _Call) -> bool:
    """Whether the call says what it will do: the command, the file, some input."""
    raw_args = _raw_args(call)
    if call.kind == "execute":
        return bool(raw_args.get("command") or raw_args.get("cmd"))
    if call.kind in ("edit", "read"):
        edits = any(isinstance(item, FileEditToolCallContent) for item in call.content or [])
        return edits or any(raw_args.get(key) for key in _PATH_KEYS)
    # The directory it runs in is not what it does.
    return any(key != "cwd" for key in raw_args)


def _edit_of(
    raw_args: dict[str, Any], path: str, cwd: Path
) -> tuple[str, dict[str, Any], str | None]:
    """An edit the agent described only by its raw input (Claude's Write and Edit:
    file_path with content, or old_string and new_string)."""
    name = workspace_name(path, cwd)
    content = raw_args.get("content")
    if isinstance(content, str):
        return (
            "write_file",
            {"path": name, "content": content},
            change_diff(path, None, content, cwd),
        )
    old = next((raw_args[k] for k in _OLD_KEYS if k in raw_args), None)
    new = next((raw_args[k] for k in _NEW_KEYS if k in raw_args), None)
    if isinstance(old, str) and isinstance(new, str):
        args = {"path": name, "old_string": old, "new_string": new}
        return "edit_file", args, change_diff(path, old, new, cwd)
    return "edit_file", {**raw_args, "path": name}, None


def _path_of(raw_args: dict[str, Any], call: _Call) -> str | None:
    for key in _PATH_KEYS:
        value = raw_args.get(key)
        if isinstance(value, str) and value:
            return value
    if call.locations:
        return call.locations[0].path
    return None


def _diff(edit: FileEditToolCallContent, cwd: Path) -> str:
    return change_diff(edit.path, edit.old_text, edit.new_text, cwd)


def _output_of(update: ToolCallUpdate) -> str:
    """What a finished tool call produced, as text: its text content, else its raw output."""
    parts: list[str] = []
    for item in update.content or []:
        block = getattr(item, "content", None)
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
    if parts:
        return "\n".join(parts)
    raw = update.raw_output
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict):
        for key in ("output", "stdout", "result", "error"):
            if isinstance(raw.get(key), str):
                return str(raw[key])
    return str(raw)


async def _load(
    conn: ClientSideConnection, cwd: str, session_id: str
) -> LoadSessionResponse | None:
    """session/load; None when the agent refuses it (it forgot the session: its own
    store was cleared), since a new conversation beats none, and the new id returned
    says so to whoever records it."""
    try:
        return await conn.load_session(cwd=cwd, session_id=session_id, mcp_servers=[])
    except RequestError:
        return None


def _describe(exc: RequestError) -> str:
    data = exc.data
    if isinstance(data, dict) and isinstance(data.get("details"), str):
        return f"{exc} ({data['details']})"
    return str(exc)


# -- fs/*: the jailed file access we offer ------------------------------------------------


def _refused(exc: JailError | str) -> RequestError:
    return RequestError(_REFUSED, str(exc))


def _read_text(workspace: Path, path: str, line: int | None, limit: int | None) -> str:
    """The text of `path` in the workspace (from 1-based `line`, at most `limit` lines),
    read on the handle the jail resolved; a refusal is a JSON-RPC error."""
    try:
        with open_in_workspace(workspace, path) as target:
            check_read(target, path)
            data = _read_bytes(target, path)
    except JailError as exc:
        raise _refused(exc) from None
    text = data.decode("utf-8", errors="replace")
    if line is None and limit is None:
        return text
    lines = text.splitlines(keepends=True)
    start = max((line or 1) - 1, 0)
    end = None if limit is None else start + max(limit, 0)
    return "".join(lines[start:end])


def _read_bytes(target: Target, path: str) -> bytes:
    if target.name is None:
        raise _refused(f"{path!r} is a directory, not a file")
    try:
        # O_NONBLOCK: a FIFO put there is refused below, not waited on.
        fd = target.open(os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise RequestError(_NOT_FOUND, f"file not found: {path}", {"uri": path}) from None
    except OSError as exc:
        raise _refused(f"cannot open {path!r}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refused(f"{path!r} is not a regular file")
        if info.st_size > _READ_LIMIT:
            raise _refused(f"{path!r} is too large to read ({info.st_size} bytes)")
        os.set_blocking(fd, True)
        return handle.read(_READ_LIMIT + 1)


def _write_text(workspace: Path, path: str, content: str) -> None:
    """Replace (or create) `path` in the workspace with `content`, atomically, in the
    directory the jail resolved; git's internals, `.harness/` and credentials refused."""
    root = Path(os.path.realpath(workspace))

    def may_create(parts: tuple[str, ...]) -> None:
        refused = protected_reason(root, parts, path)
        if refused is not None:
            raise refused

    try:
        with open_in_workspace(workspace, path, create_dirs=True, may_create=may_create) as target:
            check_write(target, path)
            if target.name is None or target.dir_fd is None:
                raise _refused(f"{path!r} is a directory, not a file")
            try:
                write_atomic_at(target.dir_fd, target.name, content)
            except IsADirectoryError:
                raise _refused(f"{path!r} is a directory, not a file") from None
            except OSError as exc:
                if exc.errno == errno.EISDIR:
                    raise _refused(f"{path!r} is a directory, not a file") from None
                raise _refused(f"cannot write {path!r}: {exc.strerror or exc}") from None
    except JailError as exc:
        raise _refused(exc) from None
