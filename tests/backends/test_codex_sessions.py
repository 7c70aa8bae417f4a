"""Sessions on a Codex app-server agent through the Engine: the scripted app-server
(tests/support/agents/fake_codex.py) as `[agents.fake]`, our policy and inbox answering
its approvals, steering, cancelling, and a resume by a new engine on the same store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from tests.support.processes import group_alive
from tests.support.projects import agent_entry, commit_all, init_repo
from tests.support.waiting import wait_for

FAKE_CODEX = Path(__file__).resolve().parents[1] / "support" / "agents" / "fake_codex.py"

PROJECT_RULES = """
[[rule]]
id = "no-forbidden-file"
decision = "forbid"
reason = "the tests forbid it"
pattern = ["touch", "forbidden.txt"]
match = ["touch forbidden.txt"]
not_match = ["touch allowed.txt"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("a project\n")
    commit_all(repo)
    harness = repo / ".harness"
    harness.mkdir()
    (harness / "config.toml").write_text(
        agent_entry(
            "fake", "codex", sys.executable, [FAKE_CODEX], {"CODEX_HOME": tmp_path / "codex-home"}
        )
    )
    (harness / "policy.toml").write_text(PROJECT_RULES)
    return repo


async def open_engine(project: Path) -> Engine:
    return await Engine.open(load_config(project=project, flags={}, env={}))


async def start(engine: Engine, prompt: str) -> str:
    return await engine.start_session(prompt, agent="fake", worktree=False)


async def recorded(engine: Engine, sid: str) -> list[tuple[str, dict]]:
    return [(event.type, event.data) for event in await engine.store.read(sid)]


def of(events: list[tuple[str, dict]], type_: str) -> list[dict]:
    return [data for kind, data in events if kind == type_]


def texts(events: list[tuple[str, dict]]) -> list[str]:
    return [data["text"] for data in of(events, ev.MODEL_COMPLETED)]


async def said(engine: Engine, sid: str, text: str) -> None:
    async def check() -> bool:
        return text in texts(await recorded(engine, sid))

    await wait_for(check, message=f"the agent to say {text!r}")


async def test_a_prompt_runs_on_the_agent_and_is_recorded(project) -> None:
    engine = await open_engine(project)
    try:
        sid = await start(engine, "hello")
        state = await engine.wait(sid)
        events = await recorded(engine, sid)
    finally:
        await engine.close()

    [created] = of(events, ev.SESSION_CREATED)
    assert created["backend"] == "fake" and created["protocol"] == "codex"
    [started] = of(events, ev.AGENT_STARTED)
    assert started["agent"] == "fake" and started["protocol"] == "codex"
    assert started["agent_session_id"] and started["asks_permission"] is True
    assert started["can_steer"] is True
    assert texts(events) == ["You said: hello. Earlier: nothing."]
    assert of(events, ev.TURN_COMPLETED) == [{"reason": "no_tool_calls"}]
    assert state.output_tokens == 10 and state.input_tokens == 80
    assert state.status in ("idle", "done")
    # The engine closed the agent with it.
    assert not group_alive(started["pid"])


async def test_a_command_the_policy_allows_runs_unasked(project) -> None:
    engine = await open_engine(project)
    try:
        sid = await start(engine, "run: touch allowed.txt")
        await engine.wait(sid)
        events = await recorded(engine, sid)
    finally:
        await engine.close()

    [decided] = of(events, ev.POLICY_DECIDED)
    assert decided["decision"] == "allow"
    assert of(events, ev.APPROVAL_REQUESTED) == []
    [requested] = of(events, ev.TOOL_REQUESTED)
    assert requested["tool"] == "bash" and requested["args"] == {"command": "touch allowed.txt"}
    [completed] = of(events, ev.TOOL_COMPLETED)
    assert completed["call_id"] == requested["call_id"]
    assert (project / "allowed.txt").exists()


async def test_a_command_the_policy_forbids_is_declined_unasked(project) -> None:
    engine = await open_engine(project)
    try:
        sid = await start(engine, "run: touch forbidden.txt")
        await engine.wait(sid)
        events = await recorded(engine, sid)
    finally:
        await engine.close()

    [decided] = of(events, ev.POLICY_DECIDED)
    assert decided["decision"] == "forbid" and decided["rule_id"] == "no-forbidden-file"
    assert of(events, ev.APPROVAL_REQUESTED) == []
    assert of(events, ev.TOOL_FAILED)[0]["refused"] is True
    assert not (project / "forbidden.txt").exists()
    assert "did not run" in texts(events)[-1]
    assert of(events, ev.TURN_COMPLETED)[-1]["reason"] == "no_tool_calls"


@pytest.mark.parametrize("decision", ["allow_once", "deny"])
async def test_a_command_the_policy_prompts_for_waits_for_the_inbox(project, decision) -> None:
    engine = await open_engine(project)
    try:
        sid = await start(engine, "run: truncate -s 0 asked.txt")
        await wait_for(
            lambda: engine.state(sid).approvals and engine.state(sid).status == "waiting",
            message="the approval in the inbox",
        )
        assert not (project / "asked.txt").exists(), "ran before it was answered"
        [(_, pending)] = await engine.pending_approvals()
        await engine.resolve_approval(pending.approval_id, decision, reason="test")
        await engine.wait(sid)
        events = await recorded(engine, sid)
    finally:
        await engine.close()

    [requested] = of(events, ev.APPROVAL_REQUESTED)
    assert "truncate -s 0 asked.txt" in requested["summary"]
    [resolved] = of(events, ev.APPROVAL_RESOLVED)
    assert resolved["decision"] == decision
    if decision == "allow_once":
        assert (project / "asked.txt").exists()
        assert of(events, ev.TOOL_COMPLETED)[0]["result"].endswith("exit code: 0")
    else:
        assert not (project / "asked.txt").exists()
        assert of(events, ev.TOOL_FAILED)[0]["refused"] is True
    assert of(events, ev.TURN_COMPLETED)[-1]["reason"] == "no_tool_calls"


async def test_a_file_change_asks_with_its_diff_in_untrusted_mode(project) -> None:
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(
            "write: notes.txt hello", agent="fake", worktree=False, approval_mode="untrusted"
        )
        await wait_for(lambda: engine.state(sid).approvals, message="the approval")
        [(_, pending)] = await engine.pending_approvals()
        await engine.resolve_approval(pending.approval_id, "allow_once")
        await engine.wait(sid)
        events = await recorded(engine, sid)
    finally:
        await engine.close()

    [requested] = of(events, ev.APPROVAL_REQUESTED)
    assert "+hello" in (requested.get("diff") or "")
    assert (project / "notes.txt").read_text() == "hello\n"


async def test_steering_joins_the_running_turn(project) -> None:
    engine = await open_engine(project)
    try:
        sid = await start(engine, "wait")
        await said(engine, sid, "Waiting for you.")
        await engine.send(sid, "go left", mode="steer")
        await engine.wait(sid)
        events = await recorded(engine, sid)
    finally:
        await engine.close()

    assert texts(events)[-1] == "Steered: go left. Earlier: nothing."
    # One turn: the steering joined it rather than starting another.
    assert len(of(events, ev.TURN_COMPLETED)) == 1
    assert {"text": "go left", "mode": "steer"}.items() <= of(events, ev.INPUT_RECEIVED)[-1].items()


async def test_cancel_interrupts_the_turn_and_ends_the_agent(project) -> None:
    engine = await open_engine(project)
    try:
        sid = await start(engine, "hang")
        await said(engine, sid, "Hanging.")
        await engine.cancel(sid)
        await engine.wait(sid)
        events = await recorded(engine, sid)
    finally:
        await engine.close()

    assert of(events, ev.TURN_COMPLETED)[-1]["reason"] == "cancelled"
    [started] = of(events, ev.AGENT_STARTED)
    assert of(events, ev.AGENT_EXITED)
    await wait_for(lambda: not group_alive(started["pid"]), message="the agent's group to end")


async def test_a_new_engine_resumes_the_agents_conversation(project) -> None:
    engine = await open_engine(project)
    try:
        sid = await start(engine, "remember the lighthouse")
        await engine.wait(sid)
    finally:
        await engine.close()

    engine = await open_engine(project)
    try:
        await engine.send(sid, "what did I say?", mode="prompt")
        await engine.wait(sid)
        events = await recorded(engine, sid)
    finally:
        await engine.close()

    first, second = of(events, ev.AGENT_STARTED)
    assert second["agent_session_id"] == first["agent_session_id"]
    assert second["resumed"] is True
    assert texts(events)[-1] == "You said: what did I say?. Earlier: remember the lighthouse."
    assert [d["reason"] for d in of(events, ev.TURN_COMPLETED)] == [
        "no_tool_calls",
        "no_tool_calls",
    ]
