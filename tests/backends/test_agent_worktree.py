"""`--worktree` with an external agent: the agent works in a git worktree of its own,
its work is committed on the session's branch, the worktree goes, the checkout stays
as it was."""

from __future__ import annotations

import sys
from pathlib import Path

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from tests.support.projects import agent_entry, commit_all, git, init_repo

FAKE = Path(__file__).resolve().parents[1] / "support" / "agents" / "fake_claude.py"


async def test_an_agent_session_in_its_own_worktree_leaves_its_work_on_a_branch(tmp_path):
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("# project\n")
    commit_all(repo)
    config = repo / ".harness" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        agent_entry(
            "fake", "claude", sys.executable, [FAKE], {"FAKE_CLAUDE_STATE": tmp_path / "state"}
        )
    )
    (repo / ".gitignore").write_text(".harness/\n")
    commit_all(repo, "ignore the harness")
    engine = await Engine.open(load_config(project=repo, flags={}, env={}))
    try:
        sid = await engine.start_session(
            "write: notes.txt: written by the agent", agent="fake", worktree=True
        )
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()

    assert state.status == "done", state.last_error
    (created,) = [e.data for e in events if e.type == ev.SESSION_CREATED]
    workspace = Path(created["workspace"])
    assert workspace != repo.resolve() and created["worktree"]["branch"] == f"harness/{sid}"
    kinds = [e.type for e in events]
    assert kinds.index(ev.WORKTREE_CREATED) < kinds.index(ev.AGENT_STARTED)
    assert ev.WORKTREE_COMMITTED in kinds and ev.WORKTREE_REMOVED in kinds
    # The agent wrote in its worktree; the work is on the branch, not in the checkout.
    assert git(repo, "show", f"harness/{sid}:notes.txt").strip() == "written by the agent"
    assert not (repo / "notes.txt").exists()
    assert not workspace.exists()
