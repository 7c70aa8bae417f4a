"""The queue of submitted sessions (`harness-tui submit`), kept in the store beside the
events (migration 5), so every worker sharing the store takes from the same queue.

A submitted session is a row: its prompt, project, priority and how to run it, with a
state that only moves forward: `queued` (waiting for a worker), `claimed` (a worker
took it: it runs, or is orphaned while its lease is expired or released, and the next
worker that claims adopts it), `done` (it ran to the end of its prompt).

Claiming is one transaction serialised with every other write to the store: it adopts
an orphan first (which holds its slot already), else counts the claimed rows, all
projects together and per project, and takes the queued row that comes first (highest
priority, then oldest) whose limits leave room, taking its lease in the same
transaction. So two workers never claim the same row, and the limits hold across every
worker on the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness_tui.store.control import Lease

QUEUED = "queued"
CLAIMED = "claimed"
DONE = "done"
QUEUE_STATES = (QUEUED, CLAIMED, DONE)


@dataclass(frozen=True, slots=True)
class QueuedSession:
    """One submitted session, as the queue has it."""

    session_id: str
    prompt: str
    # The project folder, as scheduling spells it (`engine.scheduler.project_key`).
    project: str
    priority: int
    provider: str | None = None
    model: str | None = None
    # None: the project's [git] worktree decides.
    worktree: bool | None = None
    # None: the worker's [policy] approval_mode and [sandbox] mode.
    approval_mode: str | None = None
    sandbox_mode: str | None = None
    # user@host of whoever submitted it.
    submitted_by: str = ""
    submitted_at: datetime | None = None
    state: str = QUEUED
    # The owner id (engine) of the worker that claimed it last.
    worker: str | None = None
    # The order it was submitted in, across the store.
    number: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "prompt": self.prompt,
            "project": self.project,
            "priority": self.priority,
            "provider": self.provider,
            "model": self.model,
            "worktree": self.worktree,
            "approval_mode": self.approval_mode,
            "sandbox_mode": self.sandbox_mode,
            "submitted_by": self.submitted_by,
            "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
            "state": self.state,
            "worker": self.worker,
        }


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """How many claimed sessions may run at once: `total` across every project, and
    per project (`projects` by project key, else `per_project`). 0: no limit."""

    total: int = 0
    per_project: int = 0
    projects: dict[str, int] = field(default_factory=dict)

    def of(self, project: str) -> int:
        return self.projects.get(project, self.per_project)


@dataclass(frozen=True, slots=True)
class Claim:
    """What a worker got from the queue: the session, the lease the claim took for it,
    and whether it was an orphan adopted (its run was cut short elsewhere)."""

    session: QueuedSession
    lease: Lease
    adopted: bool


def pick(
    queued: list[QueuedSession], running: dict[str, int], limits: QueueLimits
) -> QueuedSession | None:
    """The first of `queued` (in claiming order) whose limits leave room, given the
    claimed sessions per project; None when none may start. A project at its limit
    does not hold up the projects behind it: only the total limit is shared."""
    if limits.total and sum(running.values()) >= limits.total:
        return None
    for entry in queued:
        limit = limits.of(entry.project)
        if not limit or running.get(entry.project, 0) < limit:
            return entry
    return None
