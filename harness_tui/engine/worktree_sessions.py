"""Worktree sessions: a session that runs in a git worktree of its own, on branch
`<branch_prefix><session id>`, started from the project's base branch.

Its life, as the log records it:

    session.created {worktree: {branch, base, path, cleanup}}   the plan
    session.status {queued, position}    while the scheduler has no slot for it
    session.status {running}             a slot is granted
    worktree.created {path, branch, base, base_commit}          workspace = path
    … turns, in the worktree …
    validation.completed {command, exit_code, output_tail, kind} per command, after
                                         the agent finished; a failure goes back to the
                                         agent as a new turn (input.received, auto)
    worktree.committed {commit, files, insertions, deletions}   work on the branch
    worktree.removed {…, reason}         when [git] cleanup (the branch stays)
    session.status {done | failed | cancelled}
    (the slot is given back last, so the log never shows more running than allowed)

A session that ends any other way (failed, cancelled, interrupted by a crash) has its
work committed too, as a "WIP" commit, before its worktree goes: no work is lost. A
session stopped by max steps or a budget keeps its worktree (it can be continued) and
gives its slot back until it gets new input.

Limits hold within one engine: one dashboard, or one `--exec` run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from harness_tui import events as ev
from harness_tui.engine.context import EngineContext
from harness_tui.engine.owner import owner_alive
from harness_tui.engine.scheduler import QueueFull, Ticket, WorktreeScheduler
from harness_tui.engine.session import SessionState
from harness_tui.engine.tasks import TaskManager
from harness_tui.engine.worktree_lifecycle import Decision, WorktreeRefused, WorktreeSession
from harness_tui.engine.worktree_records import WorktreeRecord, list_records, worktree_sessions
from harness_tui.engine.worktrees import (
    GitError,
    commit_all,
    current_branch,
    prune_worktrees,
    remove_worktree,
    resolve_ref,
    worktree_path,
    worktree_root,
)
from harness_tui.engine.writer import SessionWriter

__all__ = [
    "Decision",
    "WorktreeRecord",
    "WorktreeRefused",
    "WorktreeSession",
    "WorktreeSessions",
]


class WorktreeSessions:
    """The engine's worktree side: its one scheduler and each worktree session's
    lifecycle (`WorktreeSession`, handed to the session's loop).

    `load_session` has the engine take a session from the log (so its lifecycle is
    here) to prune its worktree; listing reads the worktree-sessions projection."""

    def __init__(
        self,
        ctx: EngineContext,
        tasks: TaskManager,
        load_session: Callable[[str], Awaitable[None]],
    ) -> None:
        self.ctx = ctx
        self.tasks = tasks
        self.project = ctx.project
        self._load_session = load_session
        self.scheduler = WorktreeScheduler.from_config(ctx.config)
        self._lifecycles: dict[str, WorktreeSession] = {}
        # Set and replaced whenever queue positions may have moved, so each queued
        # session re-reads its own position and records it.
        self._changed = asyncio.Event()

    # -- starting ------------------------------------------------------------------

    async def plan(self, session_id: str, priority: int | None) -> dict[str, Any]:
        """The worktree part of a new session's session.created. The base is resolved
        now ("the branch checked out when the session starts"); whether it exists is
        checked when the worktree is made, and a missing one fails the session."""
        git = self.ctx.config.git
        try:
            base = git.base_branch or await current_branch(self.project)
            if base is None:  # a detached HEAD: start from the commit it is at
                base = await resolve_ref(self.project, "HEAD")
        except GitError as exc:
            raise WorktreeRefused(f"a worktree session needs a git repository: {exc}") from exc
        plan: dict[str, Any] = {
            "branch": f"{git.branch_prefix}{session_id}",
            "base": base,
            "path": str(worktree_path(self.project, session_id)),
            "cleanup": git.cleanup,
        }
        if priority is not None:
            plan["priority"] = priority
        return plan

    def submit(self, session_id: str, priority: int | None) -> Ticket:
        try:
            ticket = self.scheduler.submit(session_id, self.project, priority)
        except QueueFull as exc:
            raise WorktreeRefused(str(exc)) from exc
        self._notify()  # a higher priority ticket moves those behind it
        return ticket

    def attach(self, writer: SessionWriter, ticket: Ticket | None = None) -> WorktreeSession | None:
        """The lifecycle of a worktree session; None for any other session."""
        if writer.state.worktree is None:
            return None
        lifecycle = WorktreeSession(self.ctx, self, self.tasks, writer, ticket)
        self._lifecycles[writer.session_id] = lifecycle
        return lifecycle

    def lifecycle(self, session_id: str) -> WorktreeSession | None:
        return self._lifecycles.get(session_id)

    def forget(self, session_id: str) -> None:
        """Drop a session this engine loaded but will not run (its recovery failed):
        its lifecycle, and any slot it held. The next use loads it from the log again."""
        if self._lifecycles.pop(session_id, None) is not None:
            self.release(session_id)

    @property
    def changed(self) -> asyncio.Event:
        return self._changed

    def release(self, session_id: str) -> None:
        self.scheduler.release(session_id)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- closing and recovery ------------------------------------------------------

    async def close(self, detached: set[str]) -> None:
        """At engine close, after the loops stopped: sessions that were cut short are
        committed and cleaned up as cancelled; one paused (idle after max steps, or
        waiting for an approval that can still be answered: `detached`) keeps its
        worktree."""
        for session_id, lifecycle in list(self._lifecycles.items()):
            await lifecycle.on_close(session_id in detached)

    def leftover_session_ids(self) -> set[str]:
        """Sessions with a folder under the worktree root: cheap to find (no git), and
        recovery then checks each against the log."""
        root = worktree_root(self.project)
        if not root.is_dir():
            return set()
        return {child.name for child in root.iterdir() if child.is_dir()}

    @staticmethod
    def stranded(state: SessionState) -> bool:
        """A worktree session whose process died before its worktree's end: it must be
        finished here, or it would be dropped silently and its worktree orphaned."""
        worktree = state.worktree
        if worktree is None or worktree.removed or owner_alive(state.owner):
            return False
        if state.approvals:
            return False  # still answerable; whoever answers it carries it on
        if worktree.committed and not worktree.cleanup:
            return False  # its end ran; the worktree was kept on purpose
        if worktree.created and state.status == "idle":
            return False  # paused after max steps or a budget: it can be continued
        return not (not worktree.created and state.status in ev.TERMINAL_STATUSES)

    # -- listing and pruning -------------------------------------------------------

    async def records(self) -> list[WorktreeRecord]:
        """Every worktree session in the log, newest first, then any folder under the
        worktree root that none of them accounts for."""
        return await list_records(self.project, await worktree_sessions(self.ctx.store))

    async def prune(self) -> list[WorktreeRecord]:
        """Remove the worktrees of sessions that ended (kept by `cleanup = false`, or
        left by a failed removal) and those no session in the log accounts for; their
        uncommitted work is committed on their branch first. Then git forgets
        worktrees whose folders are gone. Returns what was removed."""
        pruned: list[WorktreeRecord] = []
        for record in await self.records():
            if record.worktree == "unknown":
                path = Path(record.path)
                with contextlib.suppress(GitError):
                    await commit_all(path, f"WIP (pruned): work left in {path}")
                await remove_worktree(self.project, path)
                pruned.append(record)
            elif record.worktree in ("present", "missing") and (
                record.status in ev.TERMINAL_STATUSES
            ):
                if record.session_id not in self._lifecycles:
                    await self._load_session(record.session_id)
                lifecycle = self._lifecycles[record.session_id]
                await lifecycle.finish(status=None, reason="pruned", remove=True)
                # A worktree that could not be committed stays, and is not reported.
                if lifecycle.record.removed:
                    pruned.append(record)
        await prune_worktrees(self.project)
        return pruned
