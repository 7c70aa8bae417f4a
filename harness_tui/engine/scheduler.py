"""Admission for worktree sessions: a global limit, per-project limits, priorities and a
bounded queue. Pure asyncio bookkeeping; it neither runs git nor starts sessions.

A session asks for a slot with `submit()` and awaits `Ticket.wait()`; it gives the slot
back with `release()`. Waiting tickets start in priority order (higher first), oldest
first within a priority. A ticket whose project is at its limit does not hold up tickets
of other projects behind it: the global limit is the only thing all projects share.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness_tui.config import Config

__all__ = ["QueueFull", "Ticket", "WorktreeScheduler", "project_key"]


class QueueFull(Exception):
    """The queue is at its cap; the session was not queued."""


def project_key(project: str | Path) -> str:
    """One spelling per project folder, so that limits set for `~/src/app` apply to a
    session started from `/home/me/src/app/`."""
    return str(Path(project).expanduser().resolve())


class Ticket:
    """One session's claim on a slot. `granted` turns true when it may start."""

    def __init__(
        self, scheduler: WorktreeScheduler, session_id: str, project: str, priority: int, seq: int
    ) -> None:
        self.session_id = session_id
        self.project = project
        self.priority = priority
        self.seq = seq
        self._scheduler = scheduler
        self._granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def granted(self) -> bool:
        return self._granted.done() and not self._granted.cancelled()

    @property
    def position(self) -> int | None:
        """1-based place in the queue; None once granted or withdrawn."""
        return self._scheduler.position(self.session_id)

    def _order(self) -> tuple[int, int]:
        return (-self.priority, self.seq)

    async def wait(self) -> None:
        """Return once the session holds a slot. Raises CancelledError if the ticket is
        withdrawn (`release()` while it waits). If the waiting task is cancelled, the
        ticket leaves the queue, or gives back the slot it was granted meanwhile."""
        try:
            await asyncio.shield(self._granted)
        except asyncio.CancelledError:
            self._scheduler.release(self.session_id)
            raise

    def __repr__(self) -> str:
        state = "granted" if self.granted else f"queued at {self.position}"
        return f"Ticket({self.session_id!r}, {self.project!r}, priority={self.priority}, {state})"


class WorktreeScheduler:
    """Slots for worktree sessions.

    `global_limit`: sessions holding a slot at once, all projects together.
    `per_project`: the limit of a project `project_limits` does not name.
    `project_limits` / `project_priorities`: by `project_key()`; a priority is what
    `submit()` uses when it is given none.
    `queue_cap`: tickets that may wait at once; 0 means a session starts or is refused.
    """

    def __init__(
        self,
        *,
        global_limit: int,
        per_project: int,
        queue_cap: int,
        project_limits: Mapping[str, int] | None = None,
        project_priorities: Mapping[str, int] | None = None,
    ) -> None:
        if global_limit < 1 or per_project < 1 or queue_cap < 0:
            raise ValueError("limits must be at least 1 and the queue cap at least 0")
        self.global_limit = global_limit
        self.per_project = per_project
        self.queue_cap = queue_cap
        self.project_limits = {project_key(k): v for k, v in (project_limits or {}).items()}
        self.project_priorities = {project_key(k): v for k, v in (project_priorities or {}).items()}
        self._seq = itertools.count()
        self._waiting: list[Ticket] = []  # kept in start order
        self._running: dict[str, Ticket] = {}
        self._per_project_running: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: Config) -> WorktreeScheduler:
        """Limits from `[concurrency]`, per-project limits and priorities from
        `[[projects]]` (a `max_concurrent` of 0 there means `per_project`)."""
        limits = {p.path: p.max_concurrent for p in config.projects if p.max_concurrent}
        return cls(
            global_limit=config.concurrency.max_worktree_sessions,
            per_project=config.concurrency.per_project,
            queue_cap=config.concurrency.queue_cap,
            project_limits=limits,
            project_priorities={p.path: p.priority for p in config.projects},
        )

    # -- requests -----------------------------------------------------------------------

    def submit(self, session_id: str, project: str | Path, priority: int | None = None) -> Ticket:
        """Queue `session_id` for a slot; the returned ticket is already granted when one
        is free. `priority` defaults to the project's configured one, else 0. Raises
        QueueFull when the session would have to wait and `queue_cap` are waiting."""
        if session_id in self._running or any(t.session_id == session_id for t in self._waiting):
            raise ValueError(f"session {session_id} already has a worktree ticket")
        key = project_key(project)
        if priority is None:
            priority = self.project_priorities.get(key, 0)
        ticket = Ticket(self, session_id, key, priority, next(self._seq))
        self._insert(ticket)
        self._dispatch()
        if not ticket.granted and len(self._waiting) > self.queue_cap:
            self._waiting.remove(ticket)
            raise QueueFull(
                f"worktree queue is full: {self.queue_cap} sessions are already waiting "
                f"(concurrency.queue_cap = {self.queue_cap}); try again when one has started"
            )
        return ticket

    def release(self, session_id: str) -> None:
        """Give back the session's slot, or withdraw its waiting ticket (its `wait()`
        raises CancelledError). Unknown or already released sessions are ignored."""
        ticket = self._running.pop(session_id, None)
        if ticket is not None:
            self._per_project_running[ticket.project] -= 1
            self._dispatch()
            return
        for ticket in self._waiting:
            if ticket.session_id == session_id:
                self._waiting.remove(ticket)
                ticket._granted.cancel()
                # A waiting ticket holds no slot, so withdrawing it frees none to hand out.
                return

    # -- queries ------------------------------------------------------------------------

    def position(self, session_id: str) -> int | None:
        """1-based place in the queue (the order tickets are considered in), or None when
        the session holds a slot or has no ticket."""
        for index, ticket in enumerate(self._waiting, start=1):
            if ticket.session_id == session_id:
                return index
        return None

    def positions(self) -> dict[str, int]:
        """Every waiting session's position, for refreshing "queued (3)" displays."""
        return {ticket.session_id: i for i, ticket in enumerate(self._waiting, start=1)}

    def running(self) -> list[str]:
        """Sessions holding a slot, in the order they got it."""
        return list(self._running)

    def limit_for(self, project: str | Path) -> int:
        return self._limit(project_key(project))

    # -- internals ----------------------------------------------------------------------

    def _limit(self, key: str) -> int:
        return self.project_limits.get(key, self.per_project)

    def _insert(self, ticket: Ticket) -> None:
        order = ticket._order()
        index = next(
            (i for i, other in enumerate(self._waiting) if other._order() > order),
            len(self._waiting),
        )
        self._waiting.insert(index, ticket)

    def _dispatch(self) -> None:
        """Grant slots in queue order while the global limit allows, skipping tickets
        whose project is full."""
        for ticket in list(self._waiting):
            if len(self._running) >= self.global_limit:
                return
            running = self._per_project_running.get(ticket.project, 0)
            if running >= self._limit(ticket.project):
                continue
            self._waiting.remove(ticket)
            self._running[ticket.session_id] = ticket
            self._per_project_running[ticket.project] = running + 1
            ticket._granted.set_result(None)
