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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui import events as ev
from harness_tui.engine.owner import current_owner, owner_alive
from harness_tui.engine.scheduler import QueueFull, Ticket, WorktreeScheduler
from harness_tui.engine.validation import failure_feedback, run_validation
from harness_tui.engine.worktrees import (
    GitError,
    WorktreeInfo,
    commit_all,
    create_worktree,
    current_branch,
    diff_summary,
    list_worktrees,
    prune_worktrees,
    remove_worktree,
    resolve_ref,
    worktree_path,
    worktree_root,
)

if TYPE_CHECKING:
    from harness_tui.engine.engine import Engine
    from harness_tui.engine.runner import SessionRunner
    from harness_tui.engine.session import SessionState, SessionWorktree

__all__ = [
    "Decision",
    "WorktreeRecord",
    "WorktreeRefused",
    "WorktreeSession",
    "WorktreeSessions",
]

INTERRUPTED = "interrupted: the process running it exited"
# Paths listed in worktree.committed; the counts cover all of them.
MAX_LISTED_PATHS = 200


class WorktreeRefused(Exception):
    """A worktree session cannot be started or given input; the message says why."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What follows a worktree session's turns: another turn with `retry` as its input
    (validation failed), the end (`finish` is done or failed), or neither: the session
    waits (idle after max steps, or a background task still runs)."""

    retry: str | None = None
    finish: str | None = None
    error: str | None = None


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


class WorktreeSessions:
    """The engine's worktree side: its one scheduler and each worktree session's
    lifecycle (`WorktreeSession`, hung on the session's runner)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.project = engine.project
        self.scheduler = WorktreeScheduler.from_config(engine.config)
        self._lifecycles: dict[str, WorktreeSession] = {}
        # Set and replaced whenever queue positions may have moved, so each queued
        # session re-reads its own position and records it.
        self._changed = asyncio.Event()

    # -- starting ------------------------------------------------------------------

    async def plan(self, session_id: str, priority: int | None) -> dict[str, Any]:
        """The worktree part of a new session's session.created. The base is resolved
        now ("the branch checked out when the session starts"); whether it exists is
        checked when the worktree is made, and a missing one fails the session."""
        git = self.engine.config.git
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

    def attach(self, runner: SessionRunner, ticket: Ticket | None = None) -> WorktreeSession | None:
        """The lifecycle for a worktree session's runner; None for any other session."""
        if runner.state.worktree is None:
            return None
        lifecycle = WorktreeSession(self, runner, ticket)
        self._lifecycles[runner.session_id] = lifecycle
        return lifecycle

    def release(self, session_id: str) -> None:
        self.scheduler.release(session_id)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- closing and recovery ------------------------------------------------------

    async def close(self) -> None:
        """At engine close, after the runners stopped: sessions that were cut short are
        committed and cleaned up as cancelled; one paused (idle after max steps, or
        waiting for an approval that can still be answered) keeps its worktree."""
        for lifecycle in list(self._lifecycles.values()):
            await lifecycle.on_close()

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
        registered = await self._registered()
        records: list[WorktreeRecord] = []
        seen: set[Path] = set()
        for summary in await self.engine.store.sessions():
            state = await self.engine.load_state(summary.session_id)
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
                runner = self.engine._runners.get(record.session_id)
                if runner is None:
                    state = await self.engine.load_state(record.session_id)
                    runner = self.engine._attach(state, state.provider, state.model)
                if runner.worktree is not None:
                    await runner.worktree.finish(status=None, reason="pruned", remove=True)
                # A worktree that could not be committed stays, and is not reported.
                if runner.state.worktree is not None and runner.state.worktree.removed:
                    pruned.append(record)
        await prune_worktrees(self.project)
        return pruned

    async def _registered(self) -> dict[Path, str | None]:
        """The worktrees git knows under this project's worktree root, by path."""
        root = worktree_root(self.project).resolve()
        try:
            entries = await list_worktrees(self.project)
        except GitError:
            return {}  # not a git repository (any more): there is nothing to list
        found = {entry.path.resolve(): entry.branch for entry in entries}
        return {path: branch for path, branch in found.items() if root in path.parents}


class WorktreeSession:
    """One worktree session's lifecycle. Its runner calls `begin()` before running
    input, `after_turns()` when the input ran out, and `end()` with the decision;
    the engine calls `cancelled()`, `on_close()` and `recover()`."""

    def __init__(self, manager: WorktreeSessions, runner: SessionRunner, ticket: Ticket | None):
        self.manager = manager
        self.runner = runner
        self.engine = manager.engine
        self.ticket = ticket
        # Whether this engine ran the session (held or asked for a slot): only then is
        # it this engine's to clean up at close. Recovery and pruning load others too.
        self._ran = ticket is not None
        self._creating: asyncio.Future[WorktreeInfo] | None = None
        # The end runs as a task of its own: a cancel that arrives half-way through a
        # commit must not leave the index locked or the worktree half-removed.
        self._finishing: asyncio.Future[None] | None = None

    @property
    def state(self) -> SessionState:
        return self.runner.state

    @property
    def record(self) -> SessionWorktree:
        assert self.state.worktree is not None
        return self.state.worktree

    @property
    def session_id(self) -> str:
        return self.runner.session_id

    @property
    def ended(self) -> bool:
        """Whether the session's worktree life is over: it takes no more input."""
        if self._finishing is not None:
            return True
        record = self.record
        if record.committed or record.removed:
            return True
        return not record.created and self.state.status in ev.TERMINAL_STATUSES

    def check_input(self) -> None:
        """Raise WorktreeRefused when the session can take no more input."""
        if not self.ended:
            return
        record = self.record
        where = f"its work is on branch {record.branch}" if record.created else "it never started"
        raise WorktreeRefused(
            f"session {self.session_id} ran in a worktree of its own and has ended "
            f"({self.state.status or 'finished'}); {where}: start a new session to go on"
        )

    # -- before the turns ----------------------------------------------------------

    async def begin(self) -> bool:
        """Hold a slot and a worktree; False when the input must not run (the session
        ended, or its worktree could not be made: the session then failed)."""
        if self.ended:
            self.runner.drop_input()
            return False
        self._ran = True
        if not self._holds_slot():
            try:
                if self.ticket is None:
                    self.ticket = self.manager.submit(self.session_id, self.record.priority)
            except WorktreeRefused as exc:
                # New input for a paused session, and the queue is full: the session
                # stays paused, and says why the input did not run.
                self.runner.drop_input()
                await self.runner.emit(ev.SESSION_STATUS, {"status": "idle", "error": str(exc)})
                return False
            await self._await_slot()
            await self.runner.set_status("running")
        if not self.record.created:
            return await self._create()
        if not Path(self.record.path).is_dir():
            # Deleted by hand while the session was paused: what was committed is on the
            # branch; the session ends, and git forgets the worktree.
            self.runner.drop_input()
            await self.finish(
                status="failed",
                reason="missing",
                error=f"the session's worktree {self.record.path} is gone; its work so far "
                f"is on branch {self.record.branch}",
            )
            return False
        return True

    def _holds_slot(self) -> bool:
        return self.ticket is not None and self.ticket.granted

    async def _await_slot(self) -> None:
        """Wait for the ticket, recording the queue position each time it moves."""
        ticket = self.ticket
        assert ticket is not None
        granted = asyncio.ensure_future(ticket.wait())
        try:
            while True:
                changed = self.manager._changed  # taken before reading, so no move is missed
                if granted.done():
                    break
                position = ticket.position
                if position is not None and (
                    self.state.status != "queued" or self.state.queue_position != position
                ):
                    await self.runner.emit(
                        ev.SESSION_STATUS, {"status": "queued", "position": position}
                    )
                moved = asyncio.ensure_future(changed.wait())
                try:
                    await asyncio.wait([granted, moved], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    moved.cancel()
            granted.result()  # CancelledError when the ticket was withdrawn
        except asyncio.CancelledError:
            granted.cancel()
            self._release()
            raise

    async def _create(self) -> bool:
        record = self.record
        self._creating = asyncio.ensure_future(
            create_worktree(self.manager.project, Path(record.path), record.branch, record.base)
        )
        try:
            # Shielded: a cancel lets the creation finish, and cancelled() then removes
            # what it made instead of finding half a worktree.
            info = await asyncio.shield(self._creating)
        except GitError as exc:
            await self._fail_setup(str(exc))
            return False
        await self._record_created(info)
        return True

    async def _record_created(self, info: WorktreeInfo) -> None:
        await self.runner.emit(
            ev.WORKTREE_CREATED,
            {
                "path": str(info.path),
                "branch": info.branch,
                "base": self.record.base,
                "base_commit": info.base_commit,
                "owner": current_owner(self.engine.id),
            },
        )

    async def _fail_setup(self, error: str) -> None:
        """The session cannot run: it fails with the one-line reason; the input it was
        given never ran."""
        self.runner.drop_input()
        await self.runner.emit(ev.SESSION_STATUS, {"status": "failed", "error": error})
        self._release()

    # -- after the turns -----------------------------------------------------------

    async def after_turns(self) -> Decision:
        """The agent has no input left. If it finished, run the validation commands in
        the worktree and decide: done, another try, or failed."""
        state = self.state
        reason = state.last_turn_reason
        if reason == "failed":
            return Decision(finish="failed", error=state.last_error)
        if reason != "no_tool_calls" or self.engine.tasks.running_for(self.session_id):
            return Decision()  # paused, or a task runs on and its end wakes the agent
        settings = self.engine.config.validation
        if not settings.commands:
            return Decision(finish="done")
        attempt = state.validation_failures + 1
        try:
            results = await run_validation(
                settings.commands,
                Path(self.record.path),
                self.engine.tool_env(),
                settings.timeout_s,
                settings.output_tail_bytes,
            )
        except OSError as exc:
            return Decision(finish="failed", error=f"validation could not run: {exc}")
        for result in results:
            data = result.event_data()
            data["kind"] = (
                "passed" if result.passed else "timed_out" if result.timed_out else "failed"
            )
            data["attempt"] = attempt
            await self.runner.emit(ev.VALIDATION_COMPLETED, data)
        if not results or results[-1].passed:
            return Decision(finish="done")
        failed = results[-1]
        failures = state.validation_failures
        if failures <= settings.max_retries:
            # Backoff before each retry: a flaky check (a port still in use, a slow
            # service) gets a moment; retry_backoff_s * 2**n for the n-th retry.
            await asyncio.sleep(settings.retry_backoff_s * 2 ** (failures - 1))
            return Decision(retry=failure_feedback(failed, settings.max_retries - failures))
        how = "timed out" if failed.timed_out else f"exited with code {failed.exit_code}"
        retries = "retry" if settings.max_retries == 1 else "retries"
        return Decision(
            finish="failed",
            error=f"validation failed after {settings.max_retries} {retries}: "
            f"`{failed.command}` {how}",
        )

    async def end(self, decision: Decision) -> None:
        if decision.finish is not None:
            await self.finish(status=decision.finish, reason=decision.finish, error=decision.error)
        elif not self.engine.tasks.running_for(self.session_id):
            self._release()  # paused: the worktree stays, the slot goes to the next one
        # else a background task runs on in the worktree: it keeps the slot

    # -- the end -------------------------------------------------------------------

    async def finish(
        self,
        *,
        status: str | None,
        reason: str,
        error: str | None = None,
        remove: bool | None = None,
    ) -> None:
        """Commit what is left in the worktree, record what the branch changed, remove
        the worktree (as [git] cleanup says, or `remove`), set the final `status`
        (None keeps it) and give back the slot. Runs once; later calls wait for it."""
        if self._finishing is None:
            self._finishing = asyncio.ensure_future(self._finish(status, reason, error, remove))
        await asyncio.shield(self._finishing)

    async def _finish(
        self, status: str | None, reason: str, error: str | None, remove: bool | None
    ) -> None:
        try:
            record = self.record
            if record.created and not record.removed:
                problem = await self._wrap_up(
                    reason, error, record.cleanup if remove is None else remove
                )
                if problem is not None and status is not None:
                    status = "failed"
                    error = f"{error}; {problem}" if error else problem
            elif not record.created:
                await self._remove_half_made()
            if status is not None:
                await self._set_status(status, error)
        finally:
            self._release()

    async def _wrap_up(self, reason: str, error: str | None, remove: bool) -> str | None:
        """Commit, summarise, remove. Returns None, or what went wrong: the worktree is
        then kept, so nothing is lost. `error` is why the session ended, for the WIP
        commit's message."""
        record = self.record
        path = Path(record.path)
        project = self.manager.project
        commit = None
        try:
            if path.is_dir():
                commit = await commit_all(path, self._commit_message(reason, error))
            summary = await diff_summary(project, record.base_commit or record.base, record.branch)
        except GitError as exc:
            return (
                f"the session's work could not be committed ({exc}); its worktree is kept at {path}"
            )
        if not record.committed or commit is not None:
            await self.runner.emit(
                ev.WORKTREE_COMMITTED,
                {
                    "path": record.path,
                    "branch": record.branch,
                    "base": record.base,
                    "base_commit": record.base_commit,
                    "commit": commit,
                    "files": summary.files,
                    "insertions": summary.insertions,
                    "deletions": summary.deletions,
                    "paths": list(summary.paths[:MAX_LISTED_PATHS]),
                },
            )
        if not remove:
            return None
        try:
            await remove_worktree(project, path)
        except GitError as exc:
            return f"its worktree could not be removed: {exc}"
        await self.runner.emit(
            ev.WORKTREE_REMOVED,
            {
                "path": record.path,
                "branch": record.branch,
                "base": record.base,
                "commit": self.record.commit,
                "files": summary.files,
                "insertions": summary.insertions,
                "deletions": summary.deletions,
                "reason": reason,
            },
        )
        return None

    def _commit_message(self, reason: str, error: str | None) -> str:
        """A finished agent's own summary, first line as the subject; otherwise a WIP
        commit that says why the session stopped. The session id goes in a trailer, so
        `git log` leads back to the log."""
        state = self.state
        text = state.final_text.strip()
        trailer = f"Harness-Session: {self.session_id}"
        if reason == "done" and text:
            subject, _, body = text.partition("\n")
            lines = [subject.strip(), ""]
            if body.strip():
                lines += [body.strip(), ""]
            lines.append(trailer)
            return "\n".join(lines)
        lines = [f"WIP ({reason}): {state.title or 'harness-tui session'}", ""]
        if error:
            lines += [error, ""]
        if text:
            lines += [text, ""]
        lines.append(trailer)
        return "\n".join(lines)

    async def _remove_half_made(self) -> None:
        """A crash or cancel during `git worktree add` can leave it registered without
        worktree.created in the log: remove it, so no worktree is orphaned."""
        path = Path(self.record.path)
        if self._creating is not None:
            with contextlib.suppress(Exception):
                await self._creating
        if path.exists() or path.resolve() in await self.manager._registered():
            with contextlib.suppress(GitError):
                await remove_worktree(self.manager.project, path)

    async def _set_status(self, status: str, error: str | None) -> None:
        if error and (self.state.status != status or self.state.last_error != error):
            await self.runner.emit(ev.SESSION_STATUS, {"status": status, "error": error})
        else:
            await self.runner.set_status(status)

    def _release(self) -> None:
        if self.ticket is not None:
            self.manager.release(self.session_id)
            self.ticket = None

    # -- stopped from outside ------------------------------------------------------

    async def cancelled(self) -> None:
        """After the runner stopped on a cancel: leave the queue, or commit the partial
        work as WIP on the branch and remove the worktree."""
        if self._finishing is not None:
            await asyncio.shield(self._finishing)
            return
        if self._creating is not None and not self._creating.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._creating)
        if (
            self._creating is not None
            and self._creating.done()
            and not self._creating.cancelled()
            and self._creating.exception() is None
            and not self.record.created
        ):
            await self._record_created(self._creating.result())  # made, then cancelled
        if self.ended:
            self._release()
            return
        await self.finish(status="cancelled", reason="cancelled")

    async def on_close(self) -> None:
        if not self._ran:
            return
        if self.runner.detached or (self.record.present and self.state.status == "idle"):
            self._release()  # paused: the worktree waits for an answer or more input
            return
        await self.cancelled()

    async def recover(self) -> None:
        """Finish a session a dead process left: commit its work, remove its worktree,
        and mark it failed with the reason."""
        record = self.record
        if record.created:
            error = f"{INTERRUPTED}; its work so far is committed on branch {record.branch}"
        else:
            error = f"{INTERRUPTED} before its worktree was ready"
        # A session that had ended done or cancelled keeps that; any other is failed,
        # with the reason that also says where its work is.
        status = None if self.state.status in ("done", "cancelled") else "failed"
        await self.finish(status=status, reason="interrupted", error=error)
