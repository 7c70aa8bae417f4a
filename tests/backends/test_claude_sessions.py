"""Sessions on Claude Code through the Engine: fake_claude.py (the CLI's stream-json
control protocol, a real process) as `[agents.fake]`, our policy and inbox answering
what it asks, everything on the record."""

from __future__ import annotations

import sys
from pathlib import Path

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from tests.support.processes import group_alive
from tests.support.projects import agent_entry, init_repo
from tests.support.waiting import wait_for

FAKE = Path(__file__).resolve().parents[1] / "support" / "agents" / "fake_claude.py"

# What our policy answers, judged as commands that run outside any sandbox of ours.
ALLOWED = "echo from-the-agent"  # read-only-tools
PROMPTED = "python3 -c \"open('asked.txt', 'w').write('yes')\""  # interpreter-inline-code
FORBIDDEN = "git push --force origin main"  # git-force-push (and no remote to push to)


def project_with_fake_claude(tmp_path: Path) -> Path:
    project = init_repo(tmp_path / "project")
    config = project / ".harness" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    state = tmp_path / "fake-claude-state"
    config.write_text(
        agent_entry("fake", "claude", sys.executable, [FAKE], {"FAKE_CLAUDE_STATE": state})
    )
    return project


async def open_engine(project: Path) -> Engine:
    return await Engine.open(load_config(project=project, flags={}, env={}))


async def events_of(engine: Engine, sid: str):
    return await engine.store.read(sid)


def of(events, type_):
    return [e.data for e in events if e.type == type_]


async def approval_of(engine: Engine, sid: str) -> str:
    """The id of the session's pending approval, once it is in the inbox."""
    await wait_for(lambda: engine.state(sid).approvals, message="an approval in the inbox")
    (approval_id,) = engine.state(sid).approvals
    return approval_id


async def test_a_prompt_runs_on_the_agent_and_is_on_the_record(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("hello there", agent="fake")
        state = await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    (created,) = of(events, ev.SESSION_CREATED)
    assert created["backend"] == "fake"
    assert created["protocol"] == "claude"
    (started,) = of(events, ev.AGENT_STARTED)
    assert started["agent"] == "fake" and started["protocol"] == "claude"
    assert started["agent_session_id"] and started["pid"] > 0
    assert started["asks_permission"] is True and started["can_steer"] is True
    assert [d["text"] for d in of(events, ev.MODEL_COMPLETED)] == ["You said: hello there"]
    (completed,) = of(events, ev.TURN_COMPLETED)
    assert completed["reason"] == "no_tool_calls"
    # One model request: 10 input and 5 output tokens, $0.001, counted once between
    # the message's event and the turn's.
    assert (state.input_tokens, state.output_tokens) == (10, 5)
    assert abs(state.cost_usd - 0.001) < 1e-9
    assert state.status == "done"


async def test_a_command_the_policy_allows_runs_without_asking(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(f"run: {ALLOWED}", agent="fake")
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    (requested,) = of(events, ev.TOOL_REQUESTED)
    assert requested["tool"] == "bash" and requested["args"] == {"command": ALLOWED}
    (decided,) = of(events, ev.POLICY_DECIDED)
    assert decided["decision"] == "allow"
    assert of(events, ev.APPROVAL_REQUESTED) == []
    (done,) = of(events, ev.TOOL_COMPLETED)
    assert done["call_id"] == requested["call_id"] and done["result"] == "from-the-agent"


async def test_a_forbidden_command_is_refused_without_asking(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(f"run: {FORBIDDEN}", agent="fake")
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    (decided,) = of(events, ev.POLICY_DECIDED)
    assert (decided["decision"], decided["rule_id"]) == ("forbid", "git-force-push")
    assert of(events, ev.APPROVAL_REQUESTED) == []
    (failed,) = of(events, ev.TOOL_FAILED)
    assert failed["error"].startswith("forbidden by policy (git-force-push)")
    assert of(events, ev.MODEL_COMPLETED)[-1]["text"].startswith("Denied: forbidden by policy")


async def test_a_prompted_command_waits_for_the_inbox_and_runs_when_allowed(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(f"run: {PROMPTED}", agent="fake")
        approval_id = await approval_of(engine, sid)
        await wait_for(lambda: engine.state(sid).status == "waiting", message="status waiting")
        assert not (project / "asked.txt").exists(), "ran before it was approved"
        inbox = await engine.pending_approvals()
        assert [a.approval_id for _, a in inbox] == [approval_id]

        await engine.resolve_approval(approval_id, "allow_once")
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    assert (project / "asked.txt").read_text() == "yes"
    (requested,) = of(events, ev.APPROVAL_REQUESTED)
    assert requested["summary"].startswith(PROMPTED)
    assert of(events, ev.APPROVAL_RESOLVED)[0]["decision"] == "allow_once"
    assert len(of(events, ev.TOOL_COMPLETED)) == 1
    assert of(events, ev.TURN_COMPLETED)[-1]["reason"] == "no_tool_calls"


async def test_a_prompted_command_denied_in_the_inbox_never_runs(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(f"run: {PROMPTED}", agent="fake")
        approval_id = await approval_of(engine, sid)
        await engine.resolve_approval(approval_id, "deny", reason="not today")
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    assert not (project / "asked.txt").exists()
    (failed,) = of(events, ev.TOOL_FAILED)
    assert failed["error"] == "denied by the user: not today"
    assert of(events, ev.MODEL_COMPLETED)[-1]["text"] == "Denied: denied by the user: not today"
    assert of(events, ev.TURN_COMPLETED)[-1]["reason"] == "no_tool_calls"


async def test_steering_text_joins_the_running_turn(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(f"run: {PROMPTED}", agent="fake")
        approval_id = await approval_of(engine, sid)
        await engine.send(sid, "and mind the tests", mode="steer")
        await engine.resolve_approval(approval_id, "allow_once")
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    # One turn: the steer joined it rather than starting another.
    assert len(of(events, ev.TURN_STARTED)) == 1
    assert [d["mode"] for d in of(events, ev.INPUT_RECEIVED)] == ["prompt", "steer"]
    assert of(events, ev.MODEL_COMPLETED)[-1]["text"] == "Also: and mind the tests"


async def test_cancel_interrupts_a_running_command_and_ends_the_agent(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("background: sleep 60", agent="fake")

        async def task_started():
            return of(await events_of(engine, sid), ev.TASK_STARTED)

        await wait_for(task_started, message="the agent's background command")
        (started,) = of(await events_of(engine, sid), ev.AGENT_STARTED)
        await engine.cancel(sid)
        events = await events_of(engine, sid)
        state = engine.state(sid)
    finally:
        await engine.close()

    assert of(events, ev.TURN_COMPLETED)[-1]["reason"] == "cancelled"
    assert of(events, ev.TASK_CANCELLED)
    assert state.status != "running"
    await wait_for(
        lambda: not group_alive(started["pid"]), message="the agent's process group to end"
    )


async def test_cancel_while_asking_leaves_nothing_waiting(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(f"run: {PROMPTED}", agent="fake")
        await approval_of(engine, sid)
        await engine.cancel(sid)
        events = await events_of(engine, sid)
        pending = await engine.pending_approvals()
    finally:
        await engine.close()

    assert pending == []
    assert not (project / "asked.txt").exists()
    assert of(events, ev.TURN_COMPLETED)[-1]["reason"] == "cancelled"


async def test_a_new_engine_resumes_the_agents_conversation(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("my name is Ada", agent="fake")
        await engine.wait(sid)
        (first,) = of(await events_of(engine, sid), ev.AGENT_STARTED)
    finally:
        await engine.close()
    await wait_for(lambda: not group_alive(first["pid"]), message="the first agent to end")

    engine = await open_engine(project)
    try:
        await engine.send(sid, "recall", mode="prompt")
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    first_again, second = of(events, ev.AGENT_STARTED)
    assert second["agent_session_id"] == first["agent_session_id"]
    assert second["resumed"] is True
    assert of(events, ev.MODEL_COMPLETED)[-1]["text"] == "Earlier you said: my name is Ada"
    assert [d["reason"] for d in of(events, ev.TURN_COMPLETED)] == [
        "no_tool_calls",
        "no_tool_calls",
    ]


async def test_a_command_edited_in_the_inbox_is_what_the_agent_runs(tmp_path):
    project = project_with_fake_claude(tmp_path)
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(f"run: {PROMPTED}", agent="fake")
        approval_id = await approval_of(engine, sid)
        await engine.resolve_approval(approval_id, "edit", edited_args={"command": ALLOWED})
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    assert not (project / "asked.txt").exists()
    (done,) = of(events, ev.TOOL_COMPLETED)
    assert done["result"] == "from-the-agent"


async def test_a_file_edit_is_judged_as_ours_with_its_diff(tmp_path):
    project = project_with_fake_claude(tmp_path)
    (project / "notes.txt").write_text("one\ntwo\n")
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(
            "edit: notes.txt: two -> three", agent="fake", approval_mode="untrusted"
        )
        approval_id = await approval_of(engine, sid)
        await engine.resolve_approval(approval_id, "allow_once")
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()

    (requested,) = of(events, ev.TOOL_REQUESTED)
    assert requested["tool"] == "edit_file"
    assert requested["args"]["path"] == "notes.txt"
    (asked,) = of(events, ev.APPROVAL_REQUESTED)
    assert "-two" in asked["diff"] and "+three" in asked["diff"]
    assert (project / "notes.txt").read_text() == "one\nthree\n"
