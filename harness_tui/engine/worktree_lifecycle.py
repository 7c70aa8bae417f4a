"""One worktree session's lifecycle, from its slot and its worktree to the commit of
its work and the worktree's removal (see `worktree_sessions` for the log it writes).

The session's loop calls `begin()` before running input, `after_turns()` when the input
ran out, and `end()` with the decision; the engine calls `cancelled()`, `on_close()`
and `recover()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness_tui import events as ev
from harness_tui.engine.context import EngineContext
from harness_tui.engine.owner import current_owner
from harness_tui.engine.processes import INTERRUPTED, process_record
from harness_tui.engine.scheduler import Ticket
from harness_tui.engine.session import SessionState, SessionWorktree
from harness_tui.engine.tasks import TaskManager
from harness_tui.engine.validation import failure_feedback, run_validation
from harness_tui.engine.worktree_records import registered_worktrees
from harness_tui.engine.worktrees import (
    GitError,
    WorktreeInfo,
    commit_all,
    create_worktree,
    diff_summary,
    remove_worktree,
)
from harness_tui.engine.writer import SessionWriter
from harness_tui.tools.bash import StartedCallback

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


class Slots(Protocol):
    """The engine's queue of worktree sessions waiting for a slot."""

    project: Path

    @property
    def changed(self) -> asyncio.Event:
        """Set when queue positions may have moved (a new event each time)."""
        ...

    def submit(self, session_id: str, priority: int | None) -> Ticket:
        """Raises WorktreeRefused when the queue is full."""
        ...

    def release(self, session_id: str) -> None: ...


class WorktreeSession:
    """One worktree session's lifecycle. `begin()` returning False means the input
    must not run: the loop drops it."""

    def __init__(
        self,
        ctx: EngineContext,
        slots: Slots,
        tasks: TaskManager,
        writer: SessionWriter,
        ticket: Ticket | None,
    ) -> None:
        self.ctx = ctx
        self.slots = slots
        self.tasks = tasks
        self.writer = writer
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
        return self.writer.state

    @property
    def record(self) -> SessionWorktree:
        assert self.state.worktree is not None
        return self.state.worktree

    @property
    def session_id(self) -> str:
        return self.writer.session_id

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
            return False
        self._ran = True
        if not self._holds_slot():
            try:
                if self.ticket is None:
                    self.ticket = self.slots.submit(self.session_id, self.record.priority)
            except WorktreeRefused as exc:
                # New input for a paused session, and the queue is full: the session
                # stays paused, and says why the input did not run.
                await self.writer.emit(ev.SESSION_STATUS, {"status": "idle", "error": str(exc)})
                return False
            await self._await_slot()
            if self.state.status != "running":
                await self._claim_status("running")
        if not self.record.created:
            return await self._create()
        if not Path(self.record.path).is_dir():
            # Deleted by hand while the session was paused: what was committed is on the
            # branch; the session ends, and git forgets the worktree.
            await self.finish(
                status="failed",
                reason="missing",
                error=f"the session's worktree {self.record.path} is gone; its work so far "
                f"is on branch {self.record.branch}",
            )
            return False
        return True

    async def _claim_status(self, status: str, **data: object) -> None:
        """Record the session's status as this engine's own: a paused session taken up
        again is claimed by its first write, so two processes never both run it."""
        event = {"status": status, **data, "owner": current_owner(self.ctx.engine_id)}
        await self.writer.claim(lambda state: [(ev.SESSION_STATUS, event)])

    def _holds_slot(self) -> bool:
        return self.ticket is not None and self.ticket.granted

    async def _await_slot(self) -> None:
        """Wait for the ticket, recording the queue position each time it moves."""
        ticket = self.ticket
        assert ticket is not None
        granted = asyncio.ensure_future(ticket.wait())
        try:
            while True:
                changed = self.slots.changed  # taken before reading, so no move is missed
                if granted.done():
                    break
                position = ticket.position
                if position is not None and (
                    self.state.status != "queued" or self.state.queue_position != position
                ):
                    await self._claim_status("queued", position=position)
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
            create_worktree(self.slots.project, Path(record.path), record.branch, record.base)
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
        await self.writer.emit(
            ev.WORKTREE_CREATED,
            {
                "path": str(info.path),
                "branch": info.branch,
                "base": self.record.base,
                "base_commit": info.base_commit,
                "owner": current_owner(self.ctx.engine_id),
            },
        )

    async def _fail_setup(self, error: str) -> None:
        """The session cannot run: it fails with the one-line reason; the input it was
        given never ran."""
        await self.writer.emit(ev.SESSION_STATUS, {"status": "failed", "error": error})
        self._release()

    # -- after the turns -----------------------------------------------------------

    async def after_turns(self) -> Decision:
        """The agent has no input left. If it finished, run the validation commands in
        the worktree and decide: done, another try, or failed."""
        state = self.state
        reason = state.last_turn_reason
        if reason == "failed":
            return Decision(finish="failed", error=state.last_error)
        if reason != "no_tool_calls" or self.tasks.running_for(self.session_id):
            return Decision()  # paused, or a task runs on and its end wakes the agent
        settings = self.ctx.config.validation
        if not settings.commands:
            return Decision(finish="done")
        attempt = state.validation_failures + 1
        groups: list[int] = []
        # The checks run the agent's code: in the session's sandbox, as its commands did.
        sandbox = self.ctx.sandbox_for(state)
        try:
            results = await run_validation(
                settings.commands,
                Path(self.record.path),
                sandbox.env,
                settings.timeout_s,
                settings.output_tail_bytes,
                on_started=self._validation_started(groups),
                sandbox=sandbox,
            )
        except OSError as exc:
            return Decision(finish="failed", error=f"validation could not run: {exc}")
        finally:
            for pgid in groups:
                self.ctx.live_groups.discard(pgid)
        for result in results:
            data = result.event_data()
            data["kind"] = (
                "passed" if result.passed else "timed_out" if result.timed_out else "failed"
            )
            data["attempt"] = attempt
            await self.writer.emit(ev.VALIDATION_COMPLETED, data)
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

    def _validation_started(self, groups: list[int]) -> Callable[[str], StartedCallback]:
        def hook(command: str) -> StartedCallback:
            async def record(pgid: int) -> None:
                # The command is held until this is committed: a crash cannot leave it
                # running in a worktree that recovery removes.
                groups.append(pgid)
                self.ctx.live_groups.add(pgid)
                data = {"command": command, **process_record(self.ctx.engine_id, pgid)}
                await self.writer.emit(ev.VALIDATION_STARTED, data)

            return record

        return hook

    async def end(self, decision: Decision) -> None:
        if decision.finish is not None:
            await self.finish(status=decision.finish, reason=decision.finish, error=decision.error)
        elif not self.tasks.running_for(self.session_id):
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
        project = self.slots.project
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
            await self.writer.emit(
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
        await self.writer.emit(
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
        if path.exists() or path.resolve() in await registered_worktrees(self.slots.project):
            with contextlib.suppress(GitError):
                await remove_worktree(self.slots.project, path)

    async def _set_status(self, status: str, error: str | None) -> None:
        if error and (self.state.status != status or self.state.last_error != error):
            await self.writer.emit(ev.SESSION_STATUS, {"status": status, "error": error})
        else:
            await self.writer.set_status(status)

    def _release(self) -> None:
        if self.ticket is not None:
            self.slots.release(self.session_id)
            self.ticket = None

    # -- stopped from outside ------------------------------------------------------

    async def cancelled(self) -> None:
        """After the loop stopped on a cancel: leave the queue, or commit the partial
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

    async def on_close(self, detached: bool) -> None:
        """At engine close, after the loop stopped (`detached`: leaving its turn
        waiting for an approval)."""
        if not self._ran:
            return
        if detached or (self.record.present and self.state.status == "idle"):
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
