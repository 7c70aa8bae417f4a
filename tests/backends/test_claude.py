"""The Claude Code driver against fake_claude.py, an executable speaking the CLI's
stream-json control protocol: real process, real pipes, our side recorded."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness_tui.backends.agent import (
    AgentError,
    AgentSpec,
    PermissionAnswer,
    PermissionRequest,
)
from harness_tui.backends.claude import (
    ClaudeConnection,
    claude_argv,
    map_tool,
    never_asks,
    unmap_args,
)
from tests.support.processes import group_alive
from tests.support.waiting import wait_for

FAKE = Path(__file__).resolve().parents[1] / "support" / "agents" / "fake_claude.py"


@dataclass
class RecordingSide:
    """Our side of the session: events kept in order, permission answers from a script
    (a function of the request), or held until the test releases them."""

    answer: Any = None  # PermissionRequest -> PermissionAnswer; None: hold
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    asked: list[PermissionRequest] = field(default_factory=list)
    held: list[asyncio.Future[PermissionAnswer]] = field(default_factory=list)
    cancelled: int = 0

    async def emit(self, type_: str, data: dict[str, Any]) -> None:
        self.events.append((type_, data))

    async def permission(self, request: PermissionRequest) -> PermissionAnswer:
        self.asked.append(request)
        if self.answer is not None:
            return self.answer(request)
        future: asyncio.Future[PermissionAnswer] = asyncio.get_running_loop().create_future()
        self.held.append(future)
        try:
            return await future
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [data for kind, data in self.events if kind == type_]


def spec(tmp_path: Path, *args: str, resume_id: str | None = None) -> AgentSpec:
    workspace = tmp_path / "work"
    workspace.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "FAKE_CLAUDE_LOG": str(tmp_path / "sent.jsonl"),
        "FAKE_CLAUDE_STATE": str(tmp_path / "state"),
    }
    return AgentSpec(
        name="fake",
        protocol="claude",
        argv=(sys.executable, str(FAKE), *args),
        env=env,
        cwd=workspace,
        resume_id=resume_id,
    )


def sent(tmp_path: Path) -> list[dict[str, Any]]:
    """What the driver wrote to the agent, in order."""
    path = tmp_path / "sent.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def allow(request: PermissionRequest) -> PermissionAnswer:
    return PermissionAnswer(True)


@pytest.fixture
async def opened(tmp_path):
    """Connections a test opened, closed at its end whatever happened."""
    connections: list[ClaudeConnection] = []
    yield connections
    for connection in connections:
        await connection.close()


async def connect(opened, the_spec, side) -> ClaudeConnection:
    connection = ClaudeConnection(the_spec, side)
    opened.append(connection)
    return connection


async def test_a_prompt_opens_with_initialize_and_becomes_our_events(tmp_path, opened):
    side = RecordingSide()
    connection = await connect(opened, spec(tmp_path), side)
    session_id = await connection.start()
    assert session_id
    # The SDKs' handshake first, before any user message.
    first = sent(tmp_path)[0]
    assert first["type"] == "control_request"
    assert first["request"]["subtype"] == "initialize"

    end = await connection.prompt("hello there")

    assert end.reason == "no_tool_calls"
    assert [kind for kind, _ in side.events] == ["model.completed"]
    completed = side.of("model.completed")[0]
    assert completed["text"] == "You said: hello there"
    assert completed["tool_calls"] == []
    user = sent(tmp_path)[-1]
    assert user == {
        "type": "user",
        "message": {"role": "user", "content": "hello there"},
        "parent_tool_use_id": None,
        "session_id": session_id,
    }
    assert connection.can_steer and connection.asks_permission


async def test_usage_adds_up_to_the_agents_own_account_once(tmp_path, opened):
    """Each message's usage is counted on its model.completed, once; the turn's end
    carries the rest of the result's total and the turn's cost (the CLI reports the
    process's running total), so the two never count a token twice."""
    side = RecordingSide(answer=allow)
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()
    ends = [await connection.prompt("run: true"), await connection.prompt("again")]
    # fake_claude: 10 input / 5 output tokens and $0.001 per model request; the
    # first turn made two requests, the second one.
    for end, requests in zip(ends, (2, 1), strict=True):
        assert end.usage["cost_usd"] == pytest.approx(0.001 * requests)
    counted_in = sum(d["usage"].get("input_tokens", 0) for d in side.of("model.completed"))
    counted_out = sum(d["usage"].get("output_tokens", 0) for d in side.of("model.completed"))
    assert counted_in + sum(e.usage["input_tokens"] for e in ends) == 30
    assert counted_out + sum(e.usage["output_tokens"] for e in ends) == 15
    # Three messages ("I'll use Bash.", "Ran it", "You said"), each counted once
    # though the first came on two lines (its text and its tool call); the output the
    # start-of-stream snapshots missed went with the turns' ends.
    assert counted_in == 30
    assert [e.usage["output_tokens"] for e in ends] == [8, 4]


async def test_a_tool_call_asks_and_is_recorded_with_its_result(tmp_path, opened):
    side = RecordingSide(answer=allow)
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()

    end = await connection.prompt("run: echo from-the-tool")

    assert end.reason == "no_tool_calls"
    (asked,) = side.asked
    assert asked.tool == "bash"
    assert asked.args == {"command": "echo from-the-tool"}
    assert asked.title == "Run echo from-the-tool"
    (requested,) = side.of("tool.requested")
    assert requested == {
        "call_id": asked.call_id,
        "tool": "bash",
        "args": {"command": "echo from-the-tool"},
    }
    assert side.of("tool.completed") == [{"call_id": asked.call_id, "result": "from-the-tool"}]
    answer = [m for m in sent(tmp_path) if m["type"] == "control_response"][0]
    assert answer["response"]["response"] == {
        "behavior": "allow",
        "updatedInput": {"command": "echo from-the-tool", "description": "Run echo from-the-tool"},
    }
    assert side.of("model.completed")[-1]["text"] == "Ran it: from-the-tool"


async def test_a_denial_reaches_the_agent_with_its_reason(tmp_path, opened):
    side = RecordingSide(answer=lambda r: PermissionAnswer(False, reason="not on my watch"))
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()

    end = await connection.prompt("run: touch forbidden.txt")

    assert end.reason == "no_tool_calls"
    assert not (tmp_path / "work" / "forbidden.txt").exists()
    call_id = side.asked[0].call_id
    assert side.of("tool.failed") == [{"call_id": call_id, "error": "not on my watch"}]
    answer = [m for m in sent(tmp_path) if m["type"] == "control_response"][0]
    assert answer["response"]["response"] == {"behavior": "deny", "message": "not on my watch"}
    assert side.of("model.completed")[-1]["text"] == "Denied: not on my watch"


async def test_edited_arguments_are_what_the_agent_runs(tmp_path, opened):
    side = RecordingSide(
        answer=lambda r: PermissionAnswer(True, edited_args={"command": "echo edited"})
    )
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()

    await connection.prompt("run: echo original")

    answer = [m for m in sent(tmp_path) if m["type"] == "control_response"][0]
    # The agent's own keys we do not show (its description) are kept.
    assert answer["response"]["response"]["updatedInput"] == {
        "command": "echo edited",
        "description": "Run echo original",
    }
    assert side.of("tool.completed")[0]["result"] == "edited"


async def test_file_changes_are_asked_in_our_terms_with_a_diff(tmp_path, opened):
    side = RecordingSide(answer=allow)
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()
    target = tmp_path / "work" / "notes.txt"
    target.write_text("one\ntwo\n")

    await connection.prompt("edit: notes.txt: two -> three")
    await connection.prompt("write: fresh.txt: hello")

    edit, write = side.asked
    assert edit.tool == "edit_file"
    # Our own tools' names and a workspace-relative path: the policy judges and diffs
    # the agent's call as it would ours.
    assert edit.args == {"path": "notes.txt", "old_string": "two", "new_string": "three"}
    assert "-two\n" in (edit.diff or "") and "+three\n" in (edit.diff or "")
    assert write.tool == "write_file"
    assert write.args == {"path": "fresh.txt", "content": "hello"}
    assert (write.diff or "").startswith("--- a/fresh.txt\n+++ b/fresh.txt\n")
    assert "+hello\n" in (write.diff or "")
    assert target.read_text() == "one\nthree\n"


async def test_a_steer_joins_the_running_turn(tmp_path, opened):
    side = RecordingSide()  # holds the permission question
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()
    turn = asyncio.create_task(connection.prompt("run: echo working"))
    await wait_for(lambda: side.held, message="the permission question")

    assert await connection.steer("and mind the tests")
    side.held[0].set_result(PermissionAnswer(True))
    end = await turn

    assert end.reason == "no_tool_calls"
    texts = [d["text"] for d in side.of("model.completed")]
    assert texts[-1] == "Also: and mind the tests"
    # No turn runs: the text waits for the next one.
    assert not await connection.steer("too late")


async def test_interrupt_cancels_the_turn_and_denies_the_pending_question(tmp_path, opened):
    side = RecordingSide()
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()
    turn = asyncio.create_task(connection.prompt("run: touch never.txt"))
    await wait_for(lambda: side.held, message="the permission question")

    await connection.interrupt()
    end = await turn

    assert end.reason == "cancelled"
    assert side.cancelled == 1
    requests = [m for m in sent(tmp_path) if m["type"] == "control_request"]
    assert [r["request"]["subtype"] for r in requests] == ["initialize", "interrupt"]
    await wait_for(
        lambda: any(m["type"] == "control_response" for m in sent(tmp_path)),
        message="the answer to the withdrawn question",
    )
    answer = [m for m in sent(tmp_path) if m["type"] == "control_response"][0]
    assert answer["response"]["response"]["behavior"] == "deny"
    assert not (tmp_path / "work" / "never.txt").exists()
    # The connection carries on with the next turn.
    assert (await connection.prompt("still there?")).reason == "no_tool_calls"


async def test_a_steer_the_interrupt_left_over_does_not_leak_into_the_next_turn(tmp_path, opened):
    """Claude Code starts a turn of its own for a message it had not taken when the
    turn it joined was interrupted: that turn is stopped too, and the next prompt's
    answer is the next prompt's."""
    side = RecordingSide()
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()
    turn = asyncio.create_task(connection.prompt("run: touch never.txt"))
    await wait_for(lambda: side.held, message="the permission question")
    assert await connection.steer("and this")

    await connection.interrupt()
    assert (await turn).reason == "cancelled"
    # The steer's own turn was read (and stopped) as part of the interrupted one.
    assert [d["text"] for d in side.of("model.completed")][-1] == "You said: and this"
    side.events.clear()
    end = await connection.prompt("hello again")

    assert end.reason == "no_tool_calls"
    assert [d["text"] for d in side.of("model.completed")] == ["You said: hello again"]


async def test_interrupt_stops_a_running_command(tmp_path, opened):
    side = RecordingSide(answer=allow)
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()
    turn = asyncio.create_task(connection.prompt("background: sleep 60"))
    await wait_for(lambda: side.of("task.started"), message="the background task")

    await connection.interrupt()
    end = await turn

    assert end.reason == "cancelled"
    (started,) = side.of("task.started")
    assert started["kind"] == "local_bash"
    assert side.of("task.cancelled") == [{"task_id": started["task_id"], "summary": "sleep 60"}]
    assert side.of("tool.failed")


async def test_a_background_command_is_a_task(tmp_path, opened):
    side = RecordingSide(answer=allow)
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()

    await connection.prompt("background: echo done")

    (started,) = side.of("task.started")
    assert started["title"] == "Run echo done in the background"
    assert side.of("task.completed") == [{"task_id": started["task_id"], "summary": "echo done"}]


async def test_a_resumed_conversation_remembers(tmp_path, opened):
    side = RecordingSide()
    first = await connect(opened, spec(tmp_path), side)
    session_id = await first.start()
    await first.prompt("my name is Ada")
    await first.close()

    again = await connect(opened, spec(tmp_path, resume_id=session_id), RecordingSide())
    assert await again.start() == session_id
    await again.prompt("recall")

    assert again.side.of("model.completed")[0]["text"] == "Earlier you said: my name is Ada"
    argv = claude_argv(again.spec, session_id)
    assert argv[-2:] == ["--resume", session_id]


async def test_an_unknown_resume_id_is_an_agent_error_naming_it(tmp_path, opened):
    connection = await connect(opened, spec(tmp_path, resume_id="no-such-session"), RecordingSide())
    with pytest.raises(AgentError) as raised:
        await connection.start()
    message = str(raised.value)
    assert message.startswith("agent fake:")
    assert "No conversation found with session ID: no-such-session" in message
    assert "\n" not in message


async def test_a_crash_mid_turn_is_an_agent_error_with_its_stderr(tmp_path, opened):
    connection = await connect(opened, spec(tmp_path), RecordingSide())
    await connection.start()
    with pytest.raises(AgentError) as raised:
        await connection.prompt("crash")
    message = str(raised.value)
    assert "exit status 3" in message
    assert "stderr: fake-claude: crashed on purpose" in message
    # A later turn says the same, without waiting on a process that is gone.
    with pytest.raises(AgentError):
        await connection.prompt("hello?")


async def test_an_error_result_fails_the_turn(tmp_path, opened):
    connection = await connect(opened, spec(tmp_path), RecordingSide())
    await connection.start()
    end = await connection.prompt("fail")
    assert end.reason == "failed"
    assert end.error == "agent fake: the model endpoint refused the request"


async def test_a_missing_command_names_the_agent(tmp_path):
    missing = AgentSpec(
        name="fake", protocol="claude", argv=("no-such-claude",), env={}, cwd=tmp_path
    )
    with pytest.raises(AgentError, match=r"agent fake: command not found: no-such-claude"):
        await ClaudeConnection(missing, RecordingSide()).start()


async def test_close_ends_the_whole_process_group(tmp_path, opened):
    side = RecordingSide(answer=allow)
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()
    turn = asyncio.create_task(connection.prompt("background: sleep 60"))
    await wait_for(lambda: side.of("task.started"), message="the background task")
    assert connection.process is not None
    pgid = connection.process.pgid

    await connection.close()

    with pytest.raises(AgentError):
        await turn
    await wait_for(lambda: not group_alive(pgid), message=f"process group {pgid} to end")


@pytest.mark.parametrize(
    ("args", "asks"),
    [
        ((), True),
        (("--permission-mode", "acceptEdits"), True),
        (("--permission-mode", "bypassPermissions"), False),
        (("--permission-mode=bypassPermissions",), False),
        (("--dangerously-skip-permissions",), False),
    ],
)
def test_which_entries_never_ask(args, asks):
    assert never_asks(args) is not asks


def test_the_command_line_adds_the_protocols_flags_the_model_and_the_conversation(tmp_path):
    the_spec = AgentSpec(
        name="claude",
        protocol="claude",
        argv=("claude", "--debug"),
        env={},
        cwd=tmp_path,
        model="claude-sonnet-5-5",
    )
    argv = claude_argv(the_spec, "1234")
    assert argv[:3] == ["claude", "--debug", "-p"]
    assert (
        "--permission-prompt-tool" in argv
        and argv[argv.index("--permission-prompt-tool") + 1] == "stdio"
    )
    assert argv[argv.index("--model") + 1] == "claude-sonnet-5-5"
    assert argv[-2:] == ["--session-id", "1234"]
    # Never a mode that skips the questions: as root the CLI refuses it anyway.
    assert not never_asks(tuple(argv[1:]))


def test_edited_file_arguments_go_back_as_the_agents_own(tmp_path):
    tool_input = {"file_path": str(tmp_path / "a.txt"), "content": "x"}
    assert map_tool("Write", tool_input, tmp_path) == (
        "write_file",
        {"path": "a.txt", "content": "x"},
    )
    edited = unmap_args("Write", tool_input, {"path": "b.txt", "content": "y"}, tmp_path)
    assert edited == {"file_path": str(tmp_path / "b.txt"), "content": "y"}
    # A tool our policy does not know keeps its name and arguments.
    assert map_tool("WebFetch", {"url": "u"}, tmp_path) == ("WebFetch", {"url": "u"})


async def test_commands_the_cli_deems_read_only_are_asked_about_too(tmp_path, opened):
    """Left to itself Claude Code runs `echo` or a Read without asking, and our policy
    would never see them: the settings "ask" rule we start it with sends every shell
    command and file access to us. An entry with settings of its own decides itself."""
    side = RecordingSide(answer=allow)
    connection = await connect(opened, spec(tmp_path), side)
    await connection.start()
    await connection.prompt("run: echo hello")
    assert [r.args for r in side.asked] == [{"command": "echo hello"}]

    own = RecordingSide(answer=allow)
    (tmp_path / "own").mkdir()
    unasked = await connect(opened, spec(tmp_path / "own", "--settings", "{}"), own)
    await unasked.start()
    await unasked.prompt("run: echo hello")
    assert own.asked == []
    assert own.of("tool.completed")[0]["result"] == "hello"
