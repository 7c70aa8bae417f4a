"""`harness-tui worktrees` lists worktree sessions from a checkpointed projection: the
same sessions, in the same order, with the same title, status and worktree record as
folding each session's whole log gives, on SQLite and PostgreSQL, after more events
arrive and after retention deleted some."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from harness_tui import events as ev
from harness_tui.engine.session import SessionState
from harness_tui.engine.worktree_records import WORKTREE_SESSIONS, worktree_sessions
from harness_tui.events import Event, utcnow
from harness_tui.store import EventStore, open_store
from tests.bench.history_store import build_history, prepare_project
from tests.store.conftest import postgres_store_url, sqlite_store_url

__all__ = ["postgres_store_url", "sqlite_store_url"]  # fixtures, for pytest to find


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_store_url"))


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[EventStore]:
    opened = await open_store(store_url)
    project = tmp_path / "project"
    prepare_project(project)
    await build_history(opened, project, events=3000)
    yield opened
    await opened.close()


async def listed(store: EventStore) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (view.session_id, view.title, view.status, asdict(view.worktree))
        for view in await worktree_sessions(store)
    ]


async def folded_whole(store: EventStore) -> list[tuple[str, str, str, dict[str, Any]]]:
    """What the listing showed before: every session's whole state, newest first."""
    found = []
    for summary in await store.sessions():
        state = SessionState.from_events(summary.session_id, await store.read(summary.session_id))
        if state.worktree is not None:
            found.append((state.session_id, state.title, state.status, asdict(state.worktree)))
    return found


def worktree_run(session_id: str, *, seq: int = 1, end: str = "done") -> list[Event]:
    plan = {"branch": f"harness/{session_id}", "base": "main", "path": f"/w/{session_id}"}
    at = utcnow() + timedelta(seconds=1)
    data: list[tuple[str, dict[str, Any]]] = [
        (ev.SESSION_CREATED, {"title": f"run {session_id}", "worktree": plan}),
        (ev.SESSION_STATUS, {"status": "running"}),
        (ev.WORKTREE_CREATED, {**plan, "base_commit": "abc123"}),
        (ev.WORKTREE_COMMITTED, {"commit": "def456", "files": 3, "insertions": 9, "deletions": 1}),
        (ev.WORKTREE_REMOVED, {**plan, "reason": "cleanup"}),
        (ev.SESSION_STATUS, {"status": end}),
    ]
    return [
        Event(session_id, seq + n, kind, payload, at + timedelta(milliseconds=n))
        for n, (kind, payload) in enumerate(data)
    ]


async def test_the_listing_is_what_folding_every_session_gives(store: EventStore) -> None:
    first = await listed(store)
    assert first == await folded_whole(store)
    assert len(first) >= 2
    checkpoint = await store.load_checkpoint(WORKTREE_SESSIONS.name)
    assert checkpoint is not None and checkpoint.position == await store.last_position()

    # A new worktree session runs to its end, and one listed before moves on.
    await store.append(worktree_run("feedbeef"))
    moved = first[-1][0]
    last_seq = (await store.session(moved)).last_seq
    later = utcnow() + timedelta(seconds=10)
    await store.append([Event(moved, last_seq + 1, ev.SESSION_STATUS, {"status": "failed"}, later)])

    after = await listed(store)
    assert after == await folded_whole(store)
    assert after[0][0] == moved and after[0][2] == "failed"
    assert after[1][:3] == ("feedbeef", "run feedbeef", "done")
    assert after[1][3]["committed"] and after[1][3]["removed"]


async def test_retention_takes_deleted_sessions_off_the_listing(store: EventStore) -> None:
    before = await listed(store)
    gone = before[-1][0]
    summary = await store.session(gone)
    assert await store.delete_sessions({gone: summary.last_position}) == [gone]

    after = await listed(store)

    assert after == await folded_whole(store)
    assert gone not in [row[0] for row in after]
    assert len(after) == len(before) - 1
