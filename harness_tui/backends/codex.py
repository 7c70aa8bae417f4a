"""Codex through `codex app-server`: JSON-RPC, one object per line on stdio (its
responses carry no "jsonrpc" field).

A connection opens one thread (`thread/start`, or `thread/resume` with the id a session
recorded) and runs one turn at a time (`turn/start` ... `turn/completed`). Codex asks
before it runs a command or changes a file (`item/commandExecution/requestApproval`,
`item/fileChange/requestApproval`) because we start the thread with approval policy
"untrusted" and the workspace-write sandbox; those requests become PermissionRequests
our policy (or a person) answers.

Usage comes from `thread/tokenUsage/updated`, which Codex sends after a response's
message: each agent message is recorded with the tokens counted since the last one
(the thread's running total moved), so repeated reports count once; tokens no message
carried (a response that only called a tool, an interrupted one) go on the turn's end.

The entry's arguments win over our defaults: `-c approval_policy="never"` (or any
other value) in `[agents.NAME] args` is left to Codex, and with "never" the agent is
marked as one that runs tools without asking; `-c sandbox_mode=...` likewise.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness_tui import __version__
from harness_tui.backends.agent import (
    SHELL_TOOL,
    AgentError,
    AgentSide,
    AgentSpec,
    PermissionAnswer,
    PermissionRequest,
    TurnEnd,
)
from harness_tui.backends.changes import workspace_name
from harness_tui.backends.process import AgentProcess

CLIENT_INFO = {"name": "harness-tui", "title": "harness-tui", "version": __version__}
APPROVAL_POLICY = "untrusted"  # asks before anything outside its trusted read-only set
SANDBOX = "workspace-write"
# Codex answers requests at once, but thread/start loads its config, MCP servers and
# auth first: generous, and only there so a wedged agent fails the session instead of
# hanging it.
REQUEST_TIMEOUT_S = 120.0
# JSON-RPC error codes we answer server requests with.
METHOD_NOT_FOUND = -32601


class CodexRequestError(AgentError):
    """Codex answered a request of ours with an error: the agent is alive but refused."""


def configured(argv: Sequence[str], key: str) -> str | None:
    """The value `-c KEY=VALUE` (or `--config KEY=VALUE`) in the agent's arguments sets,
    unquoted; the last one wins, as in Codex. None when the arguments leave it alone."""
    value = None
    for index, arg in enumerate(argv):
        if arg in ("-c", "--config") and index + 1 < len(argv):
            item = argv[index + 1]
        elif arg.startswith("--config="):
            item = arg.removeprefix("--config=")
        else:
            continue
        name, sep, raw = item.partition("=")
        if sep and name.strip() == key:
            value = raw.strip().strip("\"'")
    return value


def _asks(policy: object) -> bool:
    """Whether an approval policy (a name, or Codex's granular object) ever asks."""
    return policy != "never"


def _usage(breakdown: dict[str, Any]) -> dict[str, int]:
    """Codex's token counts in our terms: its input count includes the cached part,
    ours does not."""
    cached = int(breakdown.get("cachedInputTokens") or 0)
    usage = {
        "input_tokens": max(0, int(breakdown.get("inputTokens") or 0) - cached),
        "output_tokens": int(breakdown.get("outputTokens") or 0),
    }
    if cached:
        usage["cache_read_tokens"] = cached
    return usage


def _minus(total: dict[str, int], seen: dict[str, int]) -> dict[str, int]:
    """What the total grew by; counts that did not move are left out."""
    grown = {key: value - seen.get(key, 0) for key, value in total.items()}
    return {key: value for key, value in grown.items() if value > 0}


def _plus(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {key: a.get(key, 0) + b.get(key, 0) for key in {*a, *b}}


def file_change_call(
    changes: Sequence[dict[str, Any]], workspace: Path | None = None
) -> tuple[str, dict[str, Any], str]:
    """A Codex file change as a tool call the policy knows: (tool, args, diff shown).
    One added file is write_file {path, content}, one updated file edit_file {path,
    diff}; anything else (deletes, renames, several files) keeps Codex's own name,
    apply_patch, which the policy does not know, so it prompts. Paths in `workspace`
    are given relative to it, as our own tools' are; others stay absolute."""
    diff = "\n".join(_change_text(change, workspace) for change in changes)
    if len(changes) == 1:
        change = changes[0]
        kind = (change.get("kind") or {}).get("type")
        path = _relative(change.get("path"), workspace)
        if kind == "add":
            return "write_file", {"path": path, "content": change.get("diff", "")}, diff
        if kind == "update" and not (change.get("kind") or {}).get("move_path"):
            return "edit_file", {"path": path, "diff": change.get("diff", "")}, diff
    paths = [_relative(change.get("path"), workspace) for change in changes]
    return "apply_patch", {"paths": paths, "patch": diff}, diff


def _relative(path: object, workspace: Path | None) -> str:
    text = str(path or "")
    return text if workspace is None else workspace_name(text, workspace)


def _change_text(change: dict[str, Any], workspace: Path | None) -> str:
    kind = (change.get("kind") or {}).get("type", "update")
    path = _relative(change.get("path"), workspace) or "?"
    body = str(change.get("diff", ""))
    if kind == "update":
        return body if body.startswith(("---", "diff ")) else f"--- {path}\n+++ {path}\n{body}"
    if kind == "add":
        lines = "".join(f"+{line}\n" for line in body.splitlines())
        return f"--- /dev/null\n+++ {path}\n{lines}"
    lines = "".join(f"-{line}\n" for line in body.splitlines())
    return f"--- {path}\n+++ /dev/null\n{lines}"


class CodexConnection:
    """One `codex app-server` process and its thread."""

    def __init__(self, spec: AgentSpec, side: AgentSide) -> None:
        self.spec = spec
        self.side = side
        self._process: AgentProcess | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        # What the agent said while a turn runs, in order, for that turn; None once its
        # stdout closed.
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._dead: AgentError | None = None
        self._closed = False
        self._thread_id = ""
        self._running = False
        self._turn_id: str | None = None
        self._interrupt_wanted = False
        # Items as last seen (a file change approval shows the item's changes) and the
        # ones whose tool.requested is recorded.
        self._items: dict[str, dict[str, Any]] = {}
        self._announced: set[str] = set()
        self._answering: dict[int | str, asyncio.Task[None]] = {}
        # Refusals sent from the reader, kept until sent.
        self._chores: set[asyncio.Task[None]] = set()
        # Requests Codex settled itself (serverRequest/resolved) before we answered.
        self._withdrawn: set[int | str] = set()
        self._turn_known = asyncio.Event()
        # Usage: the thread's running total as last reported, what no message carried
        # yet, and the agent message waiting for its response's usage.
        self._total_seen: dict[str, int] | None = None
        self._carried: dict[str, int] = {}
        self._pending_text: str | None = None
        self._error: str | None = None
        policy = configured(spec.argv, "approval_policy")
        self._policy_configured = policy is not None
        self._asks = _asks(policy)

    @property
    def can_steer(self) -> bool:
        return True

    @property
    def asks_permission(self) -> bool:
        return self._asks

    @property
    def thread_id(self) -> str:
        """Codex's id of the thread, once started (what a resume carries on)."""
        return self._thread_id

    @property
    def turn_id(self) -> str | None:
        """Codex's id of the running turn, once turn/start answered."""
        return self._turn_id

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def pgid(self) -> int | None:
        return self._process.pgid if self._process else None

    # The conversation.

    async def start(self) -> str:
        self._process = await AgentProcess.start(self.spec)
        self._reader = asyncio.create_task(self._read(), name=f"codex reader ({self.spec.name})")
        try:
            await self._request("initialize", {"clientInfo": CLIENT_INFO})
            await self._notify("initialized")
            params: dict[str, Any] = {"cwd": str(self.spec.cwd)}
            if not self._policy_configured:
                params["approvalPolicy"] = APPROVAL_POLICY
            if configured(self.spec.argv, "sandbox_mode") is None:
                params["sandbox"] = SANDBOX
            if self.spec.model:
                params["model"] = self.spec.model
            if self.spec.resume_id:
                # The history stays with Codex: we only carry on.
                params.update(threadId=self.spec.resume_id, excludeTurns=True)
            method = "thread/resume" if self.spec.resume_id else "thread/start"
            result = await self._request(method, params)
        except BaseException:
            await self.close()
            raise
        thread = result.get("thread") or {}
        thread_id = thread.get("id")
        if not isinstance(thread_id, str) or not thread_id:
            await self.close()
            raise AgentError(f"agent {self.spec.name}: {method} answered without a thread id")
        self._thread_id = thread_id
        if "approvalPolicy" in result:
            self._asks = _asks(result["approvalPolicy"])
        return thread_id

    async def prompt(self, text: str) -> TurnEnd:
        if self._running:
            raise AgentError(f"agent {self.spec.name}: a turn is already running")
        self._check_alive()
        self._begin_turn()
        try:
            try:
                result = await self._request(
                    "turn/start",
                    {"threadId": self._thread_id, "input": [{"type": "text", "text": text}]},
                )
            except CodexRequestError as exc:
                return TurnEnd("failed", error=str(exc))
            self._turn_id = str((result.get("turn") or {}).get("id", ""))
            self._turn_known.set()
            if self._interrupt_wanted:
                await self._send_interrupt()
            return await self._run_turn()
        finally:
            await self._end_turn()

    async def steer(self, text: str) -> bool:
        if self._running and self._turn_id is None:
            # turn/start is on its way: the text joins the turn once it has an id.
            await self._turn_known.wait()
        if not self._running or self._turn_id is None or self._dead:
            return False
        try:
            await self._request(
                "turn/steer",
                {
                    "threadId": self._thread_id,
                    "expectedTurnId": self._turn_id,
                    "input": [{"type": "text", "text": text}],
                },
            )
        except AgentError:
            # The turn ended meanwhile (or the agent is gone, which prompt reports).
            return False
        return True

    async def interrupt(self) -> None:
        if not self._running:
            return
        self._interrupt_wanted = True
        if self._turn_id is not None:
            await self._send_interrupt()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in [*self._answering.values(), *self._chores]:
            task.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._process is not None:
            await self._process.stop()
        # A turn still running ends with this error.
        if self._dead is None:
            self._dead = AgentError(f"agent {self.spec.name}: closed")
        self._fail_waiting(self._dead)
        self._inbox.put_nowait(None)

    # One turn.

    def _begin_turn(self) -> None:
        self._running = True
        self._turn_id = None
        self._turn_known = asyncio.Event()
        self._interrupt_wanted = False
        self._pending_text = None
        self._carried = {}
        self._error = None
        # What arrived between turns belongs to none.
        while not self._inbox.empty():
            if self._inbox.get_nowait() is None:
                self._inbox.put_nowait(None)
                break

    async def _end_turn(self) -> None:
        self._running = False
        self._turn_id = None
        self._turn_known.set()
        tasks = list(self._answering.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_turn(self) -> TurnEnd:
        while True:
            message = await self._inbox.get()
            if message is None:
                raise self._dead or AgentError(f"agent {self.spec.name}: closed")
            if "id" in message:
                await self._on_request(message)
                continue
            params = message.get("params") or {}
            if not self._ours(params):
                continue
            method = message.get("method")
            if method == "item/started":
                await self._item_started(params.get("item") or {})
            elif method == "item/completed":
                await self._item_completed(params.get("item") or {})
            elif method == "thread/tokenUsage/updated":
                await self._count_usage(params.get("tokenUsage") or {})
            elif method == "error" and not params.get("willRetry"):
                self._error = str((params.get("error") or {}).get("message") or "") or None
            elif method == "turn/completed":
                await self._flush_message()
                end = self._turn_end(params.get("turn") or {})
                await self._close_open_calls(end)
                return end

    def _ours(self, params: dict[str, Any]) -> bool:
        thread_id = params.get("threadId")
        if thread_id is not None and thread_id != self._thread_id:
            return False  # a subagent's thread, or another client's
        turn_id = params.get("turnId") or (params.get("turn") or {}).get("id")
        return turn_id is None or turn_id == self._turn_id

    def _turn_end(self, turn: dict[str, Any]) -> TurnEnd:
        status = turn.get("status")
        usage = dict(self._carried)
        self._carried = {}
        if status == "completed":
            return TurnEnd("no_tool_calls", usage=usage)
        if status == "interrupted":
            return TurnEnd("cancelled", usage=usage)
        error = (turn.get("error") or {}).get("message") or self._error
        return TurnEnd("failed", error=error or f"turn {status}", usage=usage)

    async def _close_open_calls(self, end: TurnEnd) -> None:
        """Codex does not end the items an interrupt cut short: ended here, so that no
        call stays open in the log."""
        error = "cancelled" if end.reason == "cancelled" else "the turn ended before it finished"
        for call_id in sorted(self._announced):
            await self.side.emit("tool.failed", {"call_id": call_id, "error": error})
        self._announced.clear()
        self._items.clear()

    async def _item_started(self, item: dict[str, Any]) -> None:
        item_id = str(item.get("id", ""))
        self._items[item_id] = item
        if item.get("type") in ("commandExecution", "fileChange", "mcpToolCall", "webSearch"):
            await self._flush_message()
            await self._announce(item)

    async def _item_completed(self, item: dict[str, Any]) -> None:
        item_id = str(item.get("id", ""))
        self._items[item_id] = item
        kind = item.get("type")
        if kind == "agentMessage":
            # Held until its response's usage arrives (Codex reports usage after the
            # message), or anything else happens.
            await self._flush_message()
            self._pending_text = str(item.get("text", ""))
            return
        if kind not in ("commandExecution", "fileChange", "mcpToolCall", "webSearch"):
            return
        await self._flush_message()
        await self._announce(item)
        self._announced.discard(item_id)
        self._items.pop(item_id, None)
        await self._tool_ended(item)

    async def _announce(self, item: dict[str, Any]) -> None:
        """tool.requested for an item, once."""
        item_id = str(item.get("id", ""))
        if item_id in self._announced:
            return
        self._announced.add(item_id)
        tool, args = self._tool_call(item, self.spec.cwd)
        await self.side.emit("tool.requested", {"call_id": item_id, "tool": tool, "args": args})

    @staticmethod
    def _tool_call(item: dict[str, Any], workspace: Path) -> tuple[str, dict[str, Any]]:
        kind = item.get("type")
        if kind == "commandExecution":
            return SHELL_TOOL, {"command": str(item.get("command", ""))}
        if kind == "fileChange":
            tool, args, _diff = file_change_call(item.get("changes") or [], workspace)
            return tool, args
        if kind == "mcpToolCall":
            name = f"mcp__{item.get('server', '?')}__{item.get('tool', '?')}"
            arguments = item.get("arguments")
            return name, arguments if isinstance(arguments, dict) else {"arguments": arguments}
        return "web_search", {"query": str(item.get("query", ""))}

    async def _tool_ended(self, item: dict[str, Any]) -> None:
        call_id = str(item.get("id", ""))
        status = item.get("status")
        kind = item.get("type")
        if status == "declined":
            await self.side.emit(
                "tool.failed", {"call_id": call_id, "error": "declined", "refused": True}
            )
            return
        if kind == "commandExecution":
            exit_code = item.get("exitCode")
            if exit_code is None and status != "completed":
                await self.side.emit(
                    "tool.failed", {"call_id": call_id, "error": f"command {status}"}
                )
                return
            output = str(item.get("aggregatedOutput") or "").removesuffix("\n")
            data: dict[str, Any] = {
                "call_id": call_id,
                "result": f"{output or '(no output)'}\nexit code: {exit_code}",
                "metadata": {"exit_code": exit_code},
            }
            if item.get("durationMs") is not None:
                data["duration_ms"] = item["durationMs"]
            if exit_code != 0:
                data["is_error"] = True
            await self.side.emit("tool.completed", data)
            return
        if status == "failed":
            error = item.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            await self.side.emit(
                "tool.failed", {"call_id": call_id, "error": str(message or f"{kind} failed")}
            )
            return
        if kind == "fileChange":
            paths = ", ".join(
                _relative(c.get("path"), self.spec.cwd) for c in item.get("changes") or []
            )
            result = f"applied: {paths}"
        elif kind == "mcpToolCall":
            result = _mcp_text(item.get("result"))
        else:
            result = "done"
        await self.side.emit("tool.completed", {"call_id": call_id, "result": result})

    # Usage: one response's message and tokens, recorded together.

    async def _count_usage(self, token_usage: dict[str, Any]) -> None:
        total = _usage(token_usage.get("total") or {})
        if self._total_seen is None:
            # The first report of this process: after a resume the total includes the
            # earlier conversation, so only its last response counts.
            delta = {k: v for k, v in _usage(token_usage.get("last") or {}).items() if v > 0}
        else:
            # Codex repeats a report now and then; the total does not move then.
            delta = _minus(total, self._total_seen)
        self._total_seen = total
        self._carried = _plus(self._carried, delta)
        if self._pending_text is not None:
            await self._flush_message()

    async def _flush_message(self) -> None:
        if self._pending_text is None:
            return
        text, self._pending_text = self._pending_text, None
        usage = {"input_tokens": 0, "output_tokens": 0, **self._carried}
        self._carried = {}
        await self.side.emit("model.completed", {"text": text, "tool_calls": [], "usage": usage})

    # Requests from Codex.

    async def _on_request(self, message: dict[str, Any]) -> None:
        """Answer a request of the agent's without holding up the turn's notifications:
        a permission may wait for a person."""
        request_id = message["id"]
        method = message.get("method")
        params = message.get("params") or {}
        if request_id in self._withdrawn:
            return
        if not self._ours(params):
            await self._refuse(request_id, f"{method} for another thread or turn")
            return
        if method == "item/commandExecution/requestApproval" and params.get("command"):
            item_id = str(params.get("itemId", ""))
            command = str(params["command"])
            if item_id not in self._announced:
                await self._flush_message()
                await self._announce(
                    {"id": item_id, "type": "commandExecution", "command": command}
                )
            request = PermissionRequest(
                call_id=item_id,
                tool=SHELL_TOOL,
                args={"command": command},
                title=str(params.get("reason") or f"Run `{command}`"),
            )
        elif method == "item/fileChange/requestApproval":
            item_id = str(params.get("itemId", ""))
            item = self._items.get(item_id) or {"id": item_id, "type": "fileChange"}
            tool, args, diff = file_change_call(item.get("changes") or [], self.spec.cwd)
            if item_id not in self._announced:
                await self._flush_message()
                await self._announce(item)
            request = PermissionRequest(
                call_id=item_id,
                tool=tool,
                args=args,
                title=str(params.get("reason") or "Change files"),
                diff=diff,
            )
        elif method == "item/commandExecution/requestApproval":
            # Network access for a command (no command to judge): declined.
            with contextlib.suppress(AgentError):
                await self._send({"id": request_id, "result": {"decision": "decline"}})
            return
        else:
            # Extra permissions, questions, tool calls: nothing of ours can judge them,
            # so they are refused, never granted (Codex takes an error as a denial).
            await self._refuse(request_id, str(method))
            return
        task = asyncio.create_task(
            self._answer(request_id, request), name=f"codex approval ({self.spec.name})"
        )
        self._answering[request_id] = task
        task.add_done_callback(lambda _t: self._answering.pop(request_id, None))

    async def _answer(self, request_id: int | str, request: PermissionRequest) -> None:
        try:
            answer = await self.side.permission(request)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # The turn ended or the agent withdrew the request: it needs no answer.
                raise
            # The side gave up on it (its turn was cancelled): Codex must not wait.
            answer = PermissionAnswer(False, reason="cancelled")
        except Exception:
            answer = PermissionAnswer(False, reason="the permission check failed")
        decision = "decline"
        if answer.allow and (answer.edited_args in (None, request.args)):
            # An edited command cannot be carried by this protocol: declined instead.
            decision = "acceptForSession" if answer.always else "accept"
        with contextlib.suppress(AgentError):
            await self._send({"id": request_id, "result": {"decision": decision}})

    async def _refuse(self, request_id: int | str, method: str) -> None:
        with contextlib.suppress(AgentError):
            if method == "mcpServer/elicitation/request":
                await self._send({"id": request_id, "result": {"action": "decline"}})
                return
            await self._send(
                {
                    "id": request_id,
                    "error": {
                        "code": METHOD_NOT_FOUND,
                        "message": f"harness-tui does not answer {method}",
                    },
                }
            )

    # The wire.

    async def _read(self) -> None:
        assert self._process is not None
        error: AgentError | None = None
        try:
            async for message in self._process.messages():
                self._dispatch(message)
        except AgentError as exc:
            error = exc
        if error is None:
            # Its exit status and last words on stderr make the error worth reading.
            await self._process.ended(5)
            error = self._process.gone("it exited")
        self._dead = error
        self._fail_waiting(error)
        self._inbox.put_nowait(None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            response_id = message.get("id")
            future = self._waiting.pop(response_id, None) if isinstance(response_id, int) else None
            if future is not None and not future.done():
                future.set_result(message)
            return
        params = message.get("params") or {}
        if message.get("method") == "serverRequest/resolved":
            # Codex answered it itself (an interrupt, the turn's end): stop asking.
            withdrawn = params.get("requestId")
            if isinstance(withdrawn, int | str):
                self._withdrawn.add(withdrawn)
                task = self._answering.get(withdrawn)
                if task is not None:
                    task.cancel()
        if not self._running:
            if "id" in message:
                chore = asyncio.create_task(self._refuse(message["id"], str(message["method"])))
                self._chores.add(chore)
                chore.add_done_callback(self._chores.discard)
            return
        self._inbox.put_nowait(message)

    async def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._check_alive()
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await self._send({"id": request_id, "method": method, "params": params})
            try:
                message = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
            except TimeoutError:
                raise AgentError(
                    f"agent {self.spec.name}: no answer to {method} in {REQUEST_TIMEOUT_S:g} s"
                ) from None
        finally:
            self._waiting.pop(request_id, None)
        if "error" in message:
            error = message.get("error") or {}
            raise CodexRequestError(
                f"agent {self.spec.name}: {method} failed: {error.get('message', error)}"
            )
        result = message.get("result")
        return result if isinstance(result, dict) else {}

    async def _notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        self._check_alive()
        assert self._process is not None
        await self._process.send(message)

    async def _send_interrupt(self) -> None:
        with contextlib.suppress(AgentError):
            await self._request(
                "turn/interrupt", {"threadId": self._thread_id, "turnId": self._turn_id}
            )

    def _check_alive(self) -> None:
        if self._dead is not None:
            raise self._dead
        if self._closed or self._process is None:
            raise AgentError(f"agent {self.spec.name}: not running")

    def _fail_waiting(self, error: AgentError) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()


def _mcp_text(result: object) -> str:
    if isinstance(result, dict):
        parts = [
            str(block.get("text", ""))
            for block in result.get("content") or []
            if isinstance(block, dict) and block.get("type") == "text"
        ]
        if parts:
            return "\n".join(parts)
    return "done" if result is None else str(result)
