#!/usr/bin/env python3
"""A scripted stand-in for Claude Code that speaks its stream-json control protocol.

It takes the flags the real CLI takes (`-p --input-format stream-json --output-format
stream-json --verbose --permission-prompt-tool stdio [--model M] [--session-id ID]
[--resume ID] [--replay-user-messages] [--permission-mode MODE] [--settings JSON]`,
where only the settings' `permissions.ask` rules count) and answers as
Claude Code 2.1 does on this machine (AGENT-PROTOCOLS.md): `control_request
initialize` answered, `system/init` at each turn's start, one `assistant` line per
content block, `user` tool results, `system/task_*` for a background command, and a
`result` per turn with the turn's usage and the process's running total cost.

What the user's message says decides the turn:
- `run: CMD` asks `can_use_tool` for Bash {command: CMD} (unless CMD is one of the
  read-only commands the real CLI runs unasked, and no "ask" rule names Bash), runs
  it (with the answer's updatedInput) and reports its output; an interrupt kills it.
- `background: CMD` does the same as a background task (system/task_started, then
  task_notification when it ends).
- `write: PATH: TEXT` asks for Write {file_path, content} and writes the file;
  `edit: PATH: OLD -> NEW` asks for Edit {file_path, old_string, new_string}.
- `fail` ends the turn with an error result; `crash` writes to stderr and exits 3.
- `recall` answers with the user's earlier messages (from a resumed conversation too).
- anything else is echoed back: "You said: ...".
A user message that arrives while a turn runs joins it (as Claude Code's mid-turn
messages do): the turn's last reply says "Also: ...".

Conversations are kept in FAKE_CLAUDE_STATE (a directory), else `.fake-claude/` in
the working directory, one JSON file per session id, for `--resume`. Every line it
reads is appended to FAKE_CLAUDE_LOG when set, for tests to check what a client sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

MODEL = "fake-claude-model"
# Per request: what the real CLI's assistant lines report (a start-of-stream snapshot),
# and what the request really cost, which only the turn's result adds up.
INPUT_TOKENS = 10
SNAPSHOT_OUTPUT_TOKENS = 1
OUTPUT_TOKENS = 5
COST_PER_REQUEST = 0.001


def parse_args(argv: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {"flags": set()}
    valued = {
        "--input-format",
        "--output-format",
        "--permission-prompt-tool",
        "--model",
        "--session-id",
        "--resume",
        "--permission-mode",
        "--settings",
    }
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in valued and i + 1 < len(argv):
            options[arg] = argv[i + 1]
            i += 2
            continue
        options["flags"].add(arg)
        i += 1
    return options


class FakeClaude:
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.replay = "--replay-user-messages" in options["flags"]
        mode = options.get("--permission-mode", "default")
        if "--dangerously-skip-permissions" in options["flags"]:
            mode = "bypassPermissions"
        self.mode = mode
        self.asks = options.get("--permission-prompt-tool") == "stdio" and mode not in (
            "bypassPermissions",
        )
        # Tools a settings "ask" rule names (`--settings '{"permissions": {"ask": [...]}}'`):
        # asked about every time. Without one, like the real CLI, a command it judges
        # read-only runs unasked.
        settings = json.loads(options.get("--settings") or "{}")
        self.ask_rules = set((settings.get("permissions") or {}).get("ask") or [])
        self.model = options.get("--model") or MODEL
        state = os.environ.get("FAKE_CLAUDE_STATE")
        self.state_dir = Path(state) if state else Path.cwd() / ".fake-claude"
        self.history: list[str] = []
        resume = options.get("--resume")
        if resume:
            path = self.state_dir / f"{resume}.json"
            if not path.exists():
                sys.stderr.write(f"No conversation found with session ID: {resume}\n")
                sys.stderr.flush()
                sys.exit(1)
            self.history = json.loads(path.read_text())["user_messages"]
            self.session_id = resume
        else:
            self.session_id = options.get("--session-id") or str(uuid.uuid4())
        self.total_cost = 0.0
        self.turn: asyncio.Task[None] | None = None
        self.steers: list[dict[str, Any]] = []
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.interrupted = asyncio.Event()
        self.message_count = 0
        self.log = os.environ.get("FAKE_CLAUDE_LOG")

    # -- output ---------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def assistant(self, block: dict[str, Any], message_id: str) -> None:
        self.send(
            {
                "type": "assistant",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [block],
                    "stop_reason": None,
                    "usage": {
                        "input_tokens": INPUT_TOKENS,
                        "output_tokens": SNAPSHOT_OUTPUT_TOKENS,
                        "cache_read_input_tokens": 0,
                        "cache_creation_input_tokens": 0,
                    },
                },
                "parent_tool_use_id": None,
                "session_id": self.session_id,
                "uuid": str(uuid.uuid4()),
            }
        )

    def new_message_id(self) -> str:
        self.message_count += 1
        return f"msg_fake_{self.message_count}"

    def user_event(self, content: Any) -> None:
        self.send(
            {
                "type": "user",
                "message": {"role": "user", "content": content},
                "parent_tool_use_id": None,
                "session_id": self.session_id,
                "uuid": str(uuid.uuid4()),
            }
        )

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / f"{self.session_id}.json"
        path.write_text(json.dumps({"user_messages": self.history}))

    # -- input ----------------------------------------------------------------

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while raw := await reader.readline():
            line = raw.decode().strip()
            if not line:
                continue
            if self.log:
                append_line(Path(self.log), line)
            message = json.loads(line)
            await self.handle(message)
        # stdin closed: finish the running turn, then exit, as `claude -p` does.
        if self.turn is not None:
            await self.turn

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "control_request":
            request = message["request"]
            subtype = request.get("subtype")
            response: dict[str, Any] = {}
            if subtype == "initialize":
                response = {"commands": [], "models": [{"value": self.model}]}
            elif subtype == "interrupt":
                self.interrupted.set()
            elif subtype not in ("set_permission_mode", "set_model"):
                self.send(
                    {
                        "type": "control_response",
                        "response": {
                            "subtype": "error",
                            "request_id": message["request_id"],
                            "error": f"unsupported control request: {subtype}",
                        },
                    }
                )
                return
            self.send(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "success",
                        "request_id": message["request_id"],
                        "response": response,
                    },
                }
            )
        elif kind == "control_response":
            body = message["response"]
            future = self.pending.pop(body.get("request_id"), None)
            if future is not None and not future.done():
                future.set_result(body)
        elif kind == "user":
            if self.turn is not None and not self.turn.done():
                self.steers.append(message)
            else:
                self.turn = asyncio.create_task(self.run_turn(message))

    # -- a turn ---------------------------------------------------------------

    async def run_turn(
        self, message: dict[str, Any], steers: list[dict[str, Any]] | None = None
    ) -> None:
        self.interrupted.clear()
        self.steers = list(steers or [])
        text = content_text(message["message"]["content"])
        self.send(
            {
                "type": "system",
                "subtype": "init",
                "cwd": os.getcwd(),
                "session_id": self.session_id,
                "tools": ["Bash", "Edit", "Read", "Write"],
                "model": self.model,
                "permissionMode": self.mode,
                "claude_code_version": "fake",
            }
        )
        self.echo(message)
        earlier = list(self.history)
        self.history.append(text)
        self.save()
        requests = 1
        try:
            if text == "crash":
                sys.stderr.write("fake-claude: crashed on purpose\n")
                sys.stderr.flush()
                os._exit(3)
            if text == "fail":
                self.result(requests, error="the model endpoint refused the request")
                return
            tool = tool_for(text)
            if tool is None:
                reply = f"You said: {text}"
                if text == "recall":
                    reply = "Earlier you said: " + " | ".join(earlier)
                self.assistant({"type": "text", "text": reply}, self.new_message_id())
            else:
                outcome = await self.tool_turn(*tool)
                requests += 1
                if outcome is None:  # interrupted
                    self.result(requests, interrupted=True)
                    return
                message_id = self.new_message_id()
                self.assistant({"type": "text", "text": outcome}, message_id)
            # Messages that joined the turn reach the model with its next request.
            if self.steers:
                for steer in self.steers:
                    self.echo(steer)
                    self.history.append(content_text(steer["message"]["content"]))
                self.save()
                joined = "; ".join(content_text(s["message"]["content"]) for s in self.steers)
                self.steers.clear()
                requests += 1
                self.assistant({"type": "text", "text": f"Also: {joined}"}, self.new_message_id())
            self.result(requests)
        finally:
            for future in self.pending.values():
                future.cancel()
            self.pending.clear()
            # Messages that came too late for this turn start the next one.
            if self.steers:
                first, *rest = self.steers
                self.turn = asyncio.create_task(self.run_turn(first, rest))

    def echo(self, message: dict[str, Any]) -> None:
        if self.replay:
            self.send({**message, "session_id": self.session_id, "isReplay": True})

    async def tool_turn(self, name: str, tool_input: dict[str, Any]) -> str | None:
        """One tool call: asked for, run, reported. None when interrupted."""
        message_id = self.new_message_id()
        self.assistant({"type": "text", "text": f"I'll use {name}."}, message_id)
        call_id = f"toolu_fake_{self.message_count}"
        self.assistant(
            {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}, message_id
        )
        if self.asks and (name in self.ask_rules or not read_only(name, tool_input)):
            request_id = str(uuid.uuid4())
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self.pending[request_id] = future
            self.send(
                {
                    "type": "control_request",
                    "request_id": request_id,
                    "request": {
                        "subtype": "can_use_tool",
                        "tool_name": name,
                        "input": tool_input,
                        "description": tool_input.get("description", f"Use {name}"),
                        "permission_suggestions": [],
                        "tool_use_id": call_id,
                    },
                }
            )
            answer = await self.until_interrupted(future)
            if answer is None:
                self.interrupted_tool(call_id)
                return None
            if answer.get("subtype") != "success":
                self.tool_result(call_id, f"permission error: {answer.get('error')}", True)
                return "The permission check failed."
            decision = answer.get("response") or {}
            if decision.get("behavior") != "allow":
                self.tool_result(call_id, decision.get("message", "denied"), True)
                return f"Denied: {decision.get('message', '')}"
            tool_input = decision.get("updatedInput") or tool_input
        if name == "Bash":
            return await self.run_bash(call_id, tool_input)
        path = Path(tool_input["file_path"])
        if name == "Write":
            path.write_text(tool_input["content"])
        else:
            path.write_text(
                path.read_text().replace(tool_input["old_string"], tool_input["new_string"])
            )
        self.tool_result(call_id, f"The file {path} has been updated.", False)
        return f"Wrote {path.name}."

    async def run_bash(self, call_id: str, tool_input: dict[str, Any]) -> str | None:
        background = bool(tool_input.get("run_in_background"))
        command = tool_input["command"]
        process = await asyncio.create_subprocess_shell(
            command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        task_id = f"task_{call_id}"
        if background:
            self.send(
                {
                    "type": "system",
                    "subtype": "task_started",
                    "task_id": task_id,
                    "tool_use_id": call_id,
                    "description": tool_input.get("description", command),
                    "task_type": "local_bash",
                    "session_id": self.session_id,
                }
            )
        done = await self.until_interrupted(asyncio.ensure_future(process.communicate()))
        if done is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await process.wait()
            if background:
                self.task_notification(task_id, call_id, "stopped", command)
            self.interrupted_tool(call_id)
            return None
        output = done[0].decode(errors="replace").strip()
        failed = process.returncode != 0
        if background:
            status = "failed" if failed else "completed"
            self.task_notification(task_id, call_id, status, command)
        self.tool_result(call_id, output or "(Bash completed with no output)", failed)
        return f"Ran it: {output}" if not failed else f"It failed: {output}"

    def task_notification(self, task_id: str, call_id: str, status: str, summary: str) -> None:
        self.send(
            {
                "type": "system",
                "subtype": "task_notification",
                "task_id": task_id,
                "tool_use_id": call_id,
                "status": status,
                "output_file": "",
                "summary": summary,
                "session_id": self.session_id,
            }
        )

    async def until_interrupted(self, future: asyncio.Future[Any]) -> Any:
        interrupted = asyncio.ensure_future(self.interrupted.wait())
        await asyncio.wait({future, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        # An interrupt wins over an answer read in the same breath.
        if not self.interrupted.is_set():
            interrupted.cancel()
            return future.result()
        interrupted.cancel()
        future.cancel()
        return None

    def tool_result(self, call_id: str, content: str, is_error: bool) -> None:
        self.user_event(
            [
                {
                    "type": "tool_result",
                    "tool_use_id": call_id,
                    "content": content,
                    "is_error": is_error,
                }
            ]
        )

    def interrupted_tool(self, call_id: str) -> None:
        self.tool_result(call_id, "The user doesn't want to proceed with this tool use.", True)
        self.user_event([{"type": "text", "text": "[Request interrupted by user for tool use]"}])

    def result(self, requests: int, *, error: str | None = None, interrupted: bool = False) -> None:
        cost = COST_PER_REQUEST * requests
        self.total_cost += cost
        usage = {
            "input_tokens": INPUT_TOKENS * requests,
            "output_tokens": OUTPUT_TOKENS * requests,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        }
        body: dict[str, Any] = {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": requests,
            "session_id": self.session_id,
            # Like the real CLI: the process's running total, not this turn's.
            "total_cost_usd": round(self.total_cost, 6),
            "usage": usage,
            "permission_denials": [],
        }
        if interrupted:
            body.update(subtype="error_during_execution", is_error=True)
        elif error:
            body.update(subtype="error_during_execution", is_error=True, errors=[error])
        else:
            body["result"] = "done"
        self.send(body)


def read_only(name: str, tool_input: dict[str, Any]) -> bool:
    """What the real CLI runs without asking when no rule says otherwise (a few of its
    read-only commands, here)."""
    if name in ("Read", "Glob", "Grep"):
        return True
    if name != "Bash":
        return False
    words = str(tool_input.get("command", "")).split()
    return bool(words) and words[0] in ("echo", "ls", "cat", "pwd", "true", "sleep")


def append_line(path: Path, line: str) -> None:
    with path.open("a") as log:
        log.write(line + "\n")


def tool_for(text: str) -> tuple[str, dict[str, Any]] | None:
    if text.startswith("run: "):
        command = text.removeprefix("run: ")
        return "Bash", {"command": command, "description": f"Run {command}"}
    if text.startswith("background: "):
        command = text.removeprefix("background: ")
        return "Bash", {
            "command": command,
            "description": f"Run {command} in the background",
            "run_in_background": True,
        }
    if text.startswith("write: "):
        path, _, content = text.removeprefix("write: ").partition(": ")
        return "Write", {"file_path": str(Path.cwd() / path), "content": content}
    if text.startswith("edit: "):
        path, _, change = text.removeprefix("edit: ").partition(": ")
        old, _, new = change.partition(" -> ")
        return "Edit", {"file_path": str(Path.cwd() / path), "old_string": old, "new_string": new}
    return None


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if isinstance(b, dict))


def main() -> None:
    options = parse_args(sys.argv[1:])
    for needed in ("--input-format", "--output-format"):
        if options.get(needed) != "stream-json":
            sys.stderr.write(f"fake-claude: {needed} stream-json is required\n")
            sys.exit(2)
    if "--verbose" not in options["flags"]:
        # The real CLI: stream-json output with -p needs --verbose.
        sys.stderr.write(
            "Error: When using --print, --output-format=stream-json requires --verbose\n"
        )
        sys.exit(1)
    bypass = options.get("--permission-mode") == "bypassPermissions"
    bypass = bypass or "--dangerously-skip-permissions" in options["flags"]
    if bypass and os.geteuid() == 0 and os.environ.get("IS_SANDBOX") != "1":
        sys.stderr.write(
            "--dangerously-skip-permissions cannot be used with root/sudo privileges\n"
        )
        sys.exit(1)
    fake = FakeClaude(options)
    asyncio.run(fake.serve())


if __name__ == "__main__":
    main()
