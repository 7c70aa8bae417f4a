"""Start-up recovery: cleaning up after processes that died.

Every command they left running is stopped (inline tool calls, background tasks and
validation commands, each with its whole process group, as the log recorded it); their
background tasks are recorded as cancelled (process_exited); a turn they left open is
closed, each unfinished tool call recorded as interrupted. A turn waiting for an
approval stays open: it can still be answered. A worktree session they left (queued,
running, or half-way through its end) is failed with the reason, its work committed on
its branch and its worktree removed.

Recovering a session needs no model provider, so it works whatever keys this process
has. One session that cannot be recovered never stops the others, or the engine: what
failed is recorded on that session (`recovery.failed`) and returned to the caller. A
store that takes no writes at all (full, gone past its retries, deleted) does stop it:
the engine could not run anything on it either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness_tui import events as ev
from harness_tui.backends.external import ExternalSession
from harness_tui.engine.errors import SessionBusy
from harness_tui.engine.leases import LeaseKeeper
from harness_tui.engine.loop import SessionLoop
from harness_tui.engine.owner import owner_alive
from harness_tui.engine.processes import kill_recorded_group
from harness_tui.engine.session import SessionState
from harness_tui.engine.worktree_lifecycle import WorktreeSession
from harness_tui.engine.worktree_sessions import WorktreeSessions
from harness_tui.store import EventStore, StoreLostError, StoreUnavailableError


@dataclass(frozen=True, slots=True)
class RecoveryFailure:
    """A session recovery could not finish, and why."""

    session_id: str
    error: str


async def recover_interrupted(
    store: EventStore,
    worktrees: WorktreeSessions,
    load_state: Callable[[str], Awaitable[SessionState]],
    attach: Callable[[SessionState], SessionLoop | ExternalSession],
    record_failure: Callable[[str, str], Awaitable[None]],
    leases: LeaseKeeper,
) -> list[RecoveryFailure]:
    """`attach` has the engine take a session over from the log (without a provider:
    recovery asks no model anything); `record_failure(session_id, error)` puts on the
    session's record that it could not be recovered. Returns the sessions that could
    not be, each left as it was for a later recovery."""
    # The live summaries only: however long the log, start-up reads what may need
    # recovering, not every session there ever was.
    summaries = await store.sessions(live=True)
    candidates = [s.session_id for s in summaries if s.status in ("running", "waiting", "queued")]
    # A worktree folder left behind points at its session whatever its status says.
    for session_id in sorted(worktrees.leftover_session_ids() - set(candidates)):
        if await store.session(session_id) is not None:
            candidates.append(session_id)
    failures: list[RecoveryFailure] = []
    for session_id in candidates:
        try:
            await _recover(session_id, worktrees, load_state, attach, leases)
        except SessionBusy:
            continue  # another process took the session over meanwhile: it is theirs
        except (StoreUnavailableError, StoreLostError):
            # The store takes no writes at all (a full disk, a server gone past the
            # retries, its file deleted): not one session's trouble but the engine's,
            # which cannot run a session either. Raised, it is the one line shown.
            raise
        except Exception as exc:  # one session's trouble is that session's, not the engine's
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            failures.append(RecoveryFailure(session_id, error))
            try:
                await record_failure(session_id, error)
            except Exception:
                pass  # the store refuses even that: the caller still reports it
    return failures


async def _recover(
    session_id: str,
    worktrees: WorktreeSessions,
    load_state: Callable[[str], Awaitable[SessionState]],
    attach: Callable[[SessionState], SessionLoop | ExternalSession],
    leases: LeaseKeeper,
) -> None:
    state = await load_state(session_id)
    if not _left_behind(state, worktrees):
        return
    # Adopting the session is taking its lease, in one conditional write: of engines
    # recovering at once, one does and the others find it held (SessionBusy). Then
    # the log is read again, as it is now that nobody else can write it.
    lease = await leases.acquire(session_id)
    state = await load_state(session_id)
    state.lease = lease
    # Commands first, before anything is written about them: a dead process's command
    # must not run on while its call is recorded as interrupted.
    for data in state.processes.values():
        if not owner_alive(data.get("owner"), lease):
            kill_recorded_group(data)
    orphans = [task for task in state.running_tasks if not owner_alive(task.owner, lease)]
    for task in orphans:
        kill_recorded_group(task.started)
    turn_orphaned = state.turn_active and not owner_alive(state.turn_owner, lease)
    # A turn waiting for an approval stays open: it can still be answered.
    close_turn = turn_orphaned and not state.approvals
    stranded = worktrees.stranded(state)
    if not orphans and not close_turn and not stranded:
        await leases.release(session_id)
        return
    loop = attach(state)
    for task in orphans:
        await loop.host.emit(
            ev.TASK_CANCELLED,
            {
                "task_id": task.task_id,
                "reason": "process_exited",
                "summary": "the process running it exited",
            },
        )
    if close_turn:
        await loop.close_interrupted()
    elif not state.turn_active:
        await loop.settle()
    if stranded and isinstance(loop.worktree, WorktreeSession):
        await loop.worktree.recover()


def _left_behind(state: SessionState, worktrees: WorktreeSessions) -> bool:
    """Whether a dead owner left anything of the session to recover, as the log and
    the lease last read say (the adopter decides again once it holds the lease)."""
    lease = state.lease
    if any(not owner_alive(task.owner, lease) for task in state.running_tasks):
        return True
    if any(not owner_alive(data.get("owner"), lease) for data in state.processes.values()):
        return True
    if state.turn_active and not owner_alive(state.turn_owner, lease) and not state.approvals:
        return True
    return worktrees.stranded(state)
