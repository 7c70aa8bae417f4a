"""The ACP driver against a real agent process: the scripted ACP agent
(tests/support/agents/acp_agent.py, on the SDK's agent side) over stdio, with a side
that records what the driver reports and answers its permission requests as told."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from acp.schema import ToolCallUpdate

from harness_tui.backends.acp import AcpConnection, _tool_of
from harness_tui.backends.agent import (
    AgentError,
    AgentSpec,
    PermissionAnswer,
    PermissionRequest,
    TurnEnd,
)
from tests.support.processes import group_alive
from tests.support.waiting import wait_for

AGENT = Path(__file__).resolve().parents[1] / "support" / "agents" / "acp_agent.py"


class RecordingSide:
    """The session's side: records events and permission requests; answers each request
    with `answer`, or holds it until cancelled when `answer` is None."""

    def __init__(self, answer: PermissionAnswer | None = PermissionAnswer(True)) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[PermissionRequest] = []
        self.answer = answer
        self.cancelled = 0

    async def emit(self, type_: str, data: dict[str, Any]) -> None:
        self.events.append((type_, data))

    async def permission(self, request: PermissionRequest) -> PermissionAnswer:
        self.requests.append(request)
        if self.answer is not None:
            return self.answer
        try:
            await asyncio.Future()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [data for kind, data in self.events if kind == type_]

    def text(self) -> str:
        return "".join(data["text"] for data in self.of("model.completed"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    (path / ".git").mkdir(parents=True)
    (path / "notes.txt").write_text("one\ntwo\nthree\n")
    return path


@pytest.fixture
async def connect(tmp_path: Path, workspace: Path):
    """Makes started connections to the scripted agent; closes them all at the end."""
    opened: list[AcpConnection] = []

    async def make(
        side: RecordingSide,
        *args: str,
        resume_id: str | None = None,
        argv: tuple[str, ...] = (),
        model: str = "",
    ) -> AcpConnection:
        spec = AgentSpec(
            name="fake-acp",
            protocol="acp",
            argv=argv
            or (sys.executable, str(AGENT), "--sessions", str(tmp_path / "s.json"), *args),
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
            cwd=workspace,
            resume_id=resume_id,
            model=model,
        )
        connection = AcpConnection(spec, side)
        opened.append(connection)
        connection.session_id = await connection.start()
        return connection

    yield make
    for connection in opened:
        await connection.close()


async def test_a_prompt_records_one_message_with_its_usage(connect) -> None:
    side = RecordingSide()
    connection = await connect(side)
    assert connection.session_id.startswith("acp-")
    assert not connection.can_steer and connection.asks_permission

    assert await connection.prompt("hello") == TurnEnd("no_tool_calls")
    usage = {"input_tokens": 7, "output_tokens": 3, "cost_usd": 0.25}
    assert side.events == [
        ("model.completed", {"text": "echo: hello", "tool_calls": [], "usage": usage})
    ]

    # The agent reports its session's cost so far: a second message carries only its own.
    assert await connection.prompt("again") == TurnEnd("no_tool_calls")
    assert side.of("model.completed")[1]["usage"] == {"input_tokens": 7, "output_tokens": 3}
    assert await connection.steer("more") is False


@pytest.mark.parametrize(
    ("answer", "flags", "chosen"),
    [
        (PermissionAnswer(True), (), "allow_once"),
        (PermissionAnswer(True, always=True), (), "allow_always"),
        (PermissionAnswer(False, reason="no"), (), "reject_once"),
        # Only "always" options: a once is refused rather than granted for good.
        (PermissionAnswer(True), ("--always-only",), "reject_always"),
        (PermissionAnswer(True, always=True), ("--always-only",), "allow_always"),
        (PermissionAnswer(False), ("--always-only",), "reject_always"),
        # Edited arguments cannot travel over ACP: the call is refused.
        (PermissionAnswer(True, edited_args={"command": "echo ho"}), (), "reject_once"),
    ],
)
async def test_a_permission_answer_chooses_the_agents_option_by_kind(
    connect, answer: PermissionAnswer, flags: tuple[str, ...], chosen: str
) -> None:
    side = RecordingSide(answer)
    connection = await connect(side, *flags)

    assert await connection.prompt("run: echo hi") == TurnEnd("no_tool_calls")

    [request] = side.requests
    assert (request.call_id, request.tool, request.args) == (
        "call-run",
        "bash",
        {"command": "echo hi"},
    )
    assert request.title == "Run echo hi"
    requested = {"call_id": "call-run", "tool": "bash", "args": {"command": "echo hi"}}
    assert side.events[0] == ("tool.requested", requested)
    assert f"permission: {chosen}\n" in side.text()
    if chosen.startswith("allow"):
        assert side.of("tool.completed") == [{"call_id": "call-run", "result": "hi\n"}]
        assert "ran: hi" in side.text()
    else:
        assert side.of("tool.failed") == [{"call_id": "call-run", "error": "rejected"}]
        assert "ran:" not in side.text()


@pytest.mark.parametrize("verb", ["ask", "later"])
async def test_a_call_is_recorded_once_its_input_is_known_before_its_request(
    connect, verb: str
) -> None:
    side = RecordingSide()
    connection = await connect(side)

    await connection.prompt(f"{verb}: echo hi")

    requested = {"call_id": "call-run", "tool": "bash", "args": {"command": "echo hi"}}
    assert side.events[:2] == [
        ("tool.requested", requested),
        ("tool.completed", {"call_id": "call-run", "result": "hi\n"}),
    ]
    assert [request.call_id for request in side.requests] == ["call-run"]


async def test_the_entrys_model_is_chosen_through_the_agents_model_option(connect) -> None:
    side = RecordingSide()
    connection = await connect(side, model="large")
    await connection.prompt("model")
    assert side.text() == "model: large"

    default = RecordingSide()
    await (await connect(default)).prompt("model")
    assert default.text() == "model: small"


async def test_a_file_write_goes_through_the_jail(connect, workspace: Path) -> None:
    side = RecordingSide()
    connection = await connect(side)

    await connection.prompt("write: sub/new.txt hello")

    assert (workspace / "sub" / "new.txt").read_text() == "hello"
    [request] = side.requests
    assert (request.tool, request.args) == (
        "write_file",
        {"path": "sub/new.txt", "content": "hello"},
    )
    assert request.diff is not None and "+hello" in request.diff
    assert "wrote sub/new.txt" in side.text()


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../outside.txt", "outside the workspace"),
        (".git/config", "git's own"),
        (".harness/policy.toml", "harness-tui keeps its"),
        ("/tmp/acp-outside.txt", "outside the workspace"),
    ],
)
async def test_a_file_write_outside_the_jail_is_refused(
    connect, workspace: Path, path: str, why: str
) -> None:
    side = RecordingSide()
    connection = await connect(side)

    assert await connection.prompt(f"write: {path} bad") == TurnEnd("no_tool_calls")

    assert "refused: " in side.text() and why in side.text()
    assert not (workspace / path).exists() or (workspace / path).read_text() != "bad"
    assert not (workspace.parent / "outside.txt").exists()


async def test_file_reads_are_jailed_too(connect) -> None:
    side = RecordingSide()
    connection = await connect(side)

    await connection.prompt("read: notes.txt")
    assert "read: one\ntwo\nthree\n" in side.text()

    await connection.prompt("read: ../../etc/hostname")
    assert "refused: " in side.text() and "outside the workspace" in side.text()
    await connection.prompt("read: missing.txt")
    assert "file not found: missing.txt" in side.text()


async def test_an_interrupt_ends_the_turn_cancelled(connect) -> None:
    side = RecordingSide()
    connection = await connect(side)

    turn = asyncio.create_task(connection.prompt("slow"))
    await wait_for(lambda: bool(side.of("tool.requested")), message="the slow tool call")
    await connection.interrupt()

    assert await turn == TurnEnd("cancelled")
    # The call the agent left open ends with the turn.
    assert side.of("tool.failed") == [{"call_id": "call-slow", "error": "cancelled"}]
    # The connection takes the next turn.
    assert await connection.prompt("after") == TurnEnd("no_tool_calls")
    assert "echo: after" in side.text()


async def test_an_interrupt_answers_a_pending_permission_cancelled(connect) -> None:
    side = RecordingSide(answer=None)
    connection = await connect(side)

    turn = asyncio.create_task(connection.prompt("run: echo hi"))
    await wait_for(lambda: bool(side.requests), message="the permission request")
    await connection.interrupt()

    assert await turn == TurnEnd("cancelled")
    assert side.cancelled == 1
    assert side.of("tool.failed") == [{"call_id": "call-run", "error": "cancelled"}]
    assert "ran:" not in side.text()


@pytest.mark.parametrize("reason", ["max_tokens", "max_turn_requests", "refusal"])
async def test_a_turn_the_agent_stops_short_failed(connect, reason: str) -> None:
    connection = await connect(RecordingSide())

    end = await connection.prompt(f"stop: {reason}")

    assert end.reason == "failed" and end.error is not None and reason in end.error


async def test_an_agent_that_dies_mid_turn_is_an_agent_error_with_its_stderr(connect) -> None:
    connection = await connect(RecordingSide())

    with pytest.raises(AgentError) as failed:
        await connection.prompt("crash")

    message = str(failed.value)
    assert message.startswith("agent fake-acp: ")
    assert "exit status 3" in message and "crashing as asked" in message
    assert "\n" not in message


async def test_an_agent_that_never_speaks_acp_fails_to_start(connect) -> None:
    script = "import sys; print('no acp here', file=sys.stderr); sys.exit(2)"
    with pytest.raises(AgentError, match=r"agent fake-acp: .*initialize.*no acp here"):
        await connect(RecordingSide(), argv=(sys.executable, "-c", script))


async def test_close_ends_the_agents_whole_process_group(connect) -> None:
    side = RecordingSide()
    connection = await connect(side)
    await connection.prompt("spawn")
    child = int(side.text().split()[-1])
    pgid = connection.pgid
    assert pgid is not None and os.getpgid(child) == pgid and group_alive(pgid)

    await connection.close()

    assert not group_alive(pgid)


async def test_a_resumed_session_is_loaded_not_replayed(connect) -> None:
    first = await connect(RecordingSide())
    await first.prompt("remember the plums")
    await first.close()

    side = RecordingSide()
    again = await connect(side, resume_id=first.session_id)

    assert again.session_id == first.session_id
    assert side.events == []  # the agent's replay of the conversation is in our log already
    await again.prompt("history")
    assert side.text() == "history: remember the plums"
    # Nor is the cost it reported then counted again.
    await again.prompt("hello")
    assert "cost_usd" not in side.of("model.completed")[-1]["usage"]


@pytest.mark.parametrize("flags", [("--no-load",), ()])
async def test_a_session_that_cannot_be_loaded_starts_anew(connect, flags: tuple[str, ...]) -> None:
    first = await connect(RecordingSide(), *flags)
    resume_id = first.session_id if flags else "acp-forgotten"

    again = await connect(RecordingSide(), *flags, resume_id=resume_id)

    assert again.session_id != resume_id


@pytest.mark.parametrize(
    ("call", "tool", "args"),
    [
        # codex-acp: argv of a shell running a script.
        (
            {"kind": "execute", "rawInput": {"command": ["bash", "-lc", "ls -a"]}},
            "bash",
            {"command": "ls -a"},
        ),
        (
            {"kind": "execute", "rawInput": {"command": ["git", "status"]}},
            "bash",
            {"command": "git status"},
        ),
        # An agent that names the command only in the title (gemini).
        ({"kind": "execute", "title": "npm test"}, "bash", {"command": "npm test"}),
        # Claude's Write and Edit through claude-agent-acp: raw input, no diff content.
        # Paths in the workspace are named relative to it, arguments as our tools name
        # them, so the policy judges and diffs the call as one of ours.
        (
            {"kind": "edit", "rawInput": {"file_path": "/w/a.py", "content": "x = 1\n"}},
            "write_file",
            {"path": "a.py", "content": "x = 1\n"},
        ),
        (
            {
                "kind": "edit",
                "rawInput": {"file_path": "a.py", "old_string": "1", "new_string": "2"},
            },
            "edit_file",
            {"path": "a.py", "old_string": "1", "new_string": "2"},
        ),
        (
            {
                "kind": "edit",
                "content": [{"type": "diff", "path": "/w/a.py", "oldText": "1", "newText": "2"}],
            },
            "edit_file",
            {"path": "a.py", "old_string": "1", "new_string": "2"},
        ),
        ({"kind": "read", "locations": [{"path": "/w/b.md"}]}, "read_file", {"path": "b.md"}),
        ({"kind": "fetch", "rawInput": {"url": "https://x"}}, "fetch", {"url": "https://x"}),
        (
            {"kind": "other", "title": "mcp__db__query", "rawInput": {"q": 1}},
            "mcp__db__query",
            {"q": 1},
        ),
    ],
)
def test_an_agents_tool_call_in_the_policys_terms(
    call: dict[str, Any], tool: str, args: dict[str, Any]
) -> None:
    update = ToolCallUpdate.model_validate({"toolCallId": "c1", **call})
    mapped_tool, mapped_args, diff = _tool_of(update, Path("/w"))
    assert (mapped_tool, mapped_args) == (tool, args)
    if tool in ("write_file", "edit_file"):
        assert diff is not None and "b/a.py" in diff
