#!/usr/bin/env python3
"""A scripted `codex app-server` for tests: the same JSON-RPC on stdio (one object per
line, no "jsonrpc" field), the same order of notifications, no model and no npm.

What a turn does depends on its prompt:
- `run: COMMAND`: a command item (`item/started`), then
  `item/commandExecution/requestApproval`; accepted, it runs COMMAND with bash in the
  thread's cwd and reports its output and exit code; declined, the item ends
  "declined". acceptForSession lets the same command run unasked for the rest of the
  process.
- `write: PATH [CONTENT]`: a file change item with its diff, then
  `item/fileChange/requestApproval`; accepted, the file is written.
- `wait`: says "Waiting for you.", then waits for `turn/steer`, whose text appears in
  the final message.
- `hang`: says "Hanging.", then waits until `turn/interrupt`.
- `fail`: the turn fails with an error.
- `ask-permissions`: asks `item/permissions/requestApproval` and quotes the answer.
- `crash`: writes to stderr and exits with status 3, mid-turn.
- anything else: one message, "You said: PROMPT".
Every final message also lists the thread's earlier prompts ("Earlier: a | b"), which is
how a test sees that `thread/resume` carried a conversation on: threads are kept in
$CODEX_HOME/fake-threads/ID.json. Each model response reports its tokens in
`thread/tokenUsage/updated` (100 in, 20 of them cached, 10 out), after its message, as
Codex does, and repeats the report once, as Codex sometimes does.

`-c approval_policy=VALUE` sets the policy a thread gets unless thread/start names one
("never": commands run unasked). `--with-child` starts a `sleep` in the server's process group, to show that the whole
group goes when the connection closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

USAGE = {"inputTokens": 100, "cachedInputTokens": 20, "outputTokens": 10}


def _now_ms() -> int:
    return int(time.time() * 1000)


class Turn:
    def __init__(self, thread: Thread, turn_id: str, text: str) -> None:
        self.thread = thread
        self.id = turn_id
        self.text = text
        self.steered: asyncio.Queue[str] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.requests: set[int] = set()


class Thread:
    def __init__(self, home: Path, thread_id: str, cwd: str) -> None:
        self.home = home
        self.id = thread_id
        self.cwd = cwd
        self.prompts: list[str] = []
        self.total = {key: 0 for key in USAGE}
        self.turn: Turn | None = None

    @property
    def file(self) -> Path:
        return self.home / "fake-threads" / f"{self.id}.json"

    def save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        data = {"cwd": self.cwd, "prompts": self.prompts, "total": self.total}
        self.file.write_text(json.dumps(data))

    @classmethod
    def load(cls, home: Path, thread_id: str) -> Thread | None:
        path = home / "fake-threads" / f"{thread_id}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        thread = cls(home, thread_id, data["cwd"])
        thread.prompts = data["prompts"]
        thread.total = data["total"]
        return thread

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cwd": self.cwd,
            "preview": self.prompts[0] if self.prompts else "",
            "status": {"type": "idle"},
            "turns": [],
        }


class Server:
    def __init__(self, home: Path, approval_policy: str) -> None:
        self.home = home
        self.writer: asyncio.StreamWriter | None = None
        self.threads: dict[str, Thread] = {}
        self.next_request = 0
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.session_commands: set[str] = set()
        self.approval_policy = approval_policy

    # The wire.

    def send(self, message: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write((json.dumps(message) + "\n").encode())

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    async def ask(self, turn: Turn, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = self.next_request
        self.next_request += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        turn.requests.add(request_id)
        self.send({"id": request_id, "method": method, "params": params})
        try:
            return await future
        finally:
            turn.requests.discard(request_id)
            self.waiting.pop(request_id, None)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, sys.stdout
        )
        self.writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        while line := await reader.readline():
            message = json.loads(line)
            if "method" not in message:
                future = self.waiting.get(message.get("id"))
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            try:
                result = self.handle(message["method"], message.get("params") or {})
            except RpcError as exc:
                if "id" in message:
                    self.send({"error": {"code": -32600, "message": str(exc)}, "id": message["id"]})
                continue
            if "id" in message:
                self.send({"id": message["id"], "result": result})

    # Requests.

    def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "initialize":
            return {
                "userAgent": "fake_codex/0.171.0",
                "codexHome": str(self.home),
                "platformFamily": "unix",
                "platformOs": "linux",
            }
        if method == "initialized":
            return {}
        if method == "thread/start":
            thread = Thread(self.home, str(uuid.uuid4()), params.get("cwd") or os.getcwd())
            thread.save()
            return self.opened(thread, params)
        if method == "thread/resume":
            thread_id = params.get("threadId", "")
            found = Thread.load(self.home, thread_id)
            if found is None:
                raise RpcError(f"no rollout found for thread id {thread_id}")
            if params.get("cwd"):
                found.cwd = params["cwd"]
            return self.opened(found, params)
        if method == "turn/start":
            thread = self.thread(params)
            if thread.turn is not None:
                raise RpcError("a turn is already running")
            text = " ".join(i.get("text", "") for i in params.get("input", []))
            turn = Turn(thread, str(uuid.uuid4()), text)
            thread.turn = turn
            turn.task = asyncio.create_task(self.run_turn(turn))
            return {"turn": {"id": turn.id, "items": [], "status": "inProgress", "error": None}}
        if method == "turn/steer":
            thread = self.thread(params)
            turn = thread.turn
            if turn is None or turn.id != params.get("expectedTurnId"):
                raise RpcError("no active turn to steer")
            turn.steered.put_nowait(" ".join(i.get("text", "") for i in params.get("input", [])))
            return {"turnId": turn.id}
        if method == "turn/interrupt":
            thread = self.thread(params)
            turn = thread.turn
            if turn is None or turn.id != params.get("turnId") or turn.task is None:
                raise RpcError("no active turn to interrupt")
            turn.task.cancel()
            return {}
        raise RpcError(f"Invalid request: unknown variant `{method}`")

    def thread(self, params: dict[str, Any]) -> Thread:
        thread = self.threads.get(params.get("threadId", ""))
        if thread is None:
            raise RpcError(f"thread not found: {params.get('threadId')}")
        return thread

    def opened(self, thread: Thread, params: dict[str, Any]) -> dict[str, Any]:
        self.threads[thread.id] = thread
        if params.get("approvalPolicy"):
            self.approval_policy = params["approvalPolicy"]
        self.notify("thread/started", {"thread": thread.summary()})
        return {
            "thread": thread.summary(),
            "model": params.get("model") or "fake-model",
            "modelProvider": "fake",
            "cwd": thread.cwd,
            "approvalPolicy": self.approval_policy,
            "approvalsReviewer": "user",
            "sandbox": {"type": "workspaceWrite", "writableRoots": [], "networkAccess": False},
        }

    # A turn.

    async def run_turn(self, turn: Turn) -> None:
        thread = turn.thread
        base = {"threadId": thread.id, "turnId": turn.id}
        self.notify("turn/started", {"threadId": thread.id, "turn": self.turn_json(turn)})
        status, error = "completed", None
        try:
            final = await self.script(turn, base)
            if final is None:
                status = "failed"
                error = {"message": "the fake model failed as asked"}
                self.notify("error", {**base, "error": error, "willRetry": False})
            else:
                earlier = " | ".join(thread.prompts) or "nothing"
                await self.message(base, f"{final} Earlier: {earlier}.")
        except asyncio.CancelledError:
            status = "interrupted"
            for request_id in list(turn.requests):
                future = self.waiting.pop(request_id, None)
                if future is not None:
                    future.cancel()
                self.notify(
                    "serverRequest/resolved", {"threadId": thread.id, "requestId": request_id}
                )
        thread.prompts.append(turn.text)
        thread.save()
        thread.turn = None
        self.notify(
            "turn/completed",
            {
                "threadId": thread.id,
                "turn": {**self.turn_json(turn), "status": status, "error": error},
            },
        )

    @staticmethod
    def turn_json(turn: Turn) -> dict[str, Any]:
        return {"id": turn.id, "items": [], "status": "inProgress", "error": None}

    async def script(self, turn: Turn, base: dict[str, Any]) -> str | None:
        text = turn.text.strip()
        if text.startswith("run:"):
            return await self.run_command(turn, base, text.removeprefix("run:").strip())
        if text.startswith("write:"):
            path, _, content = text.removeprefix("write:").strip().partition(" ")
            return await self.write_file(turn, base, path, content or "hello from fake codex")
        if text == "wait":
            # Said first, so that a test sees the turn is under way before it steers.
            await self.message(base, "Waiting for you.")
            steered = await turn.steered.get()
            return f"Steered: {steered}."
        if text == "hang":
            await self.message(base, "Hanging.")
            await asyncio.Event().wait()
        if text == "fail":
            return None
        if text == "ask-permissions":
            answer = await self.ask(
                turn,
                "item/permissions/requestApproval",
                {
                    **base,
                    "itemId": "perm_1",
                    "reason": "network",
                    "startedAtMs": _now_ms(),
                    "permissions": {"network": {"enabled": True}},
                },
            )
            return f"Permissions answer: {json.dumps(answer, sort_keys=True)}."
        if text == "crash":
            sys.stderr.write("fake codex: crashed as asked\n")
            sys.stderr.flush()
            os._exit(3)
        return f"You said: {text}."

    async def message(self, base: dict[str, Any], text: str) -> None:
        item_id = f"msg_{uuid.uuid4().hex[:8]}"
        item = {"type": "agentMessage", "id": item_id, "text": ""}
        self.notify("item/started", {**base, "item": item, "startedAtMs": _now_ms()})
        for word in text.split(" "):
            self.notify("item/agentMessage/delta", {**base, "itemId": item_id, "delta": word + " "})
        self.notify(
            "item/completed", {**base, "item": {**item, "text": text}, "completedAtMs": _now_ms()}
        )
        self.usage(base)

    def usage(self, base: dict[str, Any]) -> None:
        thread = self.threads[base["threadId"]]
        for key, value in USAGE.items():
            thread.total[key] += value
        last = {**USAGE, "reasoningOutputTokens": 0, "totalTokens": 110}
        total = {**thread.total, "reasoningOutputTokens": 0, "totalTokens": 0}
        report = {**base, "tokenUsage": {"last": last, "total": total, "modelContextWindow": None}}
        self.notify("thread/tokenUsage/updated", report)
        # Codex repeats a report now and then (its total unmoved): it must count once.
        self.notify("thread/tokenUsage/updated", report)

    async def run_command(self, turn: Turn, base: dict[str, Any], command: str) -> str:
        thread = turn.thread
        item_id = f"call_{uuid.uuid4().hex[:8]}"
        await self.message(base, f"Running {command}.")
        item = {
            "type": "commandExecution",
            "id": item_id,
            "command": command,
            "cwd": thread.cwd,
            "status": "inProgress",
            "commandActions": [],
            "aggregatedOutput": None,
            "exitCode": None,
        }
        self.notify("item/started", {**base, "item": item, "startedAtMs": _now_ms()})
        decision = "accept"
        if self.approval_policy != "never" and command not in self.session_commands:
            answer = await self.ask(
                turn,
                "item/commandExecution/requestApproval",
                {
                    **base,
                    "itemId": item_id,
                    "command": command,
                    "cwd": thread.cwd,
                    "reason": None,
                    "startedAtMs": _now_ms(),
                },
            )
            decision = (answer.get("result") or {}).get("decision", "decline")
        if decision == "cancel":
            raise asyncio.CancelledError
        if decision not in ("accept", "acceptForSession"):
            self.notify(
                "item/completed",
                {**base, "item": {**item, "status": "declined"}, "completedAtMs": _now_ms()},
            )
            return f"I did not run {command}: declined."
        if decision == "acceptForSession":
            self.session_commands.add(command)
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            command,
            cwd=thread.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        code = process.returncode
        done = {
            **item,
            "status": "completed" if code == 0 else "failed",
            "aggregatedOutput": output.decode(errors="replace"),
            "exitCode": code,
            "durationMs": 5,
        }
        self.notify("item/completed", {**base, "item": done, "completedAtMs": _now_ms()})
        return f"I ran {command}: exit {code}."

    async def write_file(self, turn: Turn, base: dict[str, Any], path: str, content: str) -> str:
        thread = turn.thread
        target = Path(thread.cwd) / path
        item_id = f"call_{uuid.uuid4().hex[:8]}"
        if target.exists():
            old = target.read_text().splitlines()
            diff = "".join(
                [f"@@ -1,{len(old)} +1,1 @@\n", *(f"-{line}\n" for line in old), f"+{content}\n"]
            )
            kind = {"type": "update", "move_path": None}
        else:
            diff, kind = content + "\n", {"type": "add"}
        changes = [{"path": str(target), "kind": kind, "diff": diff}]
        item = {"type": "fileChange", "id": item_id, "changes": changes, "status": "inProgress"}
        self.notify("item/started", {**base, "item": item, "startedAtMs": _now_ms()})
        answer = await self.ask(
            turn,
            "item/fileChange/requestApproval",
            {
                **base,
                "itemId": item_id,
                "reason": None,
                "grantRoot": None,
                "startedAtMs": _now_ms(),
            },
        )
        decision = (answer.get("result") or {}).get("decision", "decline")
        if decision == "cancel":
            raise asyncio.CancelledError
        if decision not in ("accept", "acceptForSession"):
            self.notify(
                "item/completed",
                {**base, "item": {**item, "status": "declined"}, "completedAtMs": _now_ms()},
            )
            return f"I did not write {path}: declined."
        target.write_text(content + "\n")
        self.notify(
            "item/completed",
            {**base, "item": {**item, "status": "completed"}, "completedAtMs": _now_ms()},
        )
        return f"I wrote {path}."


class RpcError(Exception):
    pass


def main() -> None:
    home = os.environ.get("CODEX_HOME")
    if not home:
        sys.stderr.write("fake codex: CODEX_HOME is not set\n")
        sys.exit(2)
    if "--with-child" in sys.argv[1:]:
        # Stays in our process group: only a group kill ends it with us.
        subprocess.Popen(
            ["sleep", "300"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    # Codex's default, unless `-c approval_policy=...` says otherwise (last one wins).
    policy = "on-request"
    args = sys.argv[1:]
    for flag, value in zip(args, args[1:], strict=False):
        key, _, setting = value.partition("=")
        if flag in ("-c", "--config") and key == "approval_policy":
            policy = setting.strip("\"'")
    asyncio.run(Server(Path(home), policy).serve())


if __name__ == "__main__":
    main()
