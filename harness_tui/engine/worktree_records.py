"""What `harness-tui worktrees` lists: each worktree session in the log with its branch
and status, and its worktree as git sees it; then worktree folders under the worktree
root that no session accounts for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness_tui.engine.session import SessionState
from harness_tui.engine.worktrees import GitError, list_worktrees, worktree_root
from harness_tui.store import SessionSummary


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
    project: Path,
    summaries: list[SessionSummary],
    load_state: Callable[[str], Awaitable[SessionState]],
) -> list[WorktreeRecord]:
    """Every worktree session among `summaries` (newest first), then any folder under
    the worktree root that none of them accounts for."""
    registered = await registered_worktrees(project)
    records: list[WorktreeRecord] = []
    seen: set[Path] = set()
    for summary in summaries:
        state = await load_state(summary.session_id)
        worktree = state.worktree
        if worktree is None:
            continue
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
