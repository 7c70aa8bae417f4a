"""A session's sandbox through the Engine facade: chosen at start and kept (by its
subagents too, and by a session logged before sandboxes had a mode: the config's), and
the code-rule guards that run after an edit run inside it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from harness_tui.sandbox import detect
from tests.engine.test_tasks import subagent_project
from tests.support.projects import init_repo, write_script

needs_bwrap = pytest.mark.skipif(not detect().ok, reason=f"no sandbox here: {detect().reason}")


async def open_engine(project: Path, **flags) -> Engine:
    return await Engine.open(load_config(project=project, flags=flags, env={}))


async def test_a_subagent_runs_in_its_parents_sandbox(tmp_path):
    project, parent = subagent_project(tmp_path, "echo part done")
    engine = await open_engine(project)
    try:
        sid = await engine.start_session(
            "split it", provider="scripted", model=str(parent), sandbox_mode="read-only"
        )
        await engine.wait(sid)
        events = await engine.store.read(sid)
        children = [e.data["child_session_id"] for e in events if e.type == ev.SUBAGENT_SPAWNED]
        states = [await engine.load_state(child) for child in children]
    finally:
        await engine.close()
    assert events[0].data["sandbox"] == {"mode": "read-only", "network": False}
    assert len(states) == 2
    assert all((s.sandbox_mode, s.sandbox_network) == ("read-only", False) for s in states)


async def test_the_mode_chosen_at_start_holds_whatever_the_config_says_later(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(tmp_path / "s.toml", '[[turn]]\ntext = "hi"\n[[turn]]\ntext = "again"\n')
    engine = await open_engine(project, **{"sandbox.mode": "danger-full-access"})
    try:
        sid = await engine.start_session("hi", provider="scripted", model=str(script))
        await engine.wait(sid)
    finally:
        await engine.close()
    engine = await open_engine(project)  # the default: workspace-write
    try:
        await engine.send(sid, "again")
        state = await engine.wait(sid)
        notes = [e for e in await engine.store.read(sid) if e.type == ev.SANDBOX_DISABLED]
    finally:
        await engine.close()
    assert state.sandbox_mode == "danger-full-access"
    # Each engine that ran it said so once, in the log.
    assert len(notes) == 2


@needs_bwrap
async def test_guards_run_in_the_sessions_sandbox(tmp_path):
    outside = Path(tempfile.mkdtemp(prefix="harness-sandbox-test-", dir="/var/tmp"))
    try:
        canary = outside / "canary.txt"
        canary.write_text("original\n")
        project = init_repo(tmp_path / "p")
        rules = project / ".harness" / "rules" / "style.md"
        rules.parent.mkdir(parents=True)
        rules.write_text("# Style\n\n## NO-TODO: No TODO left behind (error)\nFinish it.\n")
        guard = project / ".harness" / "guards" / "todo"
        guard.parent.mkdir()
        guard.write_text(
            "#!/bin/sh\n"
            f"echo tampered >> {canary} 2>/dev/null\n"
            "grep -Hn TODO notes.txt | while IFS=: read -r f l _; do "
            'echo "$f:$l:NO-TODO:a TODO is left"; done\n'
        )
        guard.chmod(0o755)
        script = write_script(
            tmp_path / "s.toml",
            '[[turn]]\ntext = "writing"\n[[turn.tool_calls]]\nname = "write_file"\n'
            'arguments = { path = "notes.txt", content = "TODO: later\\n" }\n\n'
            '[[turn]]\ntext = "done"\n',
        )
        engine = await open_engine(project)
        try:
            sid = await engine.start_session("write notes", provider="scripted", model=str(script))
            await engine.wait(sid)
            checked = [
                e.data
                for e in await engine.store.read(engine.gc.session_id)
                if e.type == ev.RULES_CHECKED
            ]
        finally:
            await engine.close()
        assert canary.read_text() == "original\n"
        assert len(checked) == 1 and not checked[0]["errors"], checked
        [violation] = checked[0]["violations"]
        assert (violation["file"], violation["rule_id"]) == ("notes.txt", "NO-TODO")
    finally:
        shutil.rmtree(outside, ignore_errors=True)
