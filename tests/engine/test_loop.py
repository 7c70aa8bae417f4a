"""The agent loop through the Engine facade, with the offline scripted provider."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from harness_tui.paths import demo_copies_dir
from tests.support.processes import group_alive, recorded_groups
from tests.support.projects import QUICK_DEMO, demo_repo, init_repo, snapshot, write_script


def config_for(project, **flags):
    return load_config(project=project, flags=flags, env={})


async def open_engine(project, **flags) -> Engine:
    return await Engine.open(config_for(project, **flags))


def types(events):
    return [event.type for event in events]


async def test_demo_session_fixes_the_bug_and_the_tests_really_pass(tmp_path):
    """Even in a project holding the demo's own files, the demo works on its copy."""
    repo = demo_repo(tmp_path / "repo")
    before = snapshot(repo)
    engine = await open_engine(
        repo, **{"provider.name": "scripted", "policy.approval_mode": "auto", **QUICK_DEMO}
    )
    try:
        sid = await engine.start_session("fix the failing test")
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()

    assert state.last_turn_reason == "no_tool_calls"
    assert state.status == "done"
    copy = Path(state.workspace)
    assert copy == (demo_copies_dir() / sid).resolve()
    assert state.offline_demo and state.project == state.workspace
    assert snapshot(repo) == before
    assert "return total(values) / len(values)" in (copy / "calc.py").read_text()
    # The fix is real: the project's own tests pass in a fresh interpreter.
    run = await asyncio.to_thread(
        subprocess.run, ["python3", "-m", "unittest", "-q"], cwd=copy, capture_output=True
    )
    assert run.returncode == 0, run.stderr.decode()
    kinds = types(events)
    assert kinds[:2] == [ev.SESSION_CREATED, ev.SESSION_STATUS]
    assert kinds.count(ev.TOOL_REQUESTED) == kinds.count(ev.TOOL_COMPLETED) + kinds.count(
        ev.TOOL_FAILED
    )
    assert kinds[-2:] == [ev.TURN_COMPLETED, ev.SESSION_STATUS]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    # The demo used a subagent, a background task and an approval.
    assert ev.SUBAGENT_SPAWNED in kinds and ev.TASK_STARTED in kinds
    assert any(
        e.data.get("rule_id") == "git-clean-force" for e in events if e.type == ev.POLICY_DECIDED
    )
    assert not (copy / "debug.log").exists()
    # The first test run failed and the last one passed, as the agent saw them.
    commands = {
        e.data["call_id"]: e.data["args"].get("command")
        for e in events
        if e.type == ev.TOOL_REQUESTED
    }
    test_runs = [
        e.data
        for e in events
        if e.type == ev.TOOL_COMPLETED
        and (commands.get(e.data["call_id"]) or "").startswith("python3 -m unittest -v")
    ]
    assert "FAILED" in test_runs[0]["result"]
    assert test_runs[-1]["metadata"]["exit_code"] == 0
    assert "Ran 4 tests" in test_runs[-1]["result"] and "OK" in test_runs[-1]["result"]


async def test_the_demo_in_a_project_without_its_files_runs_on_a_seeded_copy(tmp_path):
    project = init_repo(tmp_path / "mine")
    (project / "README.md").write_text("my project\n")
    engine = await open_engine(
        project, **{"provider.name": "scripted", "policy.approval_mode": "auto", **QUICK_DEMO}
    )
    try:
        sid = await engine.start_session("show me the demo")
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert state.status == "done"
    assert state.workspace == str((demo_copies_dir() / sid).resolve())
    assert not (project / "calc.py").exists()
    assert "len(values)" in (demo_copies_dir() / sid / "calc.py").read_text()


async def test_max_steps_ends_the_turn(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "loop.toml",
        """
        [[turn]]
        text = "looking"
        [[turn.tool_calls]]
        name = "glob"
        arguments = { pattern = "*" }
        """
        * 5,
    )
    engine = await open_engine(
        project,
        **{"provider.name": "scripted", "provider.model": str(script), "engine.max_steps": 3},
    )
    try:
        sid = await engine.start_session("go", model=str(script))
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()
    assert state.last_turn_reason == "max_steps"
    assert types(events).count(ev.MODEL_COMPLETED) == 3
    assert state.status == "idle"


async def test_token_budget_ends_the_turn(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "one"
        usage = { input_tokens = 600, output_tokens = 100 }
        [[turn.tool_calls]]
        name = "glob"
        arguments = { pattern = "*" }

        [[turn]]
        text = "two"
        usage = { input_tokens = 700, output_tokens = 100 }
        [[turn.tool_calls]]
        name = "glob"
        arguments = { pattern = "*" }

        [[turn]]
        text = "never reached"
        """,
    )
    engine = await open_engine(project, **{"engine.max_total_tokens": 1000})
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert state.last_turn_reason == "budget"
    assert "token budget" in (state.last_error or "")
    assert state.total_tokens == 1500


async def test_an_unknown_tool_is_reported_to_the_model_and_the_turn_goes_on(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = ""
        [[turn.tool_calls]]
        name = "teleport"
        arguments = {}

        [[turn]]
        text = "done anyway"
        """,
    )
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()
    failed = [e for e in events if e.type == ev.TOOL_FAILED]
    assert failed and "unknown tool 'teleport'" in failed[0].data["error"]
    assert state.final_text == "done anyway"
    assert state.last_turn_reason == "no_tool_calls"


async def test_cancel_stops_a_long_tool_and_closes_the_turn(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "sleeping"
        [[turn.tool_calls]]
        name = "bash"
        arguments = { command = "echo $$ >> groups; sleep 97.31" }
        """,
    )
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        async for event in engine.subscribe():
            if event.type == ev.TOOL_REQUESTED:
                break
        await engine.cancel(sid)
        await engine.cancel(sid)  # idempotent
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()
    assert state.last_turn_reason == "cancelled"
    assert state.status == "cancelled"
    assert any(e.type == ev.TOOL_FAILED and e.data["error"] == "cancelled" for e in events)
    # The shell records its group as it starts; cancelled before that, it never ran.
    recorded = recorded_groups(project / "groups")
    assert not any(group_alive(pgid) for pgid in recorded), "the cancelled command still runs"


async def test_a_follow_up_on_a_finished_session_starts_a_new_turn(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "first answer"

        [[turn]]
        text = "second answer"
        """,
    )
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("one", provider="scripted", model=str(script))
        await engine.wait(sid)
        await engine.send(sid, "two", mode="follow_up")
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert state.turns == 2
    assert state.final_text == "second answer"
    assert [m.content for m in state.messages if m.role == "user"] == ["one", "two"]
