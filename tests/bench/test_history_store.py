"""The history benchmark's store builder makes a store the faces can read: every session
folds, the newest one carries the title the benchmark looks for, the live sessions are
live, and the worktrees it lists exist. (The benchmark itself is not run here.)"""

from __future__ import annotations

from pathlib import Path

from harness_tui.engine.session import SessionState
from harness_tui.engine.worktree_records import list_records, worktree_sessions
from harness_tui.gc.service import is_system_session
from harness_tui.store import open_store, sqlite_url
from tests.bench.history_store import NEWEST_TITLE, build_history, prepare_project


async def test_a_small_history_folds_and_shows_its_newest_and_live_sessions(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    prepare_project(project)
    store = await open_store(sqlite_url(tmp_path / "harness.db"))
    try:
        report = await build_history(store, project, events=1500)
        stored = await store.last_position()
        summaries = await store.sessions()
        states = {
            s.session_id: SessionState.from_events(s.session_id, await store.read(s.session_id))
            for s in summaries
        }
        records = await list_records(project, await worktree_sessions(store))
    finally:
        await store.close()

    assert report.events == stored
    assert len(summaries) == report.sessions
    newest = summaries[0]
    assert (newest.session_id, newest.title) == (report.newest_session_id, NEWEST_TITLE)
    assert [s.title for s in summaries].count(NEWEST_TITLE) == 1
    agents = [s for s in states.values() if not is_system_session(s.session_id)]
    assert any(s.parent_id for s in agents), "no subagent sessions"
    assert {s.status for s in agents} >= {"done", "idle", "running", "waiting"}
    live = [states[sid] for sid in report.live_session_ids]
    assert any(s.running_tasks for s in live)
    assert any(s.approvals for s in live)
    present = [r for r in records if r.worktree == "present"]
    assert len(present) == report.worktrees_present
    assert all(r.status != "unknown" for r in records), "a worktree no session accounts for"
