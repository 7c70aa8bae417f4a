"""Each pinned agent CLI, raw, over its own protocol on stdio against a loopback model
server: it asks leave to run a shell command, we allow it, the command runs, the turn
ends. These pin down the wire facts the drivers rely on (findings-real.md); the
engine-level tests are in test_real_agents.py."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_model import ShellThenDone
from tests.support.loopback import LoopbackAnthropic, LoopbackOpenAI
from tests.support.loopback_responses import LoopbackResponses
from tests.support.processes import group_alive, kill_group
from tests.support.real_agents import claude_setup, codex_setup, opencode_setup
from tests.support.waiting import wait_until

pytestmark = pytest.mark.real_agents

COMMAND = "echo hello > out.txt"
# A real CLI's first start (Node, its native binary, its own setup) takes seconds.
TIMEOUT = 90.0


class JsonLinesAgent:
    """An agent process in its own process group, one JSON object per line each way."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.pgid = self.proc.pid
        self.received: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self._lines.put(json.loads(line))
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def next(self) -> dict[str, Any]:
        """The next message; fails naming the agent's last words when none comes."""
        try:
            message = self._lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no message in {TIMEOUT}s; stderr: {self.tail()}") from None
        if message is None:
            raise AssertionError(f"agent exited {self.proc.poll()}; stderr: {self.tail()}")
        self.received.append(message)
        return message

    def tail(self) -> str:
        return "".join(self.stderr[-5:]).strip()

    def close(self) -> None:
        """Close stdin (each of these CLIs then exits), and make sure the group is gone."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=TIMEOUT)
        finally:
            kill_group(self.pgid)
            wait_until(lambda: not group_alive(self.pgid), message="agent group to exit")


def _base_env() -> dict[str, str]:
    # What runtimes.BASE_ENV passes; the suite's conftest made the XDG dirs private.
    keep = ("PATH", "HOME", "LANG", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")
    return {name: os.environ[name] for name in keep if name in os.environ}


def _workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return workspace


def test_claude_code_asks_over_stdio_and_runs_the_allowed_command(
    real_cli: Callable[[str], Path], tmp_path: Path
) -> None:
    exe = real_cli("claude")
    workspace = _workspace(tmp_path)
    model = ShellThenDone(COMMAND)
    with LoopbackAnthropic(respond=model) as server:
        setup = claude_setup(server, tmp_path)
        agent = JsonLinesAgent([str(exe), *setup.args], workspace, _base_env() | setup.env)
        try:
            agent.send(
                {
                    "type": "user",
                    "message": {"role": "user", "content": "Write hello to out.txt"},
                    "parent_tool_use_id": None,
                    "session_id": "",
                }
            )
            asked = None
            while (message := agent.next())["type"] != "result":
                if message["type"] == "control_request":
                    asked = message["request"]
                    assert asked["subtype"] == "can_use_tool"
                    agent.send(
                        {
                            "type": "control_response",
                            "response": {
                                "subtype": "success",
                                "request_id": message["request_id"],
                                "response": {"behavior": "allow", "updatedInput": asked["input"]},
                            },
                        }
                    )
        finally:
            agent.close()
    assert asked is not None and asked["tool_name"] == "Bash"
    assert asked["input"]["command"] == COMMAND
    assert message["subtype"] == "success"
    init = agent.received[0]
    assert init["type"] == "system" and init["subtype"] == "init" and init["session_id"]
    assert (workspace / "out.txt").read_text() == "hello\n"
    # It posts with a query string, which the server routes on the path alone.
    assert {r.path for r in server.requests} == {"/v1/messages?beta=true"}


def test_codex_app_server_asks_for_the_command_and_runs_it(
    real_cli: Callable[[str], Path], tmp_path: Path
) -> None:
    exe = real_cli("codex")
    workspace = _workspace(tmp_path)
    model = ShellThenDone(COMMAND)
    with LoopbackResponses(respond=model) as server:
        setup = codex_setup(server, tmp_path)
        agent = JsonLinesAgent([str(exe), *setup.args], workspace, _base_env() | setup.env)
        try:
            agent.send({"id": 1, "method": "initialize", "params": {"clientInfo": _CLIENT}})
            _codex_result(agent, 1)
            agent.send({"method": "initialized"})
            thread_params = {
                "cwd": str(workspace),
                "approvalPolicy": "untrusted",
                "sandbox": "workspace-write",
            }
            agent.send({"id": 2, "method": "thread/start", "params": thread_params})
            thread_id = _codex_result(agent, 2)["thread"]["id"]
            text = [{"type": "text", "text": "Write hello to out.txt"}]
            agent.send(
                {"id": 3, "method": "turn/start", "params": {"threadId": thread_id, "input": text}}
            )
            asked = None
            while (message := agent.next()).get("method") != "turn/completed":
                if message.get("method") == "item/commandExecution/requestApproval":
                    asked = message
                    agent.send({"id": message["id"], "result": {"decision": "accept"}})
        finally:
            agent.close()
    assert asked is not None and asked["params"]["threadId"] == thread_id
    assert asked["params"]["commandActions"][0]["command"] == COMMAND
    assert message["params"]["turn"]["status"] == "completed"
    executions = [
        m["params"]["item"]
        for m in agent.received
        if m.get("method") == "item/completed" and m["params"]["item"]["type"] == "commandExecution"
    ]
    assert [item["exitCode"] for item in executions] == [0]
    assert (workspace / "out.txt").read_text() == "hello\n"
    assert model.calls and model.calls[0][0] == "exec_command"


def test_opencode_acp_asks_permission_and_runs_the_allowed_command(
    real_cli: Callable[[str], Path], tmp_path: Path
) -> None:
    exe = real_cli("opencode")
    workspace = _workspace(tmp_path)
    model = ShellThenDone(COMMAND)
    with LoopbackOpenAI(respond=model) as server:
        setup = opencode_setup(server, tmp_path)
        agent = JsonLinesAgent([str(exe), *setup.args], workspace, _base_env() | setup.env)
        try:
            capabilities = {"fs": {"readTextFile": False, "writeTextFile": False}}
            agent.send(
                _rpc(
                    1,
                    "initialize",
                    {
                        "protocolVersion": 1,
                        "clientCapabilities": capabilities | {"terminal": False},
                    },
                )
            )
            _acp_result(agent, 1)
            agent.send(_rpc(2, "session/new", {"cwd": str(workspace), "mcpServers": []}))
            session_id = _acp_result(agent, 2)["sessionId"]
            prompt = [{"type": "text", "text": "Write hello to out.txt"}]
            agent.send(_rpc(3, "session/prompt", {"sessionId": session_id, "prompt": prompt}))
            asked = None
            while (message := agent.next()).get("id") != 3 or "method" in message:
                if message.get("method") == "session/request_permission":
                    asked = message["params"]
                    option = next(o for o in asked["options"] if o["kind"] == "allow_once")
                    outcome = {"outcome": "selected", "optionId": option["optionId"]}
                    agent.send(
                        {"jsonrpc": "2.0", "id": message["id"], "result": {"outcome": outcome}}
                    )
        finally:
            agent.close()
    assert asked is not None and asked["toolCall"]["kind"] == "execute"
    assert asked["toolCall"]["rawInput"]["command"] == COMMAND
    assert message["result"]["stopReason"] == "end_turn"
    assert (workspace / "out.txt").read_text() == "hello\n"


_CLIENT = {"name": "harness-tui-tests", "version": "0"}


def _rpc(id_: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def _codex_result(agent: JsonLinesAgent, id_: int) -> dict[str, Any]:
    while True:
        message = agent.next()
        if message.get("id") == id_ and "method" not in message:
            assert "error" not in message, message
            return dict(message["result"])


def _acp_result(agent: JsonLinesAgent, id_: int) -> dict[str, Any]:
    return _codex_result(agent, id_)
