"""Start-up recovery: cleaning up after processes that died.

Their background tasks are recorded as cancelled (process_exited) and whatever they
left running is stopped; a turn they left open is closed, each unfinished tool call
recorded as interrupted. A turn waiting for an approval stays open: it can still be
answered. A worktree session they left (queued, running, or half-way through its end)
is failed with the reason, its work committed on its branch and its worktree removed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from harness_tui import events as ev
from harness_tui.engine.errors import SessionBusy
from harness_tui.engine.loop import SessionLoop
from harness_tui.engine.owner import owner_alive
from harness_tui.engine.session import SessionState
from harness_tui.engine.tasks import kill_orphaned_group
from harness_tui.engine.worktree_sessions import WorktreeSessions
from harness_tui.store import EventStore


async def recover_interrupted(
    store: EventStore,
    worktrees: WorktreeSessions,
    load_state: Callable[[str], Awaitable[SessionState]],
    attach: Callable[[SessionState], SessionLoop],
) -> None:
    """`attach` has the engine take a session over from the log."""
    summaries = await store.sessions()
    candidates = [s.session_id for s in summaries if s.status in ("running", "waiting", "queued")]
    # A worktree folder left behind points at its session whatever its status says.
    leftovers = worktrees.leftover_session_ids() - set(candidates)
    candidates += [s.session_id for s in summaries if s.session_id in leftovers]
    for session_id in candidates:
        try:
            await _recover(session_id, worktrees, load_state, attach)
        except SessionBusy:
            continue  # another process took the session over meanwhile: it is theirs


async def _recover(
    session_id: str,
    worktrees: WorktreeSessions,
    load_state: Callable[[str], Awaitable[SessionState]],
    attach: Callable[[SessionState], SessionLoop],
) -> None:
    state = await load_state(session_id)
    orphans = [task for task in state.running_tasks if not owner_alive(task.owner)]
    turn_orphaned = state.turn_active and not owner_alive(state.turn_owner)
    # A turn waiting for an approval stays open: it can still be answered.
    close_turn = turn_orphaned and not state.approvals
    stranded = worktrees.stranded(state)
    if not orphans and not close_turn and not stranded:
        return
    loop = attach(state)
    for task in orphans:
        kill_orphaned_group(task.started)
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
    if stranded and loop.worktree is not None:
        await loop.worktree.recover()
