"""The Codex app-server driver against a scripted app-server (tests/support/agents/
fake_codex.py) in a real subprocess, over the real JSON-RPC on stdio, reporting to a
side that records what it is told and answers permission requests as a test says."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness_tui.backends.agent import (
    AgentError,
    AgentSpec,
    PermissionAnswer,
    PermissionRequest,
    TurnEnd,
)
from harness_tui.backends.codex import CodexConnection, configured, file_change_call
from harness_tui.backends.drivers import connect
from tests.support.processes import group_alive
from tests.support.waiting import wait_for

FAKE_CODEX = Path(__file__).resolve().parents[1] / "support" / "agents" / "fake_codex.py"
Answer = Callable[[PermissionRequest], "PermissionAnswer | asyncio.Future[PermissionAnswer]"]


class RecordingSide:
    """The session's side: records events and permission requests; answers each
    request with `answer` (allow by default), which may return a future to hold it."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[PermissionRequest] = []
        self.answer: Answer = answer or (lambda _request: PermissionAnswer(True))

    async def emit(self, type_: str, data: dict[str, Any]) -> None:
        self.events.append((type_, data))

    async def permission(self, request: PermissionRequest) -> PermissionAnswer:
        self.requests.append(request)
        answer = self.answer(request)
        if isinstance(answer, asyncio.Future):
            return await answer
        return answer

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [data for kind, data in self.events if kind == type_]

    def texts(self) -> list[str]:
        return [data["text"] for data in self.of("model.completed")]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def codex_spec(
    tmp_path: Path, workspace: Path, *args: str, resume_id: str | None = None
) -> AgentSpec:
    return AgentSpec(
        name="fake-codex",
        protocol="codex",
        argv=(sys.executable, str(FAKE_CODEX), *args),
        env={"PATH": os.environ["PATH"], "CODEX_HOME": str(tmp_path / "codex-home")},
        cwd=workspace,
        resume_id=resume_id,
    )


@pytest.fixture
async def opened(tmp_path: Path, workspace: Path) -> AsyncIterator[Callable[..., Any]]:
    """Opens connections (started) and closes every one at the end."""
    connections: list[CodexConnection] = []

    async def open_(
        side: RecordingSide, *args: str, resume_id: str | None = None
    ) -> CodexConnection:
        connection = connect(codex_spec(tmp_path, workspace, *args, resume_id=resume_id), side)
        assert isinstance(connection, CodexConnection)
        connections.append(connection)
        await connection.start()
        return connection

    yield open_
    for connection in connections:
        await connection.close()


async def test_a_prompt_ends_with_the_agents_message_and_its_usage(opened) -> None:
    side = RecordingSide()
    connection = await opened(side)

    end = await connection.prompt("hello")

    assert end == TurnEnd("no_tool_calls")
    assert side.events == [
        (
            "model.completed",
            {
                "text": "You said: hello. Earlier: nothing.",
                "tool_calls": [],
                # Codex counts cached input in its input; we do not.
                "usage": {"input_tokens": 80, "output_tokens": 10, "cache_read_tokens": 20},
            },
        )
    ]
    assert connection.can_steer and connection.asks_permission


async def test_an_accepted_command_runs_and_its_output_is_recorded(opened, workspace) -> None:
    side = RecordingSide()
    connection = await opened(side)

    end = await connection.prompt("run: echo hi > out.txt && cat out.txt")

    assert end.reason == "no_tool_calls"
    [request] = side.requests
    assert request.tool == "bash"
    assert request.args == {"command": "echo hi > out.txt && cat out.txt"}
    [requested] = side.of("tool.requested")
    assert requested == {
        "call_id": request.call_id,
        "tool": "bash",
        "args": {"command": "echo hi > out.txt && cat out.txt"},
    }
    [completed] = side.of("tool.completed")
    assert completed["call_id"] == request.call_id
    assert completed["result"] == "hi\nexit code: 0"
    assert completed["metadata"] == {"exit_code": 0}
    assert (workspace / "out.txt").read_text() == "hi\n"
    # In order: the message before the call, the call, its end, the final message.
    assert [kind for kind, _ in side.events] == [
        "model.completed",
        "tool.requested",
        "tool.completed",
        "model.completed",
    ]
    assert side.texts()[-1].startswith("I ran echo hi")
    # Two responses, each counted once.
    assert sum(d["usage"]["output_tokens"] for d in side.of("model.completed")) == 20


async def test_a_declined_command_does_not_run(opened, workspace) -> None:
    side = RecordingSide(lambda _r: PermissionAnswer(False, reason="not today"))
    connection = await opened(side)

    end = await connection.prompt("run: touch made.txt")

    assert end.reason == "no_tool_calls"
    assert len(side.requests) == 1
    [failed] = side.of("tool.failed")
    assert failed == {"call_id": side.requests[0].call_id, "error": "declined", "refused": True}
    assert not (workspace / "made.txt").exists()
    assert "did not run" in side.texts()[-1]


async def test_allow_always_is_accepted_for_the_session(opened, workspace) -> None:
    side = RecordingSide(lambda _r: PermissionAnswer(True, always=True))
    connection = await opened(side)

    await connection.prompt("run: echo again >> log.txt")
    await connection.prompt("run: echo again >> log.txt")

    # Codex was told acceptForSession, so it did not ask the second time.
    assert len(side.requests) == 1
    assert len(side.of("tool.completed")) == 2
    assert (workspace / "log.txt").read_text() == "again\nagain\n"


async def test_an_edited_command_is_declined(opened, workspace) -> None:
    # The protocol cannot carry an edited command: running the original would be wrong.
    side = RecordingSide(lambda _r: PermissionAnswer(True, edited_args={"command": "echo safer"}))
    connection = await opened(side)

    await connection.prompt("run: touch edited.txt")

    assert not (workspace / "edited.txt").exists()
    assert side.of("tool.failed")[0]["refused"] is True


async def test_a_new_file_asks_as_write_file_with_its_diff(opened, workspace) -> None:
    side = RecordingSide()
    connection = await opened(side)

    await connection.prompt("write: notes.txt hello there")

    [request] = side.requests
    assert request.tool == "write_file"
    # Relative to the workspace, as our own write_file's.
    assert request.args == {"path": "notes.txt", "content": "hello there\n"}
    assert request.diff is not None and "+hello there" in request.diff
    assert (workspace / "notes.txt").read_text() == "hello there\n"
    [requested] = side.of("tool.requested")
    assert requested["tool"] == "write_file" and requested["call_id"] == request.call_id
    [completed] = side.of("tool.completed")
    assert completed["call_id"] == request.call_id


async def test_a_declined_file_change_is_not_made(opened, workspace) -> None:
    (workspace / "notes.txt").write_text("old line\n")
    side = RecordingSide(lambda _r: PermissionAnswer(False))
    connection = await opened(side)

    await connection.prompt("write: notes.txt new line")

    [request] = side.requests
    assert request.tool == "edit_file"
    assert request.args["path"] == "notes.txt"
    assert request.diff is not None
    assert "-old line" in request.diff and "+new line" in request.diff
    assert (workspace / "notes.txt").read_text() == "old line\n"
    assert side.of("tool.failed")[0]["refused"] is True


async def test_steering_joins_the_running_turn(opened) -> None:
    side = RecordingSide()
    connection = await opened(side)

    turn = asyncio.create_task(connection.prompt("wait"))
    await wait_for(lambda: connection.steer("go left"), message="a turn to steer")
    end = await turn

    assert end.reason == "no_tool_calls"
    assert side.texts() == ["Waiting for you.", "Steered: go left. Earlier: nothing."]
    # Between turns there is nothing to steer: the text waits for the next turn.
    assert await connection.steer("too late") is False


async def test_interrupt_cancels_the_turn(opened) -> None:
    side = RecordingSide()
    connection = await opened(side)

    turn = asyncio.create_task(connection.prompt("hang"))
    await wait_for(lambda: connection.turn_id is not None, message="the turn's id")
    await connection.interrupt()

    assert await turn == TurnEnd("cancelled")
    # The connection carries on with the next turn.
    assert (await connection.prompt("after")).reason == "no_tool_calls"
    assert side.texts() == ["Hanging.", "You said: after. Earlier: hang."]


async def test_interrupt_while_a_permission_waits(opened, workspace) -> None:
    held: asyncio.Future[PermissionAnswer] = asyncio.get_running_loop().create_future()
    side = RecordingSide(lambda _r: held)
    connection = await opened(side)

    turn = asyncio.create_task(connection.prompt("run: touch never.txt"))
    await wait_for(lambda: side.requests, message="the permission request")
    await connection.interrupt()

    assert (await turn).reason == "cancelled"
    # Nobody is asked any more and the command never ran.
    assert held.cancelled()
    assert not (workspace / "never.txt").exists()
    # Codex leaves the cut-short item open; the log does not.
    [request] = side.requests
    assert side.of("tool.failed") == [{"call_id": request.call_id, "error": "cancelled"}]


async def test_a_request_we_cannot_judge_is_refused(opened) -> None:
    side = RecordingSide()
    connection = await opened(side)

    await connection.prompt("ask-permissions")

    assert side.requests == []
    [text] = side.texts()
    answer = json.loads(text.removeprefix("Permissions answer: ").split(". Earlier:")[0])
    assert "error" in answer and "result" not in answer


async def test_a_failed_turn_says_why(opened) -> None:
    connection = await opened(RecordingSide())

    assert await connection.prompt("fail") == TurnEnd(
        "failed", error="the fake model failed as asked"
    )


async def test_resume_carries_the_conversation_on(opened) -> None:
    first = await opened(RecordingSide())
    await first.prompt("remember the lighthouse")
    thread_id = first.thread_id
    await first.close()

    side = RecordingSide()
    second = await opened(side, resume_id=thread_id)
    assert second.thread_id == thread_id
    await second.prompt("what did I say?")

    assert side.texts() == ["You said: what did I say?. Earlier: remember the lighthouse."]
    # The resumed thread's running total includes the first process's tokens: only this
    # response is counted.
    assert side.of("model.completed")[0]["usage"]["output_tokens"] == 10


async def test_resuming_an_unknown_thread_fails_with_the_agents_words(tmp_path, workspace) -> None:
    connection = CodexConnection(
        codex_spec(tmp_path, workspace, resume_id="no-such-thread"), RecordingSide()
    )
    with pytest.raises(AgentError, match="thread/resume failed: no rollout found"):
        await connection.start()
    assert connection.pgid is not None and not group_alive(connection.pgid)


async def test_an_agent_that_exits_at_start_says_why(tmp_path, workspace) -> None:
    spec = codex_spec(tmp_path, workspace)
    # Without CODEX_HOME the fake refuses to start, as a misconfigured agent would.
    spec = replace(spec, env={"PATH": os.environ["PATH"]})
    connection = CodexConnection(spec, RecordingSide())

    with pytest.raises(AgentError) as raised:
        await connection.start()

    assert "exit status 2" in str(raised.value)
    assert "CODEX_HOME is not set" in str(raised.value)


async def test_a_crash_mid_turn_is_an_agent_error_with_its_stderr(opened) -> None:
    connection = await opened(RecordingSide())

    with pytest.raises(AgentError) as raised:
        await connection.prompt("crash")

    message = str(raised.value)
    assert "fake-codex" in message
    assert "exit status 3" in message
    assert "fake codex: crashed as asked" in message
    # Later calls say the same, at once.
    with pytest.raises(AgentError, match="exit status 3"):
        await connection.prompt("again")


async def test_close_ends_the_whole_process_group(opened) -> None:
    connection = await opened(RecordingSide(), "--with-child")
    pgid = connection.pgid
    assert pgid is not None and group_alive(pgid)

    await connection.close()

    await wait_for(lambda: not group_alive(pgid), message="the agent's group to end")


async def test_close_during_a_turn_ends_it(opened) -> None:
    connection = await opened(RecordingSide())
    turn = asyncio.create_task(connection.prompt("hang"))
    await wait_for(lambda: connection.turn_id is not None, message="the turn's id")

    await connection.close()

    with pytest.raises(AgentError):
        await turn


async def test_approval_policy_never_in_the_args_is_left_to_codex(opened, workspace) -> None:
    side = RecordingSide()
    connection = await opened(side, "-c", 'approval_policy="never"')

    assert connection.asks_permission is False
    await connection.prompt("run: touch unasked.txt")

    assert side.requests == []
    assert (workspace / "unasked.txt").exists()


def test_configured_reads_the_last_override() -> None:
    argv = [
        "codex",
        "app-server",
        "-c",
        "approval_policy=untrusted",
        "--config=approval_policy='never'",
    ]
    assert configured(argv, "approval_policy") == "never"
    assert configured(argv, "sandbox_mode") is None
    assert configured(["codex", "-c"], "approval_policy") is None


def test_file_changes_map_onto_the_tools_the_policy_knows() -> None:
    add = {"path": "/w/a.txt", "kind": {"type": "add"}, "diff": "x\n"}
    update = {
        "path": "/w/b.txt",
        "kind": {"type": "update", "move_path": None},
        "diff": "@@\n-a\n+b\n",
    }
    delete = {"path": "/w/c.txt", "kind": {"type": "delete"}, "diff": "gone\n"}

    assert file_change_call([add])[:2] == ("write_file", {"path": "/w/a.txt", "content": "x\n"})
    assert file_change_call([update])[0] == "edit_file"
    # A path outside the workspace stays absolute, for the policy to see where it goes.
    outside = {**add, "path": "/elsewhere/a.txt"}
    assert file_change_call([outside], Path("/w"))[1]["path"] == "/elsewhere/a.txt"
    # Deletes and several files at once are Codex's own apply_patch, which prompts.
    tool, args, diff = file_change_call([add, delete], Path("/w"))
    assert tool == "apply_patch" and args["paths"] == ["a.txt", "c.txt"]
    assert "-gone" in diff and "+x" in diff
