"""What `harness-tui worktrees` lists: each worktree session in the log with its branch
and status, and its worktree as git sees it; then worktree folders under the worktree
root that no session accounts for.

The worktree sessions come from a checkpointed projection (store/projection.py): per
worktree session, the little `worktrees` shows (title, status, the worktree's record),
folded by the same handlers as the session's own state, from the events of the few
types that change them. A listing reads only what was appended since the last one, and
loads no session's whole state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness_tui import events as ev
from harness_tui.engine.session import SessionState, SessionWorktree
from harness_tui.engine.worktrees import GitError, list_worktrees, worktree_root
from harness_tui.events import Event
from harness_tui.store import Checkpoint, EventStore
from harness_tui.store.projection import Folded, Projection, catch_up

# Bump when the shape of a part changes: the checkpoint is rebuilt once.
PROJECTION_VERSION = 1

# The only events that change what a listing shows of a worktree session.
_TYPES = frozenset(
    {
        ev.SESSION_CREATED,
        ev.SESSION_STATUS,
        ev.WORKTREE_CREATED,
        ev.WORKTREE_COMMITTED,
        ev.WORKTREE_REMOVED,
    }
)


@dataclass(frozen=True, slots=True)
class WorktreeSessionView:
    """A worktree session as the listing needs it."""

    session_id: str
    title: str
    status: str
    worktree: SessionWorktree


def _apply(folded: Folded, event: Event) -> None:
    sid = event.session_id
    part = folded.sessions.get(sid)
    if part is None and not (
        event.type == ev.WORKTREE_CREATED
        or (event.type == ev.SESSION_CREATED and isinstance(event.data.get("worktree"), dict))
    ):
        return  # not a worktree session (the common case): nothing to keep
    # The session's own handlers, on a state holding only what the part keeps.
    state = SessionState(sid)
    if part is not None:
        state.title, state.status = part["title"], part["status"]
        state.worktree = SessionWorktree(**part["worktree"])
    state.apply(event)
    if state.worktree is None:
        return
    folded.dirty.add(sid)
    folded.sessions[sid] = {
        "title": state.title,
        "status": state.status,
        "worktree": asdict(state.worktree),
    }


def _accept(checkpoint: Checkpoint) -> bool:
    for part in checkpoint.sessions.values():
        SessionWorktree(**part["worktree"])
        if not isinstance(part["title"], str) or not isinstance(part["status"], str):
            return False
    return True


WORKTREE_SESSIONS = Projection(
    name="worktree-sessions",
    version=PROJECTION_VERSION,
    types=_TYPES,
    initial=dict,
    apply=_apply,
    accept=_accept,
)


async def worktree_sessions(store: EventStore) -> list[WorktreeSessionView]:
    """Every worktree session in the log, newest first (as `sessions()` orders them)."""
    folded = await catch_up(store, WORKTREE_SESSIONS)
    parts = folded.sessions
    # One query for their summaries, in the order `sessions()` gives; a session
    # retention deleted since the fold read it has none and is left out.
    return [
        WorktreeSessionView(
            summary.session_id,
            # A log from before plans were recorded makes the part at worktree.created:
            # the title is the summary's, from the same session.created.
            part["title"] or summary.title,
            part["status"],
            SessionWorktree(**part["worktree"]),
        )
        for summary in await store.sessions(among=list(parts))
        if (part := parts.get(summary.session_id)) is not None
    ]


@dataclass(frozen=True, slots=True)
class WorktreeRecord:
    """One line of `harness-tui worktrees`: a worktree session from the log and its
    worktree as git sees it, or a worktree folder no session in the log accounts for."""

    session_id: str
    title: str
    status: str
    branch: str
    path: str
    # present | removed | missing (recorded, but the folder is gone) | not created |
    # unknown (a folder under the worktree root no session in the log accounts for)
    worktree: str
    base: str = ""
    base_commit: str | None = None
    commit: str | None = None
    files: int | None = None
    insertions: int | None = None
    deletions: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "title": self.title,
            "status": self.status,
            "branch": self.branch,
            "path": self.path,
            "worktree": self.worktree,
            "base": self.base,
            "base_commit": self.base_commit,
            "commit": self.commit,
            "files": self.files,
            "insertions": self.insertions,
            "deletions": self.deletions,
        }


async def list_records(
    project: Path, sessions: Iterable[WorktreeSessionView]
) -> list[WorktreeRecord]:
    """The worktree sessions given (newest first), then any folder under the worktree
    root that none of them accounts for."""
    registered = await registered_worktrees(project)
    records: list[WorktreeRecord] = []
    seen: set[Path] = set()
    for state in sessions:
        worktree = state.worktree
        path = Path(worktree.path).resolve()
        seen.add(path)
        if worktree.removed:
            where = "removed"
        elif not worktree.created:
            where = "present" if path in registered else "not created"
        elif path in registered and path.is_dir():
            where = "present"
        else:
            where = "missing"
        records.append(
            WorktreeRecord(
                session_id=state.session_id,
                title=state.title,
                status=state.status,
                branch=worktree.branch,
                path=worktree.path,
                worktree=where,
                base=worktree.base,
                base_commit=worktree.base_commit,
                commit=worktree.commit,
                files=worktree.files if worktree.committed else None,
                insertions=worktree.insertions if worktree.committed else None,
                deletions=worktree.deletions if worktree.committed else None,
            )
        )
    for path, branch in sorted(registered.items()):
        if path not in seen:
            records.append(
                WorktreeRecord(
                    session_id=path.name,
                    title="",
                    status="unknown",
                    branch=branch or "",
                    path=str(path),
                    worktree="unknown",
                )
            )
    return records


async def registered_worktrees(project: Path) -> dict[Path, str | None]:
    """The worktrees git knows under the project's worktree root, by path."""
    root = worktree_root(project).resolve()
    try:
        entries = await list_worktrees(project)
    except GitError:
        return {}  # not a git repository (any more): there is nothing to list
    found = {entry.path.resolve(): entry.branch for entry in entries}
    return {path: branch for path, branch in found.items() if root in path.parents}
