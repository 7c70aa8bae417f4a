"""Sessions on an ACP agent through the Engine: the scripted ACP agent
(tests/support/agents/acp_agent.py) as `[agents.fake]`, its permission requests judged
by our policy (allow without asking, forbid without asking, prompt answered in the
inbox), follow-up turns, cancel, and resume after a restart, all on the record."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from tests.support.processes import group_alive
from tests.support.projects import agent_entry, cli_env, commit_all, init_repo, run_exec
from tests.support.waiting import wait_for

AGENT = Path(__file__).resolve().parents[1] / "support" / "agents" / "acp_agent.py"

# The project's own rules: touch is forbidden, mkdir prompts (the built-in rules allow
# echo, and mkdir as a file tool).
POLICY = """
[[rule]]
id = "test-ask-mkdir"
decision = "prompt"
reason = "this project asks before mkdir"
pattern = ["mkdir"]
match = ["mkdir x"]

[[rule]]
id = "test-no-touch"
decision = "forbid"
reason = "this project forbids touch"
pattern = ["touch"]
match = ["touch x"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    (repo / "notes.txt").write_text("hello\n")
    harness = repo / ".harness"
    harness.mkdir()
    args = [str(AGENT), "--sessions", str(tmp_path / "agent-sessions.json")]
    (harness / "config.toml").write_text(agent_entry("fake", "acp", sys.executable, args))
    (harness / "policy.toml").write_text(POLICY)
    commit_all(repo)
    return repo


async def open_engine(project: Path) -> Engine:
    return await Engine.open(load_config(project=project, flags={}, env={}))


async def run(project: Path, prompt: str) -> tuple[str, list[ev.Event]]:
    """A session on the fake agent, run to its end: its id and its events."""
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(prompt, agent="fake")
        await engine.wait(sid)
        return sid, await engine.store.read(sid)
    finally:
        await engine.close()


def of(events: list[ev.Event], type_: str) -> list[dict]:
    return [event.data for event in events if event.type == type_]


def said(events: list[ev.Event]) -> str:
    return "".join(data["text"] for data in of(events, ev.MODEL_COMPLETED))


async def test_a_prompt_runs_on_the_acp_agent_and_is_on_the_record(project: Path) -> None:
    sid, events = await run(project, "hello")

    [created] = of(events, ev.SESSION_CREATED)
    assert (created["backend"], created["protocol"]) == ("fake", "acp")
    [started] = of(events, ev.AGENT_STARTED)
    assert started["agent_session_id"].startswith("acp-")
    assert started["asks_permission"] is True and started["can_steer"] is False
    assert said(events) == "echo: hello"
    assert of(events, ev.MODEL_COMPLETED)[0]["usage"]["output_tokens"] == 3
    assert [data["reason"] for data in of(events, ev.TURN_COMPLETED)] == ["no_tool_calls"]


async def test_a_command_the_policy_allows_runs_without_asking(project: Path) -> None:
    _, events = await run(project, "run: echo hi")

    [decided] = of(events, ev.POLICY_DECIDED)
    assert (decided["decision"], decided["rule_id"]) == ("allow", "read-only-tools")
    assert of(events, ev.APPROVAL_REQUESTED) == []
    [requested] = of(events, ev.TOOL_REQUESTED)
    assert (requested["tool"], requested["args"]) == ("bash", {"command": "echo hi"})
    assert of(events, ev.TOOL_COMPLETED) == [{"call_id": "call-run", "result": "hi\n"}]
    assert "permission: allow_once" in said(events)


async def test_a_command_the_policy_forbids_is_rejected_without_asking(project: Path) -> None:
    _, events = await run(project, "run: touch forbidden.txt")

    [decided] = of(events, ev.POLICY_DECIDED)
    assert (decided["decision"], decided["rule_id"]) == ("forbid", "test-no-touch")
    assert of(events, ev.APPROVAL_REQUESTED) == []
    assert "permission: reject_once" in said(events)
    assert of(events, ev.TOOL_FAILED) == [{"call_id": "call-run", "error": "rejected"}]
    assert not (project / "forbidden.txt").exists()


@pytest.mark.parametrize(
    ("decision", "chosen"),
    [("allow_once", "allow_once"), ("allow_always", "allow_always"), ("deny", "reject_once")],
)
async def test_a_prompted_command_waits_for_the_inbox(
    project: Path, decision: str, chosen: str
) -> None:
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("run: mkdir asked", agent="fake")

        async def asked() -> bool:
            return bool(await engine.pending_approvals())

        await wait_for(asked, message="the agent's request in the inbox")
        [(_, approval)] = await engine.pending_approvals()
        assert not (project / "asked").exists(), "ran before it was answered"
        await engine.resolve_approval(approval.approval_id, decision, reason="checked")
        await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()

    [decided] = of(events, ev.POLICY_DECIDED)
    assert decided["decision"] == "prompt"
    [requested] = of(events, ev.APPROVAL_REQUESTED)
    assert "mkdir asked" in requested["summary"]
    assert [data["decision"] for data in of(events, ev.APPROVAL_RESOLVED)] == [decision]
    assert f"permission: {chosen}" in said(events)
    assert (project / "asked").is_dir() == (decision != "deny")


async def test_a_file_write_is_judged_then_written_through_the_jail(project: Path) -> None:
    _, events = await run(project, "write: notes.txt changed")

    [requested] = of(events, ev.TOOL_REQUESTED)
    assert (requested["tool"], requested["args"]["path"]) == ("write_file", "notes.txt")
    assert [data["decision"] for data in of(events, ev.POLICY_DECIDED)] == ["allow"]
    assert (project / "notes.txt").read_text() == "changed"


async def test_a_follow_up_is_the_next_turn_of_the_same_agent(project: Path) -> None:
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("first", agent="fake")
        await engine.wait(sid)
        await engine.send(sid, "history", mode="follow_up")
        await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()

    assert said(events) == "echo: firsthistory: first"
    assert len(of(events, ev.AGENT_STARTED)) == 1  # one process for both turns
    assert [data["reason"] for data in of(events, ev.TURN_COMPLETED)] == ["no_tool_calls"] * 2


async def test_cancel_ends_the_turn_and_the_agents_process_group(project: Path) -> None:
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("slow", agent="fake")

        async def waiting_in_its_tool() -> bool:
            return bool(of(await engine.store.read(sid), ev.TOOL_REQUESTED))

        await wait_for(waiting_in_its_tool, message="the agent's slow tool call")
        await engine.cancel(sid)
        await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()

    assert [data["reason"] for data in of(events, ev.TURN_COMPLETED)] == ["cancelled"]
    assert of(events, ev.TOOL_FAILED) == [{"call_id": "call-slow", "error": "cancelled"}]
    [started] = of(events, ev.AGENT_STARTED)
    assert not group_alive(started["pid"])
    assert of(events, ev.AGENT_EXITED)


async def test_a_session_resumes_the_agents_conversation_after_a_restart(project: Path) -> None:
    sid, first = await run(project, "remember the plums")
    [started] = of(first, ev.AGENT_STARTED)

    engine = await open_engine(project)
    try:
        await engine.send(sid, "history", mode="prompt")
        await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()

    again = of(events, ev.AGENT_STARTED)[-1]
    assert again["agent_session_id"] == started["agent_session_id"]
    assert again["resumed"] is True
    # The agent's replay of the conversation on session/load is not recorded twice.
    assert said(events) == "echo: remember the plumshistory: remember the plums"


async def test_cancel_while_the_agent_waits_on_the_inbox(project: Path) -> None:
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("run: mkdir asked", agent="fake")

        async def asked() -> bool:
            return bool(await engine.pending_approvals())

        await wait_for(asked, message="the agent's request in the inbox")
        await engine.cancel(sid)
        await engine.wait(sid)
        events = await engine.store.read(sid)
        assert await engine.pending_approvals() == []
    finally:
        await engine.close()

    assert [data["reason"] for data in of(events, ev.TURN_COMPLETED)] == ["cancelled"]
    # The agent was told `cancelled`, and did not run the command.
    assert of(events, ev.TOOL_FAILED) == [{"call_id": "call-run", "error": "cancelled"}]
    assert not (project / "asked").exists()
    assert not group_alive(of(events, ev.AGENT_STARTED)[0]["pid"])


def test_exec_runs_a_prompt_on_the_acp_agent(project: Path, tmp_path: Path) -> None:
    done = run_exec(project, "hello", "--agent", "fake", env=cli_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert "echo: hello" in done.stdout
